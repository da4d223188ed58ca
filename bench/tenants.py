"""Two teams on one IRS: how long the second team's single images take while the first floods the REST API, with
fair shares on and off.

    python bench/tenants.py [--json] [--flood N] [--rounds N] [--emulator moto|localstack]

On a private local stack (the emulator on loopback, a real `celery worker -c 2` serving the cloud's queue and the
later lane, and `irs web` with tokens required), one run, legs side by side:

  alone        bob sends a single image every second, with nothing else queued: latency from the POST to its
               document (a long poll on GET /api/v1/results/{id}), p50 and p95
  fair_on      ann sends N images (default 800) in requests of 20, four at a time; 5 s in, bob sends a single image
               every 2 s until ann's last is answered: bob's latency, ann's total time (first POST to her last
               document), and every answer per owner (202, 429, 503)
  fair_off     the same, with IRS_FAIRNESS=false in the web process (every request interactive, first in first out)
  three_owners fair_on, with a third owner (cid) sending N/2 images the same way from 10 s in: bob's latency, and
               each big owner's total time

The on and off legs run ``--rounds`` times each (2), alternating which goes first; the ratios are medians.
Each leg counts the images lost (accepted, never answered) and answered twice. ``admit_us`` is what the fairness
decision costs per request, in the sending process: it makes no AWS request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localstack import cpu_model, free_port, private_environment, say, wait_for_reports  # noqa: E402
from report import emit_result  # noqa: E402

PER_REQUEST, AT_ONCE, BOB_EVERY_S, BOB_AFTER_S = 20, 4, 2.0, 5.0
THIRD_AFTER_S = 10.0  # when the third owner's batch starts, in the three-owner leg
MIN_SINGLES = 5  # bob's singles in a flood leg at least, however soon ann's flood is answered


class Web:
    """`irs web` on a free port, with tokens required; answers counted per owner and status."""

    def __init__(self, stack: Any, name: str, tokens: dict[str, str], fairness: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens = tokens
        self.answers: Counter[tuple[str, int]] = Counter()
        self.lock = threading.Lock()
        env = {**os.environ, "IRS_WEB_AUTH": "true", "IRS_FAIRNESS": str(fairness).lower(),
               "IRS_WEB_MAX_UPLOADS": "8"}
        stack.start(name, [sys.executable, "-m", "irs.cli", "web", "--port", str(self.port)], env)
        stack.wait_for(name, "Application startup complete", timeout=120)
        self.client = httpx.Client(base_url=self.url, timeout=300,
                                   limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))

    def post(self, owner: str, photos: list[Path]) -> list[str]:
        """Upload ``photos`` as ``owner`` in one request, again after Retry-After when refused; the request ids."""
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
        while True:
            answer = self.client.post("/api/v1/images", files=files,
                                      headers={"Authorization": f"Bearer {self.tokens[owner]}"})
            with self.lock:
                self.answers[(owner, answer.status_code)] += 1
            if answer.status_code == 202:
                return [r["request_id"] for r in answer.json()["requests"]]
            if answer.status_code not in (429, 503):
                raise RuntimeError(f"upload answered {answer.status_code}: {answer.text[:300]}")
            time.sleep(float(answer.headers.get("Retry-After", "1")))

    def result(self, owner: str, request_id: str) -> dict[str, Any]:
        while True:
            answer = self.client.get(f"/api/v1/results/{request_id}", params={"wait": 60},
                                     headers={"Authorization": f"Bearer {self.tokens[owner]}"})
            if answer.status_code == 200:
                found: dict[str, Any] = answer.json()
                return found
            if answer.status_code != 404:
                raise RuntimeError(f"result answered {answer.status_code}: {answer.text[:300]}")

    def single(self, owner: str, photo: Path) -> tuple[float, str, float]:
        """One image sent and waited for: seconds from the POST to its document, its request id, and the seconds
        the POST itself took (the upload, before it is queued)."""
        began = time.perf_counter()
        request_id = self.post(owner, [photo])[0]
        posted = time.perf_counter() - began
        self.result(owner, request_id)
        return time.perf_counter() - began, request_id, posted

    def per_owner(self) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for (owner, status), count in sorted(self.answers.items()):
            found.setdefault(owner, {})[str(status)] = count
        return found


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"n": len(ordered), "p50_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "max_s": round(ordered[-1], 3)}


def alone_leg(web: Web, photo: Path, count: int) -> dict[str, Any]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        times.append(web.single("bob", photo)[0])
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))
    return percentiles(times)


def big_batch(web: Web, owner: str, photos: list[Path], count: int, after_s: float = 0.0
              ) -> tuple[list[str], float]:
    """``owner`` sends ``count`` images in requests of 20, four at a time, after ``after_s``; its request ids and
    the seconds from its first POST to its last answer."""
    time.sleep(after_s)
    batches = [[photos[(n + k) % len(photos)] for k in range(PER_REQUEST)] for n in range(0, count, PER_REQUEST)]
    began = time.perf_counter()
    with ThreadPoolExecutor(AT_ONCE) as pool:
        ids = [i for found in pool.map(lambda batch: web.post(owner, batch), batches) for i in found]
    say(f"  {owner}: {len(ids)} sent in {time.perf_counter() - began:.1f} s")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda request_id: web.result(owner, request_id), ids))
    return ids, time.perf_counter() - began


def flood_leg(web: Web, photos: list[Path], single: Path, flood: int, third: int = 0
              ) -> tuple[dict[str, Any], list[str]]:
    """ann's flood with bob's singles beside it (and, with ``third``, cid's batch of that many from 10 s in);
    returns the measures and every request id sent."""
    web.answers.clear()
    ann_done = threading.Event()
    bob_times: list[tuple[float, str, float]] = []

    def bob() -> None:
        time.sleep(BOB_AFTER_S)
        with ThreadPoolExecutor(32) as pool:
            futures: list[Future[tuple[float, str, float]]] = []
            while not ann_done.is_set() or len(futures) < MIN_SINGLES:
                futures.append(pool.submit(web.single, "bob", single))
                ann_done.wait(BOB_EVERY_S)
            bob_times.extend(f.result() for f in futures)

    second = threading.Thread(target=bob)
    second.start()
    with ThreadPoolExecutor(1) as other:
        cid = other.submit(big_batch, web, "cid", photos, third, THIRD_AFTER_S) if third else None
        ann_ids, ann_total = big_batch(web, "ann", photos, flood)
        ann_done.set()
        cid_ids, cid_total = cid.result() if cid else ([], 0.0)
    second.join()
    say(f"  ann: all answered in {ann_total:.1f} s; bob: {len(bob_times)} singles")
    found = {"ann_images": len(ann_ids), "ann_total_s": round(ann_total, 2),
             "bob": percentiles([t for t, _, _ in bob_times]),
             "bob_post": percentiles([p for _, _, p in bob_times]), "answers": web.per_owner()}
    if third:
        found.update({"cid_images": len(cid_ids), "cid_total_s": round(cid_total, 2)})
    return found, ann_ids + cid_ids + [i for _, i, _ in bob_times]


def accounted(request_ids: list[str]) -> dict[str, int]:
    """Of ``request_ids``: how many have no document (lost), and how many images have more than one (twice)."""
    from irs.aws import documents
    from irs.results import image_key_of, result_key
    from irs.settings import get_settings

    prefix = get_settings().results_prefix
    keys = {key for key, _ in documents.listing(f"{prefix}uploads/web/")}
    per_image = Counter(key.removeprefix(prefix).rsplit("/", 1)[0] for key in keys)
    lost = sum(result_key(i) not in keys for i in request_ids)
    twice = sum(per_image[image_key_of(i) or ""] > 1 for i in request_ids)
    return {"lost": lost, "answered_twice": twice}


def admit_cost_us() -> float:
    from irs.routing.fairness import Share, Shares

    shares, rounds = Shares(Share(20, 2.0)), 100_000
    began = time.perf_counter()
    for n in range(rounds):
        shares.admit(f"owner-{n % 50}", time.monotonic())
    return round((time.perf_counter() - began) / rounds * 1e6, 2)


def run(flood: int, singles: int, rounds: int) -> dict[str, Any]:
    from irs.aws.provision import provision
    from irs.local.stack import Stack, start_emulator
    from irs.pools import CLOUD, served_by
    from irs.settings import get_settings
    from irs.worker.command import argv as worker_argv
    from webapp import tokens

    settings = get_settings()
    photos = sorted(Path(os.environ["IRS_DEMO_IMAGES"]).glob("*.jpg"))
    single = next(p for p in photos if p.name == "giraffe.jpg")
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cpus",
                              "model": settings.model, "emulator": settings.emulator, "flood": flood,
                              "fair_burst": settings.fair_burst, "fair_rate": settings.fair_rate,
                              "admit_us": admit_cost_us()}
    stack = Stack(Path(tempfile.mkdtemp(prefix="irs-bench-tenants-")), say=say)
    try:
        start_emulator(stack, settings.endpoint_url or "", dict(os.environ))
        provision(settings, say=lambda _: None)
        people = {name: tokens.create(name) for name in ("ann", "bob", "cid")}
        stack.start("worker", worker_argv(served_by(CLOUD), 2, "cloud"), dict(os.environ))
        stack.wait_for("worker", "ready.")
        wait_for_reports({CLOUD})
        # The two legs alternate (on, off, then off, on, ...) so that drift on a shared machine favours neither.
        pairs = [(("fair_on", True), ("fair_off", False))[:: 1 if n % 2 == 0 else -1] for n in range(rounds)]
        legs = [(leg, fairness, 0) for pair in pairs for leg, fairness in pair] + [("three_owners", True, flood // 2)]
        for n, (leg, fairness, third) in enumerate(legs):
            web = Web(stack, f"web-{n}-{leg}", people, fairness)
            if "alone" not in result:
                say(f"alone: {singles} singles from bob, one a second")
                result["alone"] = alone_leg(web, single, singles)
            say(f"{leg}: {flood} images from ann, bob's singles beside them" + (f", {third} from cid" if third else ""))
            found, ids = flood_leg(web, photos, single, flood, third)
            result.setdefault(leg, []).append({**found, **accounted(ids)})
            stack.stop(f"web-{n}-{leg}")
        for leg in ("fair_on", "fair_off", "three_owners"):
            result[f"{leg}_bob_p50_over_alone"] = round(statistics.median(
                found["bob"]["p50_s"] for found in result[leg]) / result["alone"]["p50_s"], 2)
        result["ann_total_on_over_off"] = round(statistics.median(
            on["ann_total_s"] / off["ann_total_s"] for on, off in zip(result["fair_on"], result["fair_off"],
                                                                       strict=True)), 3)
    finally:
        stack.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--flood", type=int, default=800, help="images the first owner sends")
    parser.add_argument("--singles", type=int, default=20, help="bob's single images in the alone leg")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of the fairness on and off legs (medians)")
    parser.add_argument("--emulator", choices=["moto", "localstack"], default="moto",
                        help="the AWS emulator (moto is the local stack's)")
    args = parser.parse_args()
    with private_environment(IRS_EMULATOR=args.emulator, IRS_MONITORING="false"):
        result = run(args.flood, args.singles, args.rounds)
    emit_result(result, args.json, "tenants")


if __name__ == "__main__":
    main()
