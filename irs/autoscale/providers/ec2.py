"""Hosts as EC2 instances, found by their tags.

Every instance is tagged in the same RunInstances call that creates it, so there
is no moment at which an instance exists untagged: a controller that crashes
right after launching finds it again by its tag, counts it, and never takes the
fleet past its maximum. Only instances carrying the fleet's tag are ever
touched. Instances are launched with IMDSv2 required, instance tags readable in
the metadata (that is how a worker sees ``irs-drain``), and ``terminate`` as
their shutdown behaviour (a drained ephemeral worker powers its host off).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from irs.autoscale.providers import Host
from irs.autoscale.providers.userdata import render
from irs.aws.clients import client
from irs.pools import CLOUD

FLEET_TAG = "irs-fleet"
ROLE_TAG = "irs-role"
DRAIN_TAG = "irs-drain"
LIVE_STATES = ["pending", "running"]


@dataclass(frozen=True)
class LaunchSpec:
    image_id: str | None = None
    launch_template: str | None = None  # a name; takes the image, type and the rest from the template
    instance_type: str = "c6i.large"
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()
    instance_profile: str | None = None
    worker_env: dict[str, str] = field(default_factory=dict)  # IRS_* settings the workers need
    idle_shutdown_s: float = 300.0


def fleet_of(queue_prefix: str) -> str:
    """The fleet tag of a deployment's hosts: what its autoscaler's role may launch, tag and terminate
    (``${Prefix}-cloud`` in the template, whose queue prefix is ``${Prefix}-``)."""
    return f"{queue_prefix}{CLOUD}"


class Ec2Provider:
    name = "ec2"

    def __init__(self, spec: LaunchSpec, fleet: str, pool: str = CLOUD, max_hosts: int = 20,
                 concurrency: int = 2) -> None:
        self.spec, self.fleet, self.pool, self.max_hosts, self.concurrency = spec, fleet, pool, max_hosts, concurrency

    def _instances(self) -> list[dict[str, Any]]:
        pages = client("ec2").get_paginator("describe_instances").paginate(Filters=[
            {"Name": f"tag:{FLEET_TAG}", "Values": [self.fleet]},
            {"Name": "instance-state-name", "Values": LIVE_STATES}])
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def hosts(self) -> list[Host]:
        found = []
        for instance in self._instances():
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            found.append(Host(instance["InstanceId"],
                              "running" if instance["State"]["Name"] == "running" else "pending",
                              instance["LaunchTime"].timestamp(), tags.get(ROLE_TAG) == "always-on"))
        return found

    def launch(self, count: int, always_on: bool = False) -> list[str]:
        live = len(self._instances())
        count = max(0, min(count, self.max_hosts - live))
        if not count:
            return []
        role = "always-on" if always_on else "ephemeral"
        # The same request retried (a timeout, a restart within the minute) launches nothing twice.
        token = hashlib.sha256(f"{self.fleet}:{live}:{count}:{int(time.time() // 60)}".encode()).hexdigest()
        env = {**self.spec.worker_env, "IRS_ALWAYS_ON": str(always_on).lower(),
               "IRS_IDLE_SHUTDOWN_S": "0" if always_on else str(self.spec.idle_shutdown_s)}
        request: dict[str, Any] = {
            "MinCount": count,  # all or none: a partial launch would leave the decision half done
            "MaxCount": count,
            "UserData": render(env, pool=self.pool, concurrency=self.concurrency, always_on=always_on),
            "InstanceInitiatedShutdownBehavior": "terminate",
            "MetadataOptions": {"HttpTokens": "required", "InstanceMetadataTags": "enabled"},
            "TagSpecifications": [{"ResourceType": kind, "Tags": [
                {"Key": FLEET_TAG, "Value": self.fleet}, {"Key": ROLE_TAG, "Value": role},
                {"Key": "Name", "Value": f"{self.fleet}-{role}"}]} for kind in ("instance", "volume")],
            "ClientToken": token[:64],
        }
        if self.spec.launch_template:
            request["LaunchTemplate"] = {"LaunchTemplateName": self.spec.launch_template}
        if self.spec.image_id:
            request["ImageId"] = self.spec.image_id
        if not self.spec.launch_template:
            request["InstanceType"] = self.spec.instance_type
        if self.spec.subnet_id:
            request["SubnetId"] = self.spec.subnet_id
        if self.spec.security_group_ids:
            request["SecurityGroupIds"] = list(self.spec.security_group_ids)
        if self.spec.instance_profile:
            request["IamInstanceProfile"] = {"Name": self.spec.instance_profile}
        response = client("ec2").run_instances(**request)
        return [i["InstanceId"] for i in response["Instances"]]

    def _ours(self, ids: list[str]) -> list[str]:
        mine = {i["InstanceId"] for i in self._instances()}
        return [i for i in ids if i in mine]

    def drain(self, ids: list[str]) -> None:
        ours = self._ours(ids)
        if ours:
            client("ec2").create_tags(Resources=ours, Tags=[{"Key": DRAIN_TAG, "Value": "requested"}])

    def terminate(self, ids: list[str]) -> None:
        ours = self._ours(ids)
        if ours:
            client("ec2").terminate_instances(InstanceIds=ours)
