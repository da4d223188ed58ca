"""The model repository: a team's own Darknet files are checked, stored as versions, listed and removed; bad
files are refused with the reason and nothing is stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from irs.cli.main import main as cli
from irs.repository import store
from irs.repository.check import Refused, check
from irs.repository.manifest import Manifest, manifest_key
from irs.settings import Settings, get_settings
from tests.conftest import MODELS
from tests.helpers.darknet import CLASSIFIER, network

pytestmark = pytest.mark.usefixtures("mocked_aws")
HUGE = "[net]\nwidth=2048\nheight=2048\nchannels=3\n\n[convolutional]\nfilters=20000\nsize=1\nstride=1\n" \
       "activation=linear\n\n[avgpool]\n\n[softmax]\n"


def _files(tmp_path: Path, names: list[str] | None = None) -> dict[str, Path]:
    """A small random classifier of 10 classes, with a names file of ``names``."""
    cfg, weights = network(tmp_path, CLASSIFIER, "team")
    labels = tmp_path / "team.names"
    labels.write_text("\n".join(names or [f"part-{n}" for n in range(10)]) + "\n")
    return {"cfg": cfg, "weights": weights, "names": labels}


def _add(name: str, files: dict[str, Path], settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    manifest = check(name, files["cfg"], files["weights"], files["names"], settings)
    return store.add(manifest, files, settings)  # type: ignore[arg-type]


def test_a_model_is_stored_with_its_manifest_and_adding_it_again_changes_nothing(tmp_path: Path) -> None:
    files = _files(tmp_path)
    assert _add("parts", files)
    (stored,) = store.versions(get_settings())
    assert (stored.name, stored.kind, stored.input_size) == ("parts", "classifier", 32)
    assert stored.labels == [f"part-{n}" for n in range(10)]
    assert stored.files["weights"].size == files["weights"].stat().st_size
    assert not _add("parts", files)
    assert len(store.versions(get_settings())) == 1


def _two_versions(tmp_path: Path) -> tuple[dict[str, Path], Manifest, Manifest]:
    """``parts`` added twice, its labels renamed the second time: the files, then the old and the new version."""
    files = _files(tmp_path)
    _add("parts", files)
    renamed = dict(files, names=tmp_path / "renamed.names")
    renamed["names"].write_text("\n".join(f"renamed-{n}" for n in range(10)))
    _add("parts", renamed)
    old, new = store.versions(get_settings(), "parts")
    return files, old, new


def test_adding_a_name_again_makes_a_new_version_the_latest_and_the_old_one_stays_pinnable(tmp_path: Path) -> None:
    _, old, new = _two_versions(tmp_path)
    assert store.find("parts", get_settings()) == new and new.labels[0] == "renamed-0"
    assert store.find(f"parts@{old.version[:8]}", get_settings()) == old
    store.remove(old, get_settings())
    with pytest.raises(store.NotFound, match=f"no version of parts starts with '{old.version[:8]}'"):
        store.find(f"parts@{old.version[:8]}", get_settings())
    assert store.find("parts", get_settings()) == new


def test_a_shared_detector_with_renamed_labels_is_accepted_with_what_its_check_measured(shared: Path,
                                                                                         tmp_path: Path) -> None:
    source = MODELS / "yolo-fastest-1.1"
    names = tmp_path / "things.names"
    names.write_text("\n".join(f"thing-{n}" for n in range(80)))
    manifest = check("things", source / "yolo-fastest-1.1.cfg", source / "yolo-fastest-1.1.weights", names,
                     get_settings())
    assert (manifest.kind, manifest.input_size, manifest.labels[79]) == ("detector", 320, "thing-79")
    assert manifest.checked is not None and manifest.checked.classes == 80
    assert 0 < manifest.checked.ms_per_image < get_settings().model_max_ms
    assert 0 < manifest.checked.network_mb < manifest.checked.peak_mb
    smaller = get_settings().model_copy(update={"model_max_memory_mb": 16})  # hosts with room for less
    with pytest.raises(Refused, match=r"the model takes \d+ MB per network, over the hosts' budget of 16 MB"):
        check("things", source / "yolo-fastest-1.1.cfg", source / "yolo-fastest-1.1.weights", names, smaller)


@pytest.mark.parametrize(("spoil", "reason"), [
    ("unknown layer", r"team.cfg line 30: layer \[reorg\] is not supported"),
    ("short weights", r"the weights file ends early"),
    ("long weights", r"weights left over"),
    ("names too few", r"the model has 10 classes but team.names has 9 labels"),
    ("path in name", r"model name 'team/../x'"),
    ("built-in name", r"'tiny-darknet' is a built-in model's name"),
    ("weights over the limit", r"the limit is 1000 \(IRS_MODEL_MAX_BYTES"),
    ("wrong kind", r"--kind detector, but team.cfg is a classifier"),
    ("over the time budget", r"the model takes [\d.]+ ms per image on this machine, over the budget of 0.0001 ms"),
    ("far beyond any host", r"(does not load or run|could not be loaded and run within the memory budget)"),
])
def test_bad_models_are_refused_with_the_reason_and_nothing_is_stored(tmp_path: Path, spoil: str, reason: str) -> None:
    files = _files(tmp_path, [f"part-{n}" for n in range(9 if spoil == "names too few" else 10)])
    settings, name, kind = get_settings(), "team", None
    if spoil == "unknown layer":
        files["cfg"].write_text(CLASSIFIER.replace("[avgpool]", "[reorg]\nstride=2\n\n[avgpool]"))
    elif spoil == "short weights":
        files["weights"].write_bytes(files["weights"].read_bytes()[:-40])
    elif spoil == "long weights":
        files["weights"].write_bytes(files["weights"].read_bytes() + bytes(40))
    elif spoil == "path in name":
        name = "team/../x"
    elif spoil == "built-in name":
        name = "tiny-darknet"
    elif spoil == "weights over the limit":
        settings = settings.model_copy(update={"model_max_bytes": 1000})
    elif spoil == "wrong kind":
        kind = "detector"
    elif spoil == "over the time budget":
        settings = settings.model_copy(update={"model_max_ms": 0.0001})
    elif spoil == "far beyond any host":  # 20,000 filters at 2048 x 2048: hundreds of GB of activations
        files["cfg"], files["weights"] = network(tmp_path, HUGE, "huge")
        files["names"].write_text("\n".join(f"part-{n}" for n in range(20_000)))
    with pytest.raises(Refused, match=reason):
        check(name, files["cfg"], files["weights"], files["names"], settings, kind=kind)
    assert store.versions(get_settings()) == []


def test_a_manifest_that_does_not_validate_is_skipped_not_served(tmp_path: Path) -> None:
    from irs.aws import documents

    _add("parts", _files(tmp_path))
    (good,) = store.versions(get_settings())
    documents.put_body(manifest_key("parts", "f" * 64), b'{"name": "parts", "labels": ["../../etc"]}')
    documents.put_body(manifest_key("other", good.version), good.model_dump_json())  # names another place
    assert store.versions(get_settings()) == [good]


def test_the_cli_adds_lists_and_removes_and_refuses_in_plain_words(tmp_path: Path) -> None:
    files = _files(tmp_path)
    runner = CliRunner()
    added = runner.invoke(cli, ["model", "add", "parts", "--cfg", str(files["cfg"]), "--weights",
                                str(files["weights"]), "--names", str(files["names"])])
    assert added.exit_code == 0, added.output
    (manifest,) = store.versions(get_settings())
    assert f"{manifest.ref} added" in added.output
    listed = runner.invoke(cli, ["model", "list", "--no-speed"], env={"COLUMNS": "300"})
    assert manifest.short in listed.output and "parts" in listed.output
    shutil.copyfile(files["names"], tmp_path / "short.names")
    (tmp_path / "short.names").write_text("one\ntwo\n")
    refused = runner.invoke(cli, ["model", "add", "parts", "--cfg", str(files["cfg"]), "--weights",
                                  str(files["weights"]), "--names", str(tmp_path / "short.names")])
    assert refused.exit_code != 0 and "refused: the model has 10 classes but short.names has 2 labels" in refused.output
    removed = runner.invoke(cli, ["model", "remove", "parts"])
    assert removed.exit_code == 0 and f"removed {manifest.ref}" in removed.output
    assert store.versions(get_settings()) == []


def test_a_worker_fetches_a_version_checks_it_and_keeps_its_cache_under_the_cap(tmp_path: Path) -> None:
    from irs.aws import clients
    from irs.inference.registry import ModelError
    from irs.repository.cache import installed
    from irs.repository.manifest import folder

    files, old, new = _two_versions(tmp_path)
    worker = get_settings().model_copy(update={"cache_dir": tmp_path / "worker"})
    first = installed(old, worker)
    assert (first / "model.weights").read_bytes() == files["weights"].read_bytes()
    size = sum(f.stat().st_size for f in first.iterdir())
    installed(new, worker.model_copy(update={"model_cache_bytes": size + 10}))  # room for one version only
    assert not first.exists() and (tmp_path / "worker" / "repository" / "parts" / new.version).is_dir()
    # A stored file that does not match its manifest is not used, and nothing of it is kept.
    clients.client("s3").put_object(Bucket=get_settings().results_bucket, Key=folder("parts", old.version) +
                                    "model.weights", Body=files["weights"].read_bytes()[:-4] + b"evil")
    with pytest.raises(ModelError, match="does not match its manifest"):
        installed(old, worker)
    assert not (first / "model.weights").exists() and not (first / "manifest.json").exists()


def test_a_process_keeps_at_most_its_share_of_networks_the_least_recently_used_out_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import irs.worker.networks
    from irs.inference.registry import ModelError

    settings = get_settings().model_copy(update={"cache_dir": tmp_path / "worker", "models_per_process": 3})
    monkeypatch.setattr(irs.worker.networks, "get_settings", lambda: settings)
    for name in ("one", "two", "three"):
        (tmp_path / name).mkdir()
        _add(name, _files(tmp_path / name))
    networks = irs.worker.networks.Networks()
    one = networks.get("one")
    assert networks.get("one") is one and one.labels[0] == "part-0"  # held: not loaded again
    networks.get("two")
    networks.get("one")  # used again: now "two" is the least recently used
    networks.get("three")  # two others at most (the default model is the third)
    assert [ref.split("@")[0] for ref in networks.held] == ["one", "three"]
    with pytest.raises(ModelError, match="no model 'four' in the repository"):
        networks.get("four")
