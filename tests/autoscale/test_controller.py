"""The controller on the local stack: a burst scales the fleet out, every image is answered once, and it
shrinks back to the always-on worker; no busy worker is ever stopped."""

from __future__ import annotations

import threading
from pathlib import Path

from irs.autoscale.controller import Controller
from irs.autoscale.policy import Config
from irs.autoscale.providers.local import LocalProvider
from irs.client import collect, submit_files
from irs.fleet import autoscaler_state, reports
from irs.fleet.schemas import Booting
from tests import images
from tests.conftest import IMAGES, Worker, wait_until

CFG = Config(slots=1, service_time_s=0.12, boot_s=2, target_latency_s=6, scale_in_idle_s=15, max_instances=4)


def test_a_burst_scales_out_every_image_gets_one_result_and_the_fleet_returns_to_one(emulator, tmp_path: Path
                                                                                      ) -> None:  # type: ignore[no-untyped-def]
    provider = LocalProvider(tmp_path, boot_delay_s=2, pool="edge", idle_shutdown_s=0)
    always_on = Worker("edge-always-on", "edge", concurrency=1,
                       extra_env={"IRS_INSTANCE_ID": "local-always-on", "IRS_ALWAYS_ON": "1"})
    provider.register("local-always-on", always_on.process.pid, always_on=True)
    decisions = []
    controller = Controller(provider, CFG, pool="edge", interval_s=1, say=decisions.append)
    stop = threading.Event()
    loop = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    sizes: list[int] = []
    booting: list[Booting] = []  # what the router would have counted as on its way

    def watch() -> None:
        while not stop.wait(0.5):
            sizes.append(len(provider.hosts()))
            published = autoscaler_state.read("edge")
            if published and published.booting():
                booting.append(published.booting())  # type: ignore[arg-type]

    watcher = threading.Thread(target=watch, daemon=True)
    loop.start()
    watcher.start()
    try:
        photos = sorted(IMAGES.glob("*.jpg"))
        submitted = submit_files([photos[n % len(photos)] for n in range(160)], queue="edge")
        documents = list(collect(submitted, timeout=240))
        assert len({d["task_id"] for d in documents}) == len(submitted) == 160
        assert all(d["status"] == "ok" for d in documents)
        assert max(sizes) > 1, decisions[-5:]
        assert booting and all(b.slots >= CFG.slots for b in booting)  # published while hosts booted
        published = autoscaler_state.read("edge")
        assert published is not None and published.provider == "local"
        assert any(d.launch and d.reasons and d.causes for d in published.decisions)  # what it did, and why
        from prometheus_client import REGISTRY

        assert REGISTRY.get_sample_value("irs_autoscaler_instances", {"pool": "edge", "state": "desired"}) >= 1
        print("\n".join(decisions))
        wait_until(lambda: [h.id for h in provider.hosts()] == ["local-always-on"], 180,
                   "the fleet to shrink back to the always-on worker")
        for log in (tmp_path / "logs").glob("*.log"):
            assert "WorkerLostError" not in log.read_text(), log.name
    finally:
        stop.set()
        loop.join(10)
        provider.stop_all()
        always_on.stop()


def test_draining_a_busy_worker_lets_its_task_finish(emulator, tmp_path: Path, upload, monkeypatch
                                                     ) -> None:  # type: ignore[no-untyped-def]
    from irs.tasks import classify

    monkeypatch.setenv("IRS_MAX_IMAGE_PIXELS", "200000000")  # the host's worker inherits it
    provider = LocalProvider(tmp_path, boot_delay_s=0, pool="edge", idle_shutdown_s=0)
    (host_id,) = provider.launch(1)
    try:
        wait_until(lambda: host_id in reports.read("edge"), 60, "the host's worker")
        key = upload(images.gradient(12000, 9000, ".png"), "huge.png")  # about a second of work
        result = classify.apply_async((key,), queue="edge")
        log = tmp_path / "logs" / f"{host_id}.log"
        wait_until(lambda: f"[{result.id}] received" in log.read_text(), 30, "the task to start")
        provider.drain([host_id])
        document = result.get(timeout=60)
        wait_until(lambda: not provider.hosts(), 40, "the drained host to go")
        assert document["task_id"] == result.id and document["status"] == "ok"
        assert f"[{result.id}] succeeded" in log.read_text()
        assert "WorkerLostError" not in log.read_text() and "drained" in log.read_text()
    finally:
        provider.stop_all()


class _ProviderDown:
    """A provider whose API is unreachable: nothing here can run for real on loopback."""

    name = "down"

    def hosts(self) -> list:  # type: ignore[type-arg]
        raise OSError("connection refused")

    def launch(self, count: int, always_on: bool = False) -> list[str]:
        raise AssertionError("must not launch while blind")

    drain = terminate = launch  # type: ignore[assignment]


def test_when_the_provider_fails_the_controller_holds_steady(emulator) -> None:  # type: ignore[no-untyped-def]
    said: list[str] = []
    controller = Controller(_ProviderDown(), CFG, pool="edge", say=said.append)  # type: ignore[arg-type]
    assert controller.step() is None
    assert "holding steady" in said[-1]
