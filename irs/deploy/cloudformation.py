"""``irs deploy`` and ``irs teardown``: the CloudFormation stack, and the env file made from its outputs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError, WaiterError

from irs.aws import clients
from irs.deploy.template import dump

Say = Callable[[str], None]


class DeployError(RuntimeError):
    """The stack could not be created, updated or removed; the message says why."""


def env_name(output_key: str) -> str:
    """``InputBucket`` -> ``IRS_INPUT_BUCKET``: every output is an IRS setting."""
    return "IRS_" + re.sub(r"(?<!^)(?=[A-Z])", "_", output_key).upper()


def deploy(stack_name: str, parameters: dict[str, str], say: Say = print) -> dict[str, str]:
    """Create or update the stack and wait for it; returns its outputs as IRS settings."""
    cloudformation = clients.client("cloudformation")
    request = {"StackName": stack_name, "TemplateBody": dump(), "Capabilities": ["CAPABILITY_NAMED_IAM"],
               "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]}
    try:
        cloudformation.describe_stacks(StackName=stack_name)
        exists = True
    except ClientError:
        exists = False
    try:
        if exists:
            say(f"updating stack {stack_name}")
            cloudformation.update_stack(**request)
            cloudformation.get_waiter("stack_update_complete").wait(StackName=stack_name)
        else:
            say(f"creating stack {stack_name}")
            cloudformation.create_stack(**request)
            cloudformation.get_waiter("stack_create_complete").wait(StackName=stack_name)
    except ClientError as error:
        if "No updates are to be performed" not in str(error):
            raise DeployError(f"{stack_name}: {error}") from None
        say("the stack is already up to date")
    except WaiterError as error:
        raise DeployError(f"{stack_name} did not complete: {error}; see its events in CloudFormation") from None
    return outputs(stack_name)


def outputs(stack_name: str) -> dict[str, str]:
    stack = clients.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {env_name(o["OutputKey"]): o["OutputValue"] for o in stack.get("Outputs", [])}


def write_env(values: dict[str, str], path: Path, stack_name: str) -> Path:
    lines = [f"# Written by `irs deploy` from the outputs of stack {stack_name}.", *sorted(
        f"{key}={value}" for key, value in values.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def teardown(stack_name: str, empty_buckets: bool, say: Say = print) -> None:
    """Delete the stack, then the buckets it kept (they are retained so no result is lost by accident).

    Buckets that still hold objects are only emptied and deleted with ``empty_buckets``.
    """
    values = outputs(stack_name)
    buckets = [values[k] for k in ("IRS_INPUT_BUCKET", "IRS_RESULTS_BUCKET") if k in values]
    s3 = clients.client("s3")
    full = [b for b in buckets if s3.list_objects_v2(Bucket=b, MaxKeys=1).get("KeyCount", 0)]
    if full and not empty_buckets:
        raise DeployError(f"these buckets still hold objects: {', '.join(full)}. "
                          "Run again with --empty-buckets to delete them and everything in them.")
    cloudformation = clients.client("cloudformation")
    say(f"deleting stack {stack_name}")
    cloudformation.delete_stack(StackName=stack_name)
    try:
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack_name)
    except WaiterError as error:
        raise DeployError(f"{stack_name} was not deleted: {error}") from None
    for bucket in buckets:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
        s3.delete_bucket(Bucket=bucket)
        say(f"deleted bucket {bucket}")
