"""Importing IRS does no work, and its modules import each other without a loop.

Pure modules (the routing and scaling decisions, the simulators) load neither
Celery nor boto3; no module reads the settings or starts a thread when imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "irs"
PURE = ["irs", "irs.pools", "irs.routing.policy", "irs.routing.simulate", "irs.routing.flood", "irs.autoscale.policy",
        "irs.autoscale.reconcile", "irs.autoscale.sim.simulate", "irs.autoscale.sim.baselines", "irs.fleet.schemas",
        "irs.fleet.liveness"]
HEAVY = ["celery", "kombu", "boto3", "botocore", "prometheus_client", "cv2"]


def modules() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def run(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_loads_neither_celery_nor_boto3(module: str) -> None:
    loaded = run(f"import json, sys, {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert loaded == [], f"importing {module} loaded {loaded}"


def test_no_module_reads_the_settings_or_starts_a_thread_when_imported() -> None:
    code = f"""
import importlib, json, threading
import irs.settings
found = {{}}
for name in {modules()!r}:
    importlib.import_module(name)
    read = irs.settings.get_settings.cache_info().currsize
    threads = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
    if read or threads:
        found[name] = {{"settings read": bool(read), "threads": threads}}
        break
print(json.dumps(found))
"""
    assert run(code) == {}


def imports(path: Path) -> set[str]:
    """The irs modules a file imports when it is imported: its top-level imports, not those inside functions."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node) if isinstance(node, ast.Import | ast.ImportFrom | ast.If | ast.Try) else ():
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name.startswith("irs"))
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("irs"):
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
    return found


def graph() -> dict[str, set[str]]:
    known = set(modules())
    edges: dict[str, set[str]] = defaultdict(set)
    for name in known:
        path = ROOT / Path(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        edges[name] = {target for target in imports(path) if target in known and target != name}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def group(module: str) -> str:
    """A module's group: the subpackage of irs it is in (irs.worker), or the module itself (irs.tasks)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_modules_import_each_other_without_a_loop() -> None:
    assert cycle(graph()) is None


def test_groups_import_each_other_without_a_loop() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph().items():
        edges[group(source)].update(group(t) for t in targets if group(t) != group(source) and t != "irs")
    assert cycle(edges) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_test_module_imports_another_test_module() -> None:
    """What several tests share lives in tests/helpers (helpers) or a conftest (fixtures), not in a test."""
    borrowed = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            borrowed += [f"{path.relative_to(ROOT)} imports {name}" for name in names
                         if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")]
    assert not borrowed, borrowed


def test_the_model_code_stands_on_the_settings_and_the_schema_alone() -> None:
    """irs.inference is the base every process may use: beside the settings and the result schema
    (its error kinds), it imports no role (worker, broker, web, repository)."""
    leaning = {source: sorted(t for t in targets if not t.startswith(("irs.inference", "irs.settings", "irs.results")))
               for source, targets in graph().items() if source.startswith("irs.inference")}
    assert {source: targets for source, targets in leaning.items() if targets} == {}


def test_only_the_worker_role_imports_the_worker() -> None:
    """The web tier and the repository read images and models through irs.inference, never irs.worker; the broker
    (the app, the backend, the transport), which every client loads, loads none of the worker's code."""
    users = {path.relative_to(ROOT).as_posix() for place in ("webapp", "irs/repository", "irs/inference", "irs/broker")
             for path in (ROOT / place).rglob("*.py")
             if any(name.startswith("irs.worker") for name in imports(path) | _inner_imports(path))}
    assert users == set()


def test_the_classify_contract_is_written_once() -> None:
    """The task's name and its headers' names are spelled in irs/contract.py and read from there."""
    spelled = {path.relative_to(ROOT).as_posix() for place in ("irs", "webapp", "edge")
               for path in (ROOT / place).rglob("*.py")
               if any(f'"{name}"' in path.read_text() for name in ("irs.tasks.classify", "irs_sent_at",
                                                                    "irs_upload_ms", "irs_route"))}
    assert spelled == {"irs/contract.py"}


def _inner_imports(path: Path) -> set[str]:
    """The irs modules a file imports anywhere, inside functions too."""
    return {node.module for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("irs")}
