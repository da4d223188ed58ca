"""Providers against real parts: the emulator's EC2 API, and worker processes on this machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

from irs.autoscale.providers.ec2 import DRAIN_TAG, FLEET_TAG, Ec2Provider, LaunchSpec
from irs.autoscale.providers.local import LocalProvider
from irs.autoscale.providers.userdata import render
from irs.aws import clients
from irs.fleet import reports
from tests.conftest import wait_until

SPEC = LaunchSpec(image_id="ami-12c6146b", instance_type="t3.micro", worker_env={"IRS_REGION": "us-east-1"})


def _fleet_ids(fleet_name: str) -> set[str]:
    return {h.id for h in Ec2Provider(SPEC, fleet=fleet_name).hosts()}


def test_ec2_launches_tagged_instances_and_a_new_provider_finds_them_by_tag(emulator) -> None:  # type: ignore[no-untyped-def]
    provider = Ec2Provider(SPEC, fleet="fleet-a")
    launched = provider.launch(3)
    assert len(launched) == 3 and _fleet_ids("fleet-a") == set(launched)
    reservations = clients.client("ec2").describe_instances(InstanceIds=launched)["Reservations"]
    for instance in (i for r in reservations for i in r["Instances"]):
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags[FLEET_TAG] == "fleet-a" and tags["irs-role"] == "ephemeral"


def test_ec2_never_takes_the_fleet_past_its_maximum(emulator) -> None:  # type: ignore[no-untyped-def]
    provider = Ec2Provider(SPEC, fleet="fleet-b", max_hosts=20)
    assert len(provider.launch(15)) == 15
    assert len(provider.launch(15)) == 5
    assert provider.launch(1) == [] and len(provider.hosts()) == 20


def test_ec2_drains_by_tag_and_terminates_only_its_own_instances(emulator) -> None:  # type: ignore[no-untyped-def]
    provider = Ec2Provider(SPEC, fleet="fleet-c")
    mine = provider.launch(2)
    stranger = clients.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    provider.drain([mine[0], stranger["InstanceId"]])
    tagged = clients.client("ec2").describe_tags(Filters=[{"Name": "key", "Values": [DRAIN_TAG]}])["Tags"]
    drained = {t["ResourceId"] for t in tagged}
    assert mine[0] in drained and stranger["InstanceId"] not in drained
    provider.terminate([*mine, stranger["InstanceId"]])
    assert _fleet_ids("fleet-c") == set()
    state = clients.client("ec2").describe_instances(InstanceIds=[stranger["InstanceId"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] in ("pending", "running")


def test_ec2_user_data_starts_a_worker_and_only_ephemeral_hosts_power_off(tmp_path: Path) -> None:
    ephemeral = render({"IRS_REGION": "eu-west-1"}, pool="cloud", concurrency=2)
    always_on = render({"IRS_REGION": "eu-west-1"}, always_on=True)
    assert "ExecStart=/opt/irs/.venv/bin/irs worker" in ephemeral and "IRS_REGION=eu-west-1" in ephemeral
    assert "IRS_POOL_NAME=cloud" in ephemeral and "IRS_CONCURRENCY=2" in ephemeral  # what `irs worker` reads
    assert "IRS_CONCURRENCY=$(nproc)" in always_on  # unless told, a process per vCPU of whatever instance boots
    assert "systemctl poweroff" in ephemeral and "systemctl poweroff" not in always_on
    for text in (ephemeral, always_on):
        script = tmp_path / "user-data.sh"
        script.write_text(text)
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_local_hosts_boot_after_their_delay_drain_and_are_adopted(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    provider = LocalProvider(tmp_path, boot_delay_s=2.0, pool="edge", idle_shutdown_s=0)
    (host_id,) = provider.launch(1)
    assert [h.state for h in provider.hosts()] == ["pending"]
    adopted = LocalProvider(tmp_path, boot_delay_s=2.0, pool="edge")  # a restarted controller
    assert [h.id for h in adopted.hosts()] == [host_id]
    wait_until(lambda: host_id in reports.read("edge"), 60, "the local host's worker to report")
    assert [h.state for h in adopted.hosts()] == ["running"]
    adopted.drain([host_id])
    wait_until(lambda: not adopted.hosts(), 40, "the drained host to go")
    assert host_id not in reports.read("edge")
    log = (tmp_path / "logs" / f"{host_id}.log").read_text()
    assert "drained" in log and "WorkerLostError" not in log
    assert not list((tmp_path / "fleet").glob("*.json"))  # nothing left running: the registry is empty
