"""Least privilege, enforced by an evaluator: each identity does its real work, and nothing else.

The template is deployed on an emulator of its own whose IAM evaluator is on
(``tests/deploy/iam_emulator.py`` says what it covers). The roles' credentials
come from STS, as an instance profile's would; each edge device's are made by
``irs edge add-device``. Then every component runs its real code path, in its
own processes, with nothing but its own identity's credentials and the stack's
settings, and each identity's forbidden actions are tried and refused.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from irs.deploy import template
from irs.deploy.devices import POLICY_NAME
from irs.pools import CLOUD, EDGE
from tests.conftest import ARTIFACTS, EMULATOR_TOKEN, IMAGES, MODELS, ROOT, Worker, wait_until
from tests.helpers.ports import free_port

STACK, PREFIX = "irs-lp", "irslp"
#: A bucket of the user's own, whose 2026/ the stack lists as a source; its private/ and another bucket are not.
CAMERA, OTHER = "lp-camera", "lp-other"
ROLES = ("worker", "autoscaler", "web")
DEVICES = ("pi1", "pi2")
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


@dataclass
class Deployment:
    endpoint: str
    settings: dict[str, str]  # the stack's outputs, as IRS settings
    credentials: dict[str, dict[str, str]]  # identity -> AWS_* variables
    images: Path  # pi1's image directory

    def env(self, identity: str, **extra: str) -> dict[str, str]:
        """What a process of this identity sees: the stack's settings, its own keys, nothing of the tests'."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("IRS_", "AWS_"))}
        return {**base, "IRS_ENV_FILE": str(ROOT / "tests" / "no-such-env-file"), "IRS_ENDPOINT_URL": self.endpoint,
                "IRS_MODEL_DIR": os.environ["IRS_MODEL_DIR"], "IRS_CACHE_DIR": os.environ["IRS_CACHE_DIR"],
                "AWS_DEFAULT_REGION": "us-east-1", "PYTHONUNBUFFERED": "1", **self.settings,
                **self.credentials[identity], **extra}

    def client(self, identity: str, service: str) -> Any:
        keys = self.credentials[identity]
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=keys.get("AWS_SESSION_TOKEN"))

    def run(self, identity: str, argv: list[str], timeout: float = 120, **extra: str) -> str:
        done = subprocess.run(argv, cwd=ROOT, env=self.env(identity, **extra), capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, f"{identity}: {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
        assert "AccessDenied" not in done.stderr, done.stderr
        return done.stdout

    def python(self, identity: str, code: str, **extra: str) -> Any:
        """Run IRS code as this identity; it prints one JSON value."""
        return json.loads(self.run(identity, [sys.executable, "-c", code], **extra).strip().splitlines()[-1])


def _outputs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def deployment(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "iam-emulator.log"
    server = subprocess.Popen([sys.executable, "-m", "tests.deploy.iam_emulator", "--port", str(port)], cwd=ROOT,
                              env={**os.environ, "IRS_EMULATOR_TOKEN": EMULATOR_TOKEN},
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "listening" in log.read_text(), 30, "the IAM-enforcing emulator")
        tmp = tmp_path_factory.mktemp("least-privilege")
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        ec2 = session.client("ec2", endpoint_url=endpoint)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        deployment = Deployment(endpoint, {}, {"admin": {"AWS_ACCESS_KEY_ID": "testing",
                                                         "AWS_SECRET_ACCESS_KEY": "testing"}}, tmp / "camera")
        deployment.run("admin", [sys.executable, "-m", "irs.cli", "deploy", "--stack-name", STACK, "--prefix", PREFIX,
                                 "--image-id", image, "--env-file", str(tmp / "irs.env"),
                                 "--source-buckets", f"{CAMERA}/2026/"], timeout=300)
        deployment.settings = _outputs((tmp / "irs.env").read_text())
        assert deployment.settings["IRS_SOURCE_BUCKETS"] == f"{CAMERA}/2026/"
        s3 = session.client("s3", endpoint_url=endpoint)
        for bucket, key in ((CAMERA, "2026/dog.jpg"), (CAMERA, "private/dog.jpg"), (OTHER, "dog.jpg")):
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=(IMAGES / "dog.jpg").read_bytes())
        _announce_results(session, endpoint, deployment.settings["IRS_RESULTS_BUCKET"])
        iam, sts = session.client("iam", endpoint_url=endpoint), session.client("sts", endpoint_url=endpoint)
        for role in ROLES:  # what the instance metadata service would hand a host of this role
            arn = iam.get_role(RoleName=f"{PREFIX}-{role}")["Role"]["Arn"]
            keys = sts.assume_role(RoleArn=arn, RoleSessionName=f"test-{role}")["Credentials"]
            deployment.credentials[role] = {"AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
                                            "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
                                            "AWS_SESSION_TOKEN": keys["SessionToken"]}
        # An administrator of the account: a user of its own, since the evaluator knows no root keys.
        iam.create_user(UserName="administrator")
        iam.put_user_policy(UserName="administrator", PolicyName="all", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        admin = iam.create_access_key(UserName="administrator")["AccessKey"]
        deployment.credentials["admin"] = {"AWS_ACCESS_KEY_ID": admin["AccessKeyId"],
                                           "AWS_SECRET_ACCESS_KEY": admin["SecretAccessKey"]}
        request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"X-IRS-Emulator-Token": EMULATOR_TOKEN,
                                                  "Content-Type": "text/plain"})
        assert json.load(urllib.request.urlopen(request))["status"] == "ok"  # noqa: S310 - loopback
        # From here on every request is authorized by the evaluator, the administrator's too.
        for device in DEVICES:
            settings = _outputs(deployment.run("admin", [sys.executable, "-m", "irs.cli", "edge", "add-device",
                                                         device]))
            assert settings["IRS_DEVICE_ID"] == device and settings["IRS_QUEUE_PREFIX"] == f"{PREFIX}-"
            deployment.credentials[device] = {k: v for k, v in settings.items() if k.startswith("AWS_")}
        deployment.images.mkdir()
        (deployment.images / "dog.jpg").write_bytes((IMAGES / "dog.jpg").read_bytes())
        deployment.client("pi2", "s3").put_object(Bucket=deployment.settings["IRS_INPUT_BUCKET"],
                                                  Key="uploads/devices/pi2/private.jpg",
                                                  Body=(IMAGES / "dog.jpg").read_bytes())
        yield deployment
    finally:
        server.terminate()
        server.wait(10)


def _announce_results(session: Any, endpoint: str, bucket: str) -> None:
    """What the template asks of the results bucket, applied through the S3 API: moto's CloudFormation leaves a
    bucket's NotificationConfiguration out, and without it the web tier would hear of no result."""
    topics = session.client("sns", endpoint_url=endpoint).list_topics()["Topics"]
    arn = next(t["TopicArn"] for t in topics if t["TopicArn"].endswith(f":{PREFIX}-results"))
    asked = template.build()["Resources"]["ResultsBucket"]["Properties"]["NotificationConfiguration"]
    session.client("s3", endpoint_url=endpoint).put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"TopicConfigurations": [{
            "TopicArn": arn, "Events": [c["Event"]],
            "Filter": {"Key": {"FilterRules": c["Filter"]["S3Key"]["Rules"]}}} for c in asked["TopicConfigurations"]]})


def _worker(deployment: Deployment, identity: str, queues: str, **extra: str) -> Worker:
    pool = CLOUD if identity == "worker" else EDGE
    env = deployment.env(identity, IRS_POOL_NAME=pool, **extra)
    return Worker(f"lp-{identity}", pool, concurrency=1, extra_env=env, queues=queues)


def test_the_web_tier_and_a_cloud_worker_serve_an_upload_each_with_its_own_role(deployment: Deployment) -> None:
    """With API tokens required, as on AWS: the web role must read them (it could not, before this test)."""
    token = deployment.run("admin", [sys.executable, "-m", "irs.cli", "web", "token", "create", "lp-user"]).split()[-1]
    worker = _worker(deployment, "worker", CLOUD)
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "irs.cli", "web", "--port", str(port)], cwd=ROOT,
                           env=deployment.env("web", IRS_WEB_AUTH="true"),
                           stdout=(ARTIFACTS / "lp-web.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        base, caller = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        wait_until(lambda: _ready(base, caller), 60, "the web app")
        dog = {"files": ("dog.jpg", (IMAGES / "dog.jpg").read_bytes(), "image/jpeg")}
        # The default model, then a repository model only the administrator may add: the web pins it, the worker
        # fetches it, each with its own role's reads of models/.
        for model, label in ((None, "dog"), ("lp-things", "thing-16")):
            accepted = httpx.post(f"{base}/api/v1/images", files=dog, data={"model": model} if model else None,
                                  headers=caller, timeout=30)
            assert accepted.status_code == 202, accepted.text
            result = httpx.get(base + accepted.json()["requests"][0]["result_url"], params={"wait": 60},
                               headers=caller, timeout=90)
            assert result.status_code == 200, result.text
            assert result.json()["status"] == "ok" and label in result.json()["summary"], result.json()
            if model is None:
                deployment.run("admin", [sys.executable, "-m", "irs.cli", "model", "add", "lp-things", *_things()])
    finally:
        web.terminate()
        web.wait(20)
        worker.stop()
    for log in (worker.text(), (ARTIFACTS / "lp-web.log").read_text()):
        assert "AccessDenied" not in log


def _things() -> list[str]:
    """yolo-fastest-1.1's files with its labels renamed thing-<n>, as `irs model add` options."""
    source = MODELS / "yolo-fastest-1.1"
    names = ARTIFACTS / "lp-things.names"
    names.write_text("\n".join(f"thing-{n}" for n in range(80)))
    return ["--cfg", str(source / "yolo-fastest-1.1.cfg"), "--weights", str(source / "yolo-fastest-1.1.weights"),
            "--names", str(names)]


def _ready(base: str, caller: dict[str, str]) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/status", headers=caller, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_cloud_worker_reads_a_listed_source_bucket_and_nothing_else_of_it(deployment: Deployment) -> None:
    worker = _worker(deployment, "worker", "cloud,jobs")
    code = """if True:
        import json
        from irs.pools import JOBS
        from irs.tasks import classify
        found = [classify.apply_async((url,), queue=JOBS).get(timeout=90) for url in {urls!r}]
        print(json.dumps([[d["status"], d.get("error_kind"), d["summary"]] for d in found]))"""
    urls = [f"s3://{CAMERA}/2026/dog.jpg", f"s3://{CAMERA}/private/dog.jpg", f"s3://{OTHER}/dog.jpg"]
    try:
        listed, unlisted, other = deployment.python("admin", code.format(urls=urls))  # who runs `irs job`
    finally:
        worker.stop()
    assert listed[0] == "ok" and "dog" in listed[2]
    assert unlisted[:2] == other[:2] == ["error", "forbidden"]  # refused by the worker before it asked S3
    assert "AccessDenied" not in worker.text()


def test_the_autoscaler_launches_tags_drains_and_terminates_a_host_and_rescues_an_edge_request(
        deployment: Deployment) -> None:
    web_sqs = deployment.client("web", "sqs")
    edge = web_sqs.get_queue_url(QueueName=f"{PREFIX}-{EDGE}")["QueueUrl"]
    web_sqs.send_message(QueueUrl=edge, MessageBody="stranded")  # no edge worker lives to serve it
    found = deployment.python("autoscaler", """if True:
        import json
        from irs.cli.autoscale import _provider
        from irs.janitor.rebalance import Rebalancer
        provider = _provider("ec2", 20, 0)
        ids = provider.launch(1)
        launched = [h.id for h in provider.hosts()]
        provider.drain(ids)
        provider.terminate(ids)
        print(json.dumps({"ids": ids, "launched": launched, "left": [h.id for h in provider.hosts()],
                          "rescued": Rebalancer().turn()}))""")
    assert len(found["ids"]) == 1 and found["ids"] == found["launched"] and found["left"] == []
    assert found["rescued"] == 1
    cloud = web_sqs.get_queue_url(QueueName=f"{PREFIX}-{CLOUD}")["QueueUrl"]
    depth = web_sqs.get_queue_attributes(QueueUrl=cloud, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "1"
    # One whole decision of the controller and one round of the janitor (the watch queue's notices taken, the
    # jobs followed), as `irs autoscale` runs them.
    said = deployment.run("autoscaler", [sys.executable, "-m", "irs.cli", "autoscale", "--provider", "ec2", "--once"])
    assert "failed" not in said, said


def test_an_edge_device_serves_its_own_queue_and_the_shared_edge_queue(deployment: Deployment) -> None:
    worker = _worker(deployment, "pi1", f"{EDGE},device-pi1", IRS_DEVICE_ID="pi1",
                     IRS_LOCAL_IMAGE_DIR=str(deployment.images))
    code = """if True:
        import json
        from pathlib import Path
        from irs.client import upload
        from irs.tasks import classify
        key = {key!r}
        if {upload!r}:
            upload(Path({path!r}), key)
        print(json.dumps(classify.apply_async((key,), queue={queue!r}).get(timeout=90)))"""
    try:
        own = deployment.python("pi1", code.format(key="uploads/devices/pi1/dog.jpg", upload=False, path="",
                                                   queue="device-pi1"),
                                IRS_DEVICE_ID="pi1", IRS_LOCAL_IMAGE_DIR=str(deployment.images))
        shared_work = deployment.python("web", code.format(key="uploads/lp-shared/dog.jpg", upload=True,
                                                           path=str(IMAGES / "dog.jpg"), queue=EDGE))
    finally:
        worker.stop()
    assert own["status"] == "ok" and "dog" in own["summary"] and own["source"].endswith("on device pi1")
    assert shared_work["status"] == "ok" and shared_work["pool"] == EDGE and shared_work["worker"].startswith("lp-pi1")
    assert "AccessDenied" not in worker.text()


@dataclass(frozen=True)
class Forbidden:
    identity: str
    service: str
    operation: str
    params: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.identity}-{self.operation}"


UPLOADS, RESULTS = "{IRS_INPUT_BUCKET}", "{IRS_RESULTS_BUCKET}"
QUEUE = "{endpoint}/123456789012/" + PREFIX + "-{name}"
FORBIDDEN = [
    Forbidden("worker", "ec2", "terminate_instances", {"InstanceIds": ["i-0123456789abcdef0"]}),
    Forbidden("worker", "ec2", "run_instances", {"ImageId": "ami-12c6146b", "MinCount": 1, "MaxCount": 1}),
    Forbidden("worker", "s3", "put_object", {"Bucket": UPLOADS, "Key": "uploads/forged.jpg", "Body": b"x"}),
    Forbidden("worker", "s3", "put_object", {"Bucket": RESULTS, "Key": "autoscaler/state.json", "Body": b"{}"}),
    Forbidden("worker", "sqs", "set_queue_attributes", {"QueueUrl": QUEUE.replace("{name}", CLOUD),
                                                        "Attributes": {"VisibilityTimeout": "1"}}),
    Forbidden("worker", "iam", "create_user", {"UserName": "intruder"}),
    Forbidden("worker", "s3", "put_object", {"Bucket": RESULTS, "Key": "web/tokens/forged.json", "Body": b"{}"}),
    Forbidden("web", "s3", "put_object", {"Bucket": RESULTS, "Key": "web/tokens/forged.json", "Body": b"{}"}),
    # The model repository: read by those that send or serve requests, written by an administrator only.
    Forbidden("worker", "s3", "put_object", {"Bucket": RESULTS, "Key": "models/m/manifest.json", "Body": b"{}"}),
    Forbidden("web", "s3", "put_object", {"Bucket": RESULTS, "Key": "models/m/manifest.json", "Body": b"{}"}),
    Forbidden("web", "s3", "delete_object", {"Bucket": RESULTS, "Key": "models/m/manifest.json"}),
    Forbidden("pi1", "s3", "put_object", {"Bucket": RESULTS, "Key": "models/m/manifest.json", "Body": b"{}"}),
    Forbidden("autoscaler", "s3", "get_object", {"Bucket": RESULTS, "Key": "models/m/manifest.json"}),
    Forbidden("web", "s3", "put_object", {"Bucket": RESULTS, "Key": "results/uploads/forged.jpg.json", "Body": b"{}"}),
    Forbidden("web", "s3", "put_object", {"Bucket": RESULTS, "Key": "fleet/cloud/i-forged.json", "Body": b"{}"}),
    Forbidden("web", "sqs", "receive_message", {"QueueUrl": QUEUE.replace("{name}", CLOUD)}),
    Forbidden("web", "sqs", "delete_queue", {"QueueUrl": QUEUE.replace("{name}", CLOUD)}),
    Forbidden("web", "ec2", "run_instances", {"ImageId": "ami-12c6146b", "MinCount": 1, "MaxCount": 1}),
    Forbidden("autoscaler", "s3", "get_object", {"Bucket": UPLOADS, "Key": "uploads/devices/pi2/private.jpg"}),
    Forbidden("autoscaler", "s3", "put_object", {"Bucket": RESULTS, "Key": "results/forged.json", "Body": b"{}"}),
    Forbidden("autoscaler", "sqs", "set_queue_attributes", {"QueueUrl": QUEUE.replace("{name}", EDGE),
                                                            "Attributes": {"VisibilityTimeout": "1"}}),
    Forbidden("autoscaler", "iam", "create_access_key", {"UserName": f"{PREFIX}-device-pi1"}),
    Forbidden("pi1", "s3", "get_object", {"Bucket": UPLOADS, "Key": "uploads/devices/pi2/private.jpg"}),
    Forbidden("pi1", "s3", "put_object", {"Bucket": UPLOADS, "Key": "uploads/devices/pi2/forged.jpg", "Body": b"x"}),
    Forbidden("pi1", "s3", "put_object", {"Bucket": RESULTS, "Key": "fleet/edge/pi2.json", "Body": b"{}"}),
    Forbidden("pi1", "s3", "put_object", {"Bucket": RESULTS, "Key": "fleet/cloud/i-forged.json", "Body": b"{}"}),
    Forbidden("pi1", "s3", "put_object", {"Bucket": RESULTS, "Key": "autoscaler/state.json", "Body": b"{}"}),
    Forbidden("pi1", "s3", "put_object", {"Bucket": RESULTS, "Key": "web/tokens/forged.json", "Body": b"{}"}),
    Forbidden("pi1", "s3", "get_object", {"Bucket": RESULTS, "Key": "web/tokens/any.json"}),
    Forbidden("pi1", "sqs", "receive_message", {"QueueUrl": QUEUE.replace("{name}", "device-pi2")}),
    Forbidden("pi1", "sqs", "receive_message", {"QueueUrl": QUEUE.replace("{name}", CLOUD)}),
    Forbidden("pi1", "sqs", "set_queue_attributes", {"QueueUrl": QUEUE.replace("{name}", "device-pi1"),
                                                     "Attributes": {"VisibilityTimeout": "1"}}),
    Forbidden("pi1", "sqs", "create_queue", {"QueueName": f"{PREFIX}-device-pi3"}),
    Forbidden("pi1", "ec2", "describe_instances", {}),
    Forbidden("pi1", "iam", "list_users", {}),
    # Source buckets: the workers read the listed prefix only; nobody else reads them at all.
    Forbidden("worker", "s3", "get_object", {"Bucket": CAMERA, "Key": "private/dog.jpg"}),
    Forbidden("worker", "s3", "get_object", {"Bucket": OTHER, "Key": "dog.jpg"}),
    Forbidden("worker", "s3", "list_objects_v2", {"Bucket": CAMERA, "Prefix": "2026/"}),
    Forbidden("worker", "s3", "put_object", {"Bucket": CAMERA, "Key": "2026/forged.jpg", "Body": b"x"}),
    Forbidden("autoscaler", "s3", "get_object", {"Bucket": CAMERA, "Key": "2026/dog.jpg"}),
    Forbidden("web", "s3", "get_object", {"Bucket": CAMERA, "Key": "2026/dog.jpg"}),
    Forbidden("pi1", "s3", "get_object", {"Bucket": OTHER, "Key": "dog.jpg"}),
    # Jobs' notices are published by the autoscaler's janitor only; the watch queue is its alone to read.
    Forbidden("worker", "sns", "publish", {"TopicArn": f"arn:aws:sns:us-east-1:123456789012:{PREFIX}-events",
                                           "Message": "forged"}),
    Forbidden("web", "sns", "publish", {"TopicArn": f"arn:aws:sns:us-east-1:123456789012:{PREFIX}-events",
                                        "Message": "forged"}),
    Forbidden("web", "sqs", "receive_message", {"QueueUrl": QUEUE.replace("{name}", "watch")}),
    Forbidden("worker", "sqs", "receive_message", {"QueueUrl": QUEUE.replace("{name}", "watch")}),
    Forbidden("web", "s3", "put_object", {"Bucket": RESULTS, "Key": "jobs/forged/job.json", "Body": b"{}"}),
    Forbidden("worker", "s3", "put_object", {"Bucket": RESULTS, "Key": "jobs/forged/job.json", "Body": b"{}"}),
]


@pytest.mark.parametrize("forbidden", FORBIDDEN, ids=str)
def test_what_an_identity_may_not_do_is_denied(deployment: Deployment, forbidden: Forbidden) -> None:
    values = {**deployment.settings, "endpoint": deployment.endpoint}
    params = {k: v.format(**values) if isinstance(v, str) else v for k, v in forbidden.params.items()}
    call = getattr(deployment.client(forbidden.identity, forbidden.service), forbidden.operation)
    with pytest.raises(ClientError) as refused:
        call(**params)
    assert _refused(refused.value, DENIED), refused.value.response["Error"]


def _refused(error: ClientError, codes: tuple[str, ...]) -> bool:
    """Refused with one of these codes (moto answers SQS's JSON protocol with an XML body botocore can't parse)."""
    found = error.response["Error"]
    return found["Code"] in codes or any(f"<Code>{code}</Code>" in found.get("Message", "") for code in codes)


def test_a_removed_device_is_locked_out(deployment: Deployment) -> None:
    sqs = deployment.client("pi2", "sqs")
    own = QUEUE.format(endpoint=deployment.endpoint, name="device-pi2")
    sqs.get_queue_attributes(QueueUrl=own, AttributeNames=["QueueArn"])  # allowed while it is a device
    deployment.run("admin", [sys.executable, "-m", "irs.cli", "edge", "remove-device", "pi2"])
    with pytest.raises(ClientError) as refused:
        sqs.get_queue_attributes(QueueUrl=own, AttributeNames=["QueueArn"])
    assert _refused(refused.value, ("InvalidClientTokenId",)), refused.value.response["Error"]


def _json(document: Any) -> str:
    """A policy document as JSON text (moto hands back CloudFormation's inline policies as Python reprs)."""
    if isinstance(document, str):
        try:
            return json.dumps(json.loads(document))
        except json.JSONDecodeError:
            document = ast.literal_eval(document)
    return json.dumps(document)


def test_every_policy_as_deployed_passes_the_iam_linter(deployment: Deployment) -> None:
    """What the evaluator does not check (conditions, condition keys, action-resource pairs), the linter reads:
    each role's and each device's policy as IAM holds it once deployed, with every name filled in."""
    from parliament import analyze_policy_string

    iam = deployment.client("admin", "iam")
    documents = {role: iam.get_role_policy(RoleName=f"{PREFIX}-{role}", PolicyName=role)["PolicyDocument"]
                 for role in ROLES}
    documents["pi1"] = iam.get_user_policy(UserName=f"{PREFIX}-device-pi1", PolicyName=POLICY_NAME)["PolicyDocument"]
    findings = {name: [(f.issue, detail["action"]) for f in analyze_policy_string(_json(document)).findings
                       for detail in (f.detail if isinstance(f.detail, list) else [{"action": f.detail}])]
                for name, document in documents.items()}
    assert {name: [f for f in found if f not in LINTER_FINDINGS_ACCEPTED] for name, found in findings.items()} == {
        name: [] for name in documents}


#: What the linter reports and AWS is right to allow, and why.
LINTER_FINDINGS_ACCEPTED = {
    # The linter reads each statement alone and asks every resource type of RunInstances of it; the autoscaler's
    # RunInstances is split in two statements so that only the instance and volume carry the fleet-tag condition.
    ("RESOURCE_MISMATCH", "ec2:RunInstances"),
}
