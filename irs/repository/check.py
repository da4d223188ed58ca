"""Whether a team's own Darknet files make a model IRS can serve, decided before anything is stored.

The files are loaded the way a worker will load them and run on a generated image, in a child
process with its memory and time capped; a model whose output does not fit its names file, whose
weights are the wrong size for its cfg, whose cfg has a layer IRS cannot run, that is over the size
limits, or that needs more memory per network or time per image than the hosts' budget
(``IRS_MODEL_MAX_MEMORY_MB``, ``IRS_MODEL_MAX_MS``) is refused with the reason and the measured
figures. The manifest records what the check measured.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from irs.inference.darknet import parse
from irs.inference.registry import REGISTRY, ModelFile, ModelSpec, sha256_of
from irs.repository.manifest import FILE_NAMES, NAME_PATTERN, Checked, Manifest, Role, StoredFile, version_of
from irs.settings import Settings

TEXT_MAX_BYTES = 1024 * 1024  # a cfg or a names file; a real one is a few kilobytes
LABEL_MAX_CHARS = 200
#: Address space a trial process may take beyond its network's budget: the interpreter, numpy, ONNX Runtime
#: and their thread arenas (yolo-fastest-1.1 ran under a cap of 1,024 MB in all). A cap, not a figure reported.
TRIAL_OVERHEAD_MB = 2048


class Refused(ValueError):
    """These files cannot be added; the message says why, in terms of the files."""


def check(name: str, cfg: Path, weights: Path, names: Path, settings: Settings,
          kind: str | None = None, input_size: int | None = None) -> Manifest:
    """The manifest of a model made of these files, or :class:`Refused`."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise Refused(f"model name {name!r}: use 1 to 63 lowercase letters, digits, '.', '_' or '-', "
                      "starting with a letter or digit (no '/' or '@')")
    if name in REGISTRY:
        raise Refused(f"{name!r} is a built-in model's name; choose another")
    limits: dict[Role, int] = {"cfg": TEXT_MAX_BYTES, "weights": settings.model_max_bytes, "names": TEXT_MAX_BYTES}
    paths: dict[Role, Path] = {"cfg": cfg, "weights": weights, "names": names}
    for role, path in paths.items():
        if not path.is_file():
            raise Refused(f"--{role} {path}: no such file")
        if not 0 < path.stat().st_size <= limits[role]:
            raise Refused(f"--{role} {path}: {path.stat().st_size} bytes; the limit is {limits[role]} "
                          "(IRS_MODEL_MAX_BYTES for weights)")
    try:
        sections = parse(cfg.read_text())
        labels = [line.strip() for line in names.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise Refused(f"the cfg and the names must be text: {error}") from None
    if not sections or sections[0].kind not in ("net", "network"):
        raise Refused(f"{cfg.name} is not a Darknet cfg: it must start with [net]")
    if any(len(label) > LABEL_MAX_CHARS for label in labels) or not labels:
        raise Refused(f"{names.name}: one label per line, each up to {LABEL_MAX_CHARS} characters")
    found = "detector" if any(s.kind in ("yolo", "region") for s in sections) else "classifier"
    if kind and kind != found:
        raise Refused(f"--kind {kind}, but {cfg.name} is a {found} ({'no ' if found == 'classifier' else ''}"
                      "[yolo] layer)")
    side = input_size or sections[0].integer("width", 0)
    if not 32 <= side <= 2048 or side % 32:
        raise Refused(f"input size {side}: a multiple of 32 from 32 to 2048 (--input-size)")
    checked = _trial(found, cfg, weights, names, side, len(labels), settings)
    files = {role: StoredFile(sha256=sha256_of(path), size=path.stat().st_size) for role, path in paths.items()}
    return Manifest(name=name, version=version_of(files, found, side), kind=found, input_size=side,  # type: ignore[arg-type]
                    labels=labels, files=files, added_at=datetime.now(UTC).isoformat(timespec="microseconds"),
                    checked=checked)


def _trial(kind: str, cfg: Path, weights: Path, names: Path, side: int, count: int, settings: Settings
           ) -> Checked:
    """Run the candidate in a child process (:mod:`irs.repository.trial`) within the hosts' budget: its address
    space capped, its time capped by a task's own limit; refused with the measured figures when it needs more
    memory per network or more time per image than the budget allows, or when its output does not fit the
    names."""
    budget_mb, budget_ms = settings.model_max_memory_mb, settings.model_max_ms
    try:
        run = subprocess.run([sys.executable, "-m", "irs.repository.trial", kind, str(cfg), str(weights), names.name,
                              str(side)], capture_output=True, text=True, timeout=settings.task_time_limit,
                             preexec_fn=partial(_cap_memory, budget_mb + TRIAL_OVERHEAD_MB), check=False)
    except subprocess.TimeoutExpired:
        raise Refused(f"the model did not load and run within {settings.task_time_limit} s (IRS_TASK_TIME_LIMIT): "
                      "a worker could not answer with it in time") from None
    try:
        found = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        found = None
    if not isinstance(found, dict) or run.returncode:
        raise Refused(f"the model could not be loaded and run within the memory budget of {budget_mb} MB per network "
                      f"(IRS_MODEL_MAX_MEMORY_MB): {_last_line(run.stderr) or f'exit status {run.returncode}'}")
    if "refused" in found:
        raise Refused(str(found["refused"]))
    checked = Checked.model_validate(found)
    if checked.classes != count:
        raise Refused(f"the model has {checked.classes} classes but {names.name} has {count} labels")
    if checked.network_mb > budget_mb:
        raise Refused(f"the model takes {checked.network_mb:.0f} MB per network, over the hosts' budget of "
                      f"{budget_mb} MB (IRS_MODEL_MAX_MEMORY_MB)")
    if checked.ms_per_image > budget_ms:
        raise Refused(f"the model takes {checked.ms_per_image:.2f} ms per image on this machine, over the budget "
                      f"of {budget_ms:g} ms (IRS_MODEL_MAX_MS)")
    return checked


def _cap_memory(megabytes: int) -> None:
    """In the child, before it runs: its address space may not pass ``megabytes``."""
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def spec_of(manifest: Manifest) -> ModelSpec:
    """A stored version as the worker's loader knows models: its files under their stored names, in its folder
    of the worker's cache (:mod:`irs.repository.cache`)."""
    def stored(role: Role) -> ModelFile:
        return ModelFile(FILE_NAMES[role], "", manifest.files[role].size, manifest.files[role].sha256)

    return ModelSpec(manifest.name, manifest.kind, stored("cfg"), stored("weights"), stored("names"),
                     input_size=manifest.input_size, num_labels=len(manifest.labels), release=manifest.version)
