"""The CloudFormation template: valid, current, and least privilege as the documentation claims."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from irs.deploy import template
from irs.deploy.template import build, dump
from tests.conftest import ROOT

TEMPLATE = build()
RESOURCES = TEMPLATE["Resources"]


def statements(resource: str) -> list[dict[str, Any]]:
    policies = RESOURCES[resource]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def actions(resource: str) -> set[str]:
    return {a for s in statements(resource) for a in s["Action"]}


def test_the_committed_template_is_the_generated_one() -> None:
    assert (ROOT / "deploy" / "irs.yaml").read_text() == dump(), "run: irs deploy --print-template > deploy/irs.yaml"


def test_cfn_lint_passes() -> None:
    run = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(ROOT / "deploy" / "irs.yaml")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_queue_dead_letters_and_outlives_the_hard_time_limit() -> None:
    for pool in ("Cloud", "Edge"):
        queue = RESOURCES[f"{pool}Queue"]["Properties"]
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{pool}DeadLetterQueue", "Arn"]}
        assert TEMPLATE["Parameters"]["VisibilityTimeout"]["Default"] > 60


def test_buckets_are_encrypted_private_and_expire_what_they_hold() -> None:
    for name in ("UploadsBucket", "ResultsBucket"):
        bucket = RESOURCES[name]["Properties"]
        assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(bucket["PublicAccessBlockConfiguration"].values())
        assert any("ExpirationInDays" in rule for rule in bucket["LifecycleConfiguration"]["Rules"])


def test_workers_touch_only_their_queues_and_buckets() -> None:
    for statement in statements("WorkerRole"):
        if statement["Resource"] == "*":
            assert statement["Action"] == ["sqs:ListQueues"]  # the one action with no resource to name
        elif isinstance(statement["Resource"], dict):  # the source buckets, or with none listed the uploads
            assert statement["Action"] == ["s3:GetObject"]
            assert statement["Resource"]["Fn::If"][1:] == [template.SOURCE_OBJECTS,
                                                           [{"Fn::Sub": "${UploadsBucket.Arn}/uploads/*"}]]
        else:
            assert all("Queue" in json.dumps(r) or "Bucket" in json.dumps(r) for r in statement["Resource"])
    assert not {a for a in actions("WorkerRole") if a.startswith(("ec2:", "iam:"))}


def _intrinsics(value: Any, parameters: dict[str, str]) -> Any:
    """What CloudFormation makes of Ref, Fn::Split, Fn::Join and Fn::Sub with a map (the source reads use them)."""
    if isinstance(value, list):
        return [_intrinsics(item, parameters) for item in value]
    if not isinstance(value, dict):
        return value
    ((function, arguments),) = value.items()
    if function == "Ref":
        return parameters[arguments]
    if function == "Fn::Sub":
        text, names = arguments
        values = {name: _intrinsics(given, parameters) for name, given in names.items()}
        return re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], text)
    arguments = _intrinsics(arguments, parameters)
    assert function in ("Fn::Split", "Fn::Join"), function
    return arguments[1].split(arguments[0]) if function == "Fn::Split" else arguments[0].join(arguments[1])


@pytest.mark.parametrize(("entries", "arns"), [
    ("camera-archive/2026/", ["arn:aws:s3:::camera-archive/2026/*"]),
    ("camera-archive/,inbox/cam-7/", ["arn:aws:s3:::camera-archive/*", "arn:aws:s3:::inbox/cam-7/*"]),
])
def test_the_workers_read_exactly_the_source_buckets_the_stack_lists(entries: str, arns: list[str]) -> None:
    assert re.fullmatch(TEMPLATE["Parameters"]["SourceBuckets"]["AllowedPattern"], entries)
    assert _intrinsics(template.SOURCE_OBJECTS, {"SourceBuckets": entries}) == arns


@pytest.mark.parametrize("entries", ["camera-archive", "camera-archive/,other", "bucket/*", "Bad_Name/", "a/,"])
def test_a_source_that_would_name_more_than_it_says_is_refused(entries: str) -> None:
    """Without its slash, arn:aws:s3:::camera-archive* would match every bucket whose name begins so."""
    assert not re.fullmatch(TEMPLATE["Parameters"]["SourceBuckets"]["AllowedPattern"], entries)
    assert "s3:DeleteObject" not in {a for s in statements("WorkerRole") for a in s["Action"]
                                     if "results/" in json.dumps(s["Resource"])}


def test_the_autoscaler_runs_tags_and_terminates_only_instances_of_its_fleet() -> None:
    fleet = {"Fn::Sub": "${Prefix}-cloud"}
    for statement in statements("AutoscalerRole"):
        resources = json.dumps(statement["Resource"])
        if "ec2:TerminateInstances" in statement["Action"]:
            assert statement["Condition"]["StringEquals"] == {"ec2:ResourceTag/irs-fleet": fleet}
        if "ec2:RunInstances" in statement["Action"] and ":instance/" in resources:
            assert statement["Condition"]["StringEquals"] == {"aws:RequestTag/irs-fleet": fleet}
        if "ec2:CreateTags" in statement["Action"]:
            assert "Condition" in statement
        if "iam:PassRole" in statement["Action"]:
            assert statement["Resource"] == [{"Fn::GetAtt": ["WorkerRole", "Arn"]}]
        if statement["Resource"] == "*":  # actions that take no resource
            assert set(statement["Action"]) <= {"ec2:DescribeInstances", "ec2:DescribeTags", "sqs:ListQueues",
                                                "sns:Unsubscribe"}


def test_the_template_holds_no_iam_user_and_the_web_tier_cannot_touch_ec2() -> None:
    """Edge devices get identities of their own (irs edge add-device), not one user shared by every Pi."""
    assert not [r for r in RESOURCES.values() if r["Type"] in ("AWS::IAM::User", "AWS::IAM::AccessKey")]
    assert not {a for a in actions("WebRole") if a.startswith(("ec2:", "iam:"))}


def test_no_role_may_set_queue_attributes_or_policies() -> None:
    for role in ("WorkerRole", "AutoscalerRole", "WebRole"):
        assert not {a for a in actions(role) if a in ("sqs:SetQueueAttributes", "sqs:AddPermission",
                                                     "sqs:RemovePermission", "sqs:*")}, role


def test_the_autoscaler_tags_its_hosts_with_the_fleet_its_role_is_scoped_to() -> None:
    """The EC2 provider's fleet tag for the stack's queue prefix is the one the role's conditions name: with
    another prefix than "irs" the two differed, and every launch would have been denied on AWS."""
    from irs.autoscale.providers.ec2 import fleet_of

    prefix = "prod"
    outputs = json.dumps(TEMPLATE["Outputs"]["QueuePrefix"]["Value"]).replace("${Prefix}", prefix)
    conditions = json.dumps([s.get("Condition") for s in statements("AutoscalerRole")]).replace("${Prefix}", prefix)
    assert f'"{fleet_of(json.loads(outputs)["Fn::Sub"])}"' in conditions


def test_no_wildcard_actions_and_no_secrets_anywhere() -> None:
    text = dump()
    assert not re.search(r"Action:\n\s*- '?\*'?$|Action: '?\*'?$", text, re.M)
    assert "AWS::IAM::AccessKey" not in text
    assert not re.search(r"AKIA[0-9A-Z]{16}|aws_secret_access_key|AWS_SECRET_ACCESS_KEY", text, re.I)


def test_the_worker_boot_script_is_valid_bash_once_cloudformation_fills_it_in(tmp_path) -> None:  # type: ignore[no-untyped-def]
    user_data = RESOURCES["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    script = re.sub(r"\$\{[A-Za-z:.]+\}", "value", user_data["Fn::Base64"]["Fn::Sub"])
    assert "IRS_INPUT_BUCKET=" in script and "irs worker" in script and "IRS_POOL_NAME=cloud" in script
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    image = ROOT / "deploy" / "worker-image.sh"
    assert subprocess.run(["bash", "-n", str(image)]).returncode == 0


def test_s3_may_publish_to_the_results_topic_under_its_own_key() -> None:
    """S3 cannot publish to a topic under the AWS-managed alias/aws/sns: the topic has a key whose policy lets it."""
    topic = RESOURCES["ResultsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "ResultsTopicKey"}
    key = RESOURCES["ResultsTopicKey"]["Properties"]
    assert key["EnableKeyRotation"]
    s3 = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "s3.amazonaws.com"}]
    assert s3 and {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(s3[0]["Action"])
    assert s3[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_a_dead_letter_or_a_request_waiting_too_long_raises_an_alarm_on_the_alerts_topic() -> None:
    alarms = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {(a["MetricName"], a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]) for a in alarms.values()}
    assert watched == {(metric, queue) for pool in ("cloud", "edge") for metric, queue in (
        ("ApproximateNumberOfMessagesVisible", f"{pool.capitalize()}DeadLetterQueue"),
        ("ApproximateAgeOfOldestMessage", f"{pool.capitalize()}Queue"))} | {
        ("ApproximateNumberOfMessagesVisible", "JobsDeadLetterQueue")}  # a job's requests wait by design
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    ages = [a for a in alarms.values() if a["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert all(a["Threshold"] == {"Ref": "AlertOldestRequestSeconds"} for a in ages)
    # CloudWatch can publish only to a topic whose key lets it: not the AWS-managed alias/aws/sns.
    assert RESOURCES["AlertsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertsTopicKey"}
    key = RESOURCES["AlertsTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] and any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
                                            for s in key["KeyPolicy"]["Statement"])


def test_no_topic_is_declared_that_nothing_publishes_to() -> None:
    topics = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::SNS::Topic"}
    # S3 announces results; CloudWatch raises alarms; the autoscaler's janitor announces jobs' ends.
    assert topics == {"ResultsTopic", "AlertsTopic", "EventsTopic"}
    assert any(s["Action"] == ["sns:Publish"] and s["Resource"] == [{"Ref": "EventsTopic"}]
               for s in statements("AutoscalerRole"))


def test_both_buckets_refuse_every_request_not_made_over_tls() -> None:
    for bucket in ("UploadsBucket", "ResultsBucket"):
        policy = RESOURCES[f"{bucket}Policy"]["Properties"]
        assert policy["Bucket"] == {"Ref": bucket}
        (deny,) = policy["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert {"Fn::GetAtt": [bucket, "Arn"]} in deny["Resource"] and len(deny["Resource"]) == 2


def test_every_queue_is_encrypted_at_rest() -> None:
    queues = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::SQS::Queue"]
    watch = {RESOURCES[name]["Properties"]["QueueName"]["Fn::Sub"] for name in ("WatchQueue", "WatchDeadLetterQueue")}
    requests = [q for q in queues if q["QueueName"]["Fn::Sub"] not in watch]
    assert len(requests) == 6 and all(q["KmsMasterKeyId"] == "alias/aws/sqs" for q in requests)
    # S3 sends the watched buckets' notices: it cannot use the AWS-managed key, so SQS's own encryption.
    assert all(q["SqsManagedSseEnabled"] for q in queues if q["QueueName"]["Fn::Sub"] in watch)
    assert len(queues) == 8


def test_each_static_analysis_check_a_bucket_skips_says_why() -> None:
    for name in ("UploadsBucket", "ResultsBucket"):
        skipped = RESOURCES[name]["Metadata"]["checkov"]["skip"]
        assert skipped and all(re.fullmatch(r"CKV_AWS_\d+", s["id"]) and len(s["comment"]) > 40 for s in skipped)
