"""The Raspberry Pi path on ARM binaries: the installer, the worker and the camera watcher in an arm64 Debian
root, run by qemu's user-mode emulation, and every built-in model's answers there against x86's.

The root is built with debootstrap for arm64 (Bookworm, as Raspberry Pi OS 64-bit is) and cached as a tarball
under ``.irs/`` between runs; ``edge/install.sh`` runs inside it as on a Pi, so every dependency is an aarch64
wheel from the hashed lock. The emulator, on loopback outside the root, is the Pi's AWS. Registering qemu's
handler with binfmt_misc needs root, as debootstrap does: where it cannot be done the tests are skipped with the
reason. Emulation runs a Pi's instructions, not at a Pi's pace: nothing here is a Pi's speed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from irs.inference.registry import REGISTRY, find_dir
from irs.pools import EDGE
from irs.settings import Settings
from irs.tasks import classify
from tests.conftest import ARTIFACTS, IMAGES, MODELS, ROOT, Worker
from tests.helpers.roots import MIRROR, edge_worker, in_root, model_mirror, mounted, run_logged, wheel

pytestmark = [pytest.mark.installers, pytest.mark.arm64, pytest.mark.timeout(3600)]
CACHE = ROOT / ".irs" / "debian-bookworm-arm64.tar"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
HANDLER = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")  # from Debian's qemu-user-static
MODEL = "yolo-fastest-1.1"
DEVICE = "pi-on-arm"
LOG = ARTIFACTS / "pi-on-arm.log"
#: The built-in models named (argv[2:]) on every sample photo (in argv[1]), as a worker decodes and recognises
#: them; one JSON line out.
ANSWERS = """if True:
    import json, sys
    from pathlib import Path
    from irs.inference.imaging import decode
    from irs.inference.recognition import load
    from irs.settings import get_settings
    settings, found, runtimes = get_settings(), {}, set()
    for name in sys.argv[2:]:
        recognizer = load(name)
        runtimes.add(recognizer.model_info["runtime"])
        for photo in sorted(Path(sys.argv[1]).glob("*.jpg")):
            pixels, info = decode(photo.read_bytes(), settings.max_image_bytes, settings.max_image_pixels,
                                  min_side=recognizer.input_size)
            found[f"{name} {photo.name}"] = [d.as_dict() for d in recognizer(pixels, size=(info.width, info.height))]
    print(json.dumps({"runtimes": sorted(runtimes), "answers": found}))
"""


def why_not_arm64() -> str | None:
    """Why this machine cannot run arm64 binaries, or None; registers qemu's handler where it may."""
    if os.geteuid() != 0:
        return "it needs root (debootstrap, chroot, binfmt_misc)"
    if not shutil.which("debootstrap") or not HANDLER.exists():
        return "debootstrap and qemu-user-static are missing (make test installs them)"
    if not (BINFMT / "qemu-aarch64").exists():
        try:
            if not (BINFMT / "register").exists():
                subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True,
                               capture_output=True)
            (BINFMT / "register").write_text(HANDLER.read_text().strip())
        except (OSError, subprocess.CalledProcessError) as error:
            return f"qemu's aarch64 handler cannot be registered with binfmt_misc ({error})"
    return None


@pytest.fixture(scope="module")
def arm64(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Debian Bookworm root for arm64, from the cache or built, with the checkout's wheel and installers."""
    why = why_not_arm64()
    if why:
        pytest.skip(f"arm64 binaries cannot run here: {why}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    LOG.write_text("")
    root = tmp_path_factory.mktemp("arm64") / "root"
    root.mkdir()
    if not CACHE.exists():
        run_logged(["debootstrap", "--arch=arm64", "--variant=minbase", "--include=systemd", "bookworm", str(root),
                    MIRROR], LOG)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        run_logged(["tar", "-C", str(root), "-cf", f"{CACHE}.part", "."], LOG)
        os.replace(f"{CACHE}.part", CACHE)
    else:
        run_logged(["tar", "-C", str(root), "-xf", str(CACHE)], LOG)
    machine = subprocess.run(["chroot", str(root), "uname", "-m"], capture_output=True, text=True, check=True)
    assert machine.stdout.strip() == "aarch64"
    with mounted(root, LOG):
        shutil.copytree(MODELS, root / "src" / "models", dirs_exist_ok=True)
        shutil.copytree(IMAGES, root / "src" / "images", dirs_exist_ok=True)
        yield root


@pytest.fixture(scope="module")
def pi(arm64: Path) -> Path:
    """The Pi installer, run end to end on arm64 binaries."""
    with model_mirror() as mirror:
        in_root(arm64, "/src/edge/install.sh", LOG, 3000, IRS_MODEL=MODEL, IRS_MODEL_URL_BASE=f"{mirror}/{MODEL}",
                **wheel(arm64))
    return arm64


def _in_venv(root: Path, *argv: str, timeout: float, **env: str) -> str:
    """A command of the root's IRS venv, as user irs, with nothing of this machine's environment."""
    command = ["chroot", "--userspec=irs:irs", str(root), "/usr/bin/env", "-i", "HOME=/var/lib/irs",
               "PATH=/usr/bin:/bin", *(f"{k}={v}" for k, v in env.items()), "/opt/irs/.venv/bin/python", *argv]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_installed_venv_holds_aarch64_binaries_from_the_lock(pi: Path) -> None:
    packages = ("numpy", "onnxruntime", "opencv-python-headless")
    found = json.loads(_in_venv(pi, "-c", "import json, platform, sys, numpy, onnxruntime, cv2\n"
                                "from importlib.metadata import version\n"
                                "print(json.dumps([platform.machine(), *map(version, sys.argv[1:])]))", *packages,
                                timeout=600))
    lock = (ROOT / "deploy" / "requirements.lock").read_text()
    assert found[0] == "aarch64"  # the binaries loaded are ARM's
    for package, version in zip(packages, found[1:], strict=True):
        assert f"\n{package}=={version} " in lock, (package, version)


def test_the_units_commands_serve_the_device_queue_the_edge_queue_and_the_watcher_as_user_irs(
        pi: Path, cloud_worker: Worker, upload: Any, photo: Any) -> None:
    with edge_worker(pi, DEVICE, ARTIFACTS / "pi-on-arm-worker.log", ready_s=900) as worker:
        # Named: the Pi holds only its lighter model, and a request names the deployment's otherwise.
        shared_work = classify.apply_async((upload(photo("dog.jpg"), "dog.jpg"), MODEL), queue=EDGE).get(timeout=600)
        assert shared_work["status"] == "ok" and "dog" in shared_work["summary"] and shared_work["pool"] == EDGE
        log = worker.log.read_text()
        assert shared_work["task_id"] in log and "aarch64" in log  # served in the root
        shutil.copy(IMAGES / "horses.jpg", worker.camera / "horses.jpg")
        own = _on_device_queue(f"uploads/devices/{DEVICE}/horses.jpg")
        assert own["status"] == "ok" and "horse" in own["summary"] and own["source"].endswith(f"on device {DEVICE}")
        (worker.camera / "horses.jpg").unlink()
        document = worker.watch_once(IMAGES / "eagle.jpg", timeout=900)
        assert document["status"] == "ok" and "bird" in document["summary"]


def _on_device_queue(image_key: str) -> dict[str, Any]:
    """A request sent to the device's own queue, as a process that knows the device sends it; its document."""
    code = ("import json, sys\nfrom irs.tasks import classify\n"
            "print(json.dumps(classify.apply_async((sys.argv[1], sys.argv[3]), queue=sys.argv[2]).get(timeout=600)))")
    done = subprocess.run([sys.executable, "-c", code, image_key, f"device-{DEVICE}", MODEL], capture_output=True,
                          text=True, timeout=700, env={**os.environ, "IRS_DEVICE_ID": DEVICE}, check=True)
    document: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return document


def _iou(a: dict[str, int], b: dict[str, int]) -> float:
    x = max(0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    y = max(0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    return x * y / (a["w"] * a["h"] + b["w"] * b["h"] - x * y)


def differences(arm: list[dict[str, Any]], x86: list[dict[str, Any]]) -> list[str]:
    """What differs between two answers: a label on one side only, a box with IoU under 0.9, a confidence more
    than 0.01 away. Detections are paired by label, then by the best overlap."""
    said, left = [], list(x86)
    for found in arm:
        same = [d for d in left if d["label"] == found["label"]]
        if not same:
            said.append(f"{found['label']} only on arm64")
            continue
        best = max(same, key=lambda d: _iou(d["box"], found["box"]) if d["box"] else 1.0)
        left.remove(best)
        if found["box"] and _iou(best["box"], found["box"]) < 0.9:
            said.append(f"{found['label']}: boxes overlap {_iou(best['box'], found['box']):.2f}")
        if abs(best["confidence"] - found["confidence"]) > 0.01:
            said.append(f"{found['label']}: confidence {found['confidence']} against {best['confidence']}")
    return said + [f"{d['label']} only on x86" for d in left]


def shared_models() -> list[str]:
    """The built-in models whose files the shared test data holds: yolov3-tiny's and yolov4-tiny's cannot be had
    on this project's machines (../shared/models/MODELS.md), so they are compared wherever they are present."""
    settings = Settings(model_dir=MODELS)
    return [name for name, spec in REGISTRY.items() if find_dir(spec, settings) is not None]


def test_every_built_in_model_answers_every_sample_photo_on_arm64_as_on_x86(pi: Path) -> None:
    models = shared_models()
    assert {"yolo-fastest-1.1", "yolo-fastest-1.1-xl", "mobilenetv2-yolov3-nano", "tiny-darknet"} <= set(models)
    env = {"IRS_MODEL_DIR": "/src/models", "IRS_CACHE_DIR": "/var/lib/irs/answers-cache", "IRS_CV_THREADS": "2"}
    arm = json.loads(_in_venv(pi, "-c", ANSWERS, "/src/images", *models, timeout=3000, **env).strip()
                     .splitlines()[-1])
    here = subprocess.run([sys.executable, "-c", ANSWERS, str(IMAGES), *models], capture_output=True, text=True,
                          check=True, env={**os.environ, "IRS_MODEL_DIR": str(MODELS), "IRS_CV_THREADS": "2"})
    x86 = json.loads(here.stdout.strip().splitlines()[-1])
    assert arm["runtimes"] == x86["runtimes"] == ["onnxruntime"]
    photos = len(list(IMAGES.glob("*.jpg")))
    assert arm["answers"].keys() == x86["answers"].keys() and len(arm["answers"]) == len(models) * photos
    (ARTIFACTS / "pi-on-arm-answers.json").write_text(json.dumps({"arm64": arm, "x86": x86}, indent=1))
    found = {key: differences(arm["answers"][key], x86["answers"][key]) for key in x86["answers"]}
    assert not {key: said for key, said in found.items() if said}
    assert sum(len(answer) for answer in x86["answers"].values()) > 40  # they found things, not nothing twice
