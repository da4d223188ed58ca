"""Typed settings, read once from the environment (and an optional env file).

Every knob IRS has lives here or in :mod:`irs.celeryconfig`, which derives
Celery's settings from these. Variables are prefixed ``IRS_``; the env file
(``irs.env`` in the working directory, or ``IRS_ENV_FILE``) is written by
``irs up`` so that commands in other shells find the local stack. Real
environment variables always win over the file.
"""

from __future__ import annotations

import getpass
import os
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from irs.contract import OWNER_NAME, owner_name
from irs.pools import CLOUD, device_queue
from irs.sources import Location, rules

DEFAULT_ENV_FILE = "irs.env"
LOCAL_ENDPOINT = "http://127.0.0.1:4566"
#: Messages a worker may hold per process: one running and one waiting, so no process idles while the next
#: receive is under way, and a waiting message starts within one task's time limit.
PREFETCH_MULTIPLIER = 2


#: Seconds between a task's soft time limit (it may clean up) and its hard one (it is killed).
SOFT_LIMIT_MARGIN_S = 10


def visibility_timeout(task_time_limit: int) -> int:
    """The queues' visibility timeout: above the longest a message can spend in a worker, so it is never handed
    out twice. It may wait behind a task for up to the hard time limit (PREFETCH_MULTIPLIER), then run for up to
    that limit."""
    return PREFETCH_MULTIPLIER * task_time_limit + 30


def redrive_receives(max_receives: int) -> int:
    """SQS's maxReceiveCount on the task queues: one more than IRS's own limit, so that IRS dead-letters a request
    itself, and answers it, on the receive after its last (:mod:`irs.broker.transport`); SQS's own redrive is
    only the backstop."""
    return max_receives + 1


def default_redrive_receives() -> int:
    """SQS's maxReceiveCount with the default settings: what the template sets."""
    return redrive_receives(Settings.model_fields["max_receives"].default)


def _login_owner() -> str:
    """The login name as an owner's name (``irs`` where it cannot be one, or there is none)."""
    try:
        return owner_name(getpass.getuser())
    except (KeyError, OSError, ValueError):
        return "irs"


def default_visibility_timeout() -> int:
    """The visibility timeout with the default time limit: what a template or a simulation assumes."""
    return visibility_timeout(Settings.model_fields["task_time_limit"].default)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IRS_", env_file=DEFAULT_ENV_FILE, extra="ignore")

    # --- where AWS is -------------------------------------------------------------
    endpoint_url: str | None = Field(
        default=None,
        description="AWS endpoint override (the local emulator; `irs up` uses http://127.0.0.1:4566). Unset means "
        "real AWS.",
    )
    region: str = Field(default="us-east-1", description="AWS region for SQS and S3.")
    emulator: Literal["moto", "localstack"] = Field(default="moto", description="The AWS emulator `irs up` and "
                                                    "the tests start: moto's server, or LocalStack (SQS, S3 and SNS).")
    localstack_python: Path = Field(default=Path(".venv-localstack/bin/python"), description="The Python that runs "
                                    "LocalStack, in its own virtual environment (`make localstack` makes it).")
    broker_url: str | None = Field(
        default=None,
        description="Celery broker URL; its query string carries transport options "
        "(region, queue_name_prefix, wait_time_seconds), e.g. "
        "`sqs://?region=eu-west-1&queue_name_prefix=prod-irs-&wait_time_seconds=10`. Derived from the endpoint "
        "when unset.",
    )
    queue_prefix: str = Field(default="irs-", description="Prefix of every SQS queue name.")
    sqs_wait_time_s: int = Field(default=10, ge=0, le=20, description="How long a worker's receive waits for a "
                                 "message (SQS long polling, at most 20 s): longer means fewer requests while idle; "
                                 "it is also the longest a draining worker waits for its last receive to return.")
    input_bucket: str = Field(default="irs-uploads", description="Bucket that holds uploaded images.")
    results_bucket: str = Field(default="irs-results", description="Bucket that holds result documents.")
    results_prefix: str = Field(default="results/", description="Key prefix of result documents.")
    source_buckets: str = Field(default="", description="Buckets (or BUCKET/PREFIX) the workers may read images "
                                "from besides the input bucket: requests for s3://BUCKET/KEY, as jobs and watches "
                                "send. Comma-separated; the template's SourceBuckets grants the same reads.")
    job_page_size: int = Field(default=1000, ge=1, le=1000, description="Objects a job lists, sends and records "
                               "at a time: a job resumed after a crash sends at most this many again.")
    result_ttl_days: int = Field(default=30, description="Result documents expire after this many days.")
    upload_ttl_days: int = Field(default=7, description="Uploaded images expire after this many days.")

    # --- the worker -------------------------------------------------------------------
    pool_name: str = Field(default=CLOUD, description="Pool this worker serves, recorded in each document: cloud "
                           "or edge.")
    model: str = Field(default="yolo-fastest-1.1-xl", description="Model the worker runs.")
    input_size: int | None = Field(default=None, description="Network input size; the model's own when unset.")
    confidence: float = Field(default=0.25, description="Minimum confidence of a detection.")
    nms_threshold: float = Field(default=0.45, description="IoU threshold of non-maximum suppression.")
    top_k: int = Field(default=5, description="Labels a classifier returns.")
    runtime: Literal["auto", "onnxruntime", "openvino", "opencv"] = Field(
        default="auto", description="Where models run: auto takes ONNX Runtime (the same weights, converted in "
                                    "process, over twice as fast) when installed and the model converts, else OpenCV; "
                                    "openvino only when chosen. Converted graphs are cached under the files' sha256 in "
                                    "IRS_CACHE_DIR/onnx; each result's model.runtime says which ran.")
    precision: Literal["f32", "bf16"] = Field(
        default="f32", description="Arithmetic of inference: bf16 (OpenVINO only) is faster on CPUs with AMX and "
                                   "changes the outputs slightly (docs: Configure, Models).")
    cv_threads: int = Field(
        default=os.cpu_count() or 1,
        description="Inference threads per worker process (ONNX Runtime's or OpenCV's); one per core lets a lone "
                    "request use every core.",
        json_schema_extra={"default_doc": "the number of cores"},
    )
    model_dir: Path | None = Field(default=None, description="Directory of model folders, looked at first.")
    cache_dir: Path = Field(
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "irs",
        description="Where fetched models (and the graphs converted from them) are kept.",
        json_schema_extra={"default_doc": "~/.cache/irs ($XDG_CACHE_HOME/irs)"},
    )
    max_image_bytes: int = Field(default=20 * 1024 * 1024, description="Largest image accepted, in bytes.")
    models_per_process: int = Field(default=3, ge=1, le=16, description="Networks a worker process keeps "
                                    "loaded (the default model and the latest others requests named, least "
                                    "recently used out first).")
    model_cache_bytes: int = Field(default=1024**3, description="Disk a worker may use for repository models' "
                                   "files (least recently used versions deleted first).")
    model_max_bytes: int = Field(default=256 * 1024 * 1024, description="Largest weights file `irs model add` "
                                 "accepts, in bytes (yolov4's are 245 MB).")
    model_max_memory_mb: int = Field(default=1024, ge=64, description="Memory one network may add to a worker "
                                     "process, as `irs model add` measures it: a model over it is refused.")
    model_max_ms: float = Field(default=5000.0, gt=0, description="Milliseconds per image a model may take on one "
                                "thread of the machine that runs `irs model add`: a model over it is refused.")
    max_image_pixels: int = Field(default=40_000_000, description="Largest image accepted, in pixels.")
    task_time_limit: int = Field(default=60, description="Hard limit of one classification, in seconds; "
                                 "the queues' visibility timeout is twice this + 30.")
    max_receives: int = Field(default=3, ge=1, le=100, description="Receives of a request with no answer (each "
                              "worker that ran it died) before IRS dead-letters it and answers dead_lettered.")

    # --- owners: many teams on one deployment ---------------------------------------------------
    owner: str = Field(default_factory=_login_owner, pattern=OWNER_NAME, description="Whose requests this "
                       "process sends when its caller names no owner (`irs classify`, `irs job start`, a watch, "
                       "`classify.delay`); the web tier sends each upload as its token's name.",
                       json_schema_extra={"default_doc": "the login name, lower case"})
    fairness: bool = Field(default=True, description="Share the interactive queues between owners: past its "
                           "burst, an owner's requests wait in the later lane (the jobs queue) behind every other "
                           "owner's, until it pauses (docs: Operate, Many teams).")
    fair_burst: int = Field(default=20, ge=1, le=10_000, description="Requests an owner may send to the "
                            "interactive queues at once, from one process, before the rest wait in the later lane.")
    fair_rate: float = Field(default=2.0, gt=0, le=10_000, description="Requests a second an owner may keep "
                             "sending to the interactive queues, from one process; an owner that paused for "
                             "IRS_FAIR_BURST / IRS_FAIR_RATE seconds is interactive again.")

    service_floor_ms: float = Field(default=0.0, description="Emulation only: pad every classification to "
                                    "at least this long, to make a worker behave like a slower device.")

    # --- an edge device ------------------------------------------------------------------------
    device_id: str | None = Field(default=None, description="This edge device's name. Its worker also serves "
                                  "the queue device-<name>, whose images it reads from local_image_dir, not S3.")
    local_image_dir: Path | None = Field(default=None, description="The device's image directory (what `irs edge "
                                         "watch` watches): images there are served on the device without upload.")
    uplink_mbps: float = Field(default=5.0, description="The device's upload bandwidth in Mb/s, until its own "
                               "uploads have measured it.")

    # --- the worker's place in the fleet ----------------------------------------------------------
    instance_id: str | None = Field(default=None, description="This worker's name in its fleet report "
                                    "(fleet/<pool>/<id>.json in the results bucket); hostname-pid when unset. "
                                    "Providers set it.")
    always_on: bool = Field(default=False, description="The always-on worker: never stops itself when idle.")
    idle_shutdown_s: float = Field(default=0.0, description="An ephemeral worker idle this long drains and "
                                   "stops (0: never).")
    imds_url: str | None = Field(default=None, description="Instance metadata service to read the irs-drain "
                                 "tag from (set on EC2 hosts only).")

    # --- the autoscaler's EC2 hosts ------------------------------------------------------------
    ec2_image_id: str | None = Field(default=None, description="AMI of autoscaled worker hosts (an image "
                                                "with IRS installed in /opt/irs/.venv), or use a launch template.")
    ec2_launch_template: str | None = Field(default=None, description="Launch template name for worker hosts.")
    ec2_instance_type: str = Field(default="c6i.large", description="Instance type of worker hosts.")
    ec2_usd_per_hour: float = Field(default=0.085, ge=0, description="On-demand price of one worker host, in USD "
                                    "an hour (c6i.large in US East): what `irs job start` estimates a job's cost "
                                    "from.")
    ec2_subnet_id: str | None = Field(default=None, description="Subnet worker hosts are launched in.")
    ec2_security_group_ids: str = Field(default="", description="Comma-separated security groups of worker hosts.")
    ec2_instance_profile: str | None = Field(default=None, description="Instance profile (role) of worker hosts.")

    # --- monitoring ------------------------------------------------------------------------------
    monitoring: bool = Field(default=False, description="Remote control (`celery inspect`, `celery control`) "
                             "and task events (Flower, `celery events`) over SQS and SNS (on in `irs up`).")
    flower_port: int = Field(default=5555, description="Port of Flower in the local stack.")
    worker_metrics: str = Field(default="", description="host:port where a worker serves its Prometheus "
                                "metrics (irs_worker_busy, irs_worker_processed, irs_worker_service_seconds, "
                                "results and stage timings); empty: none.")
    monitoring_events: str = Field(
        default="task-succeeded,task-failed,task-rejected,task-revoked,task-retried,worker-*",
        description="Event types sent when monitoring is on (comma-separated; a trailing * matches a "
        "prefix). Each costs an SNS publish plus a delivery per listener; add task-sent, task-received and "
        "task-started to see tasks before they finish.")

    # --- the web tier ----------------------------------------------------------------------------
    web_host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    web_port: int = Field(default=8080, description="Port the web app listens on.")
    web_max_files: int = Field(default=20, description="Images one upload request may carry.")
    web_max_backlog: int = Field(default=2000, description="Above this many requests waiting or in flight, "
                                 "the API answers 503 with Retry-After instead of accepting more.")
    web_auth: bool = Field(default=False, description="Require API tokens on loopback too (they are always "
                           "required when IRS_WEB_HOST is not a loopback address).")
    web_allowed_hosts: str = Field(default="", description="Comma-separated Host names the web app answers, "
                                   "besides loopback and IRS_WEB_HOST (its public name, behind a proxy).")
    web_max_uploads: int = Field(default=8, ge=1, description="Upload requests one web process checks and "
                                 "stores at once, once their bodies have arrived; more are answered 503 with "
                                 "Retry-After. A client still sending its body holds none.")
    web_body_timeout_s: float = Field(default=15.0, gt=0, le=600, description="Longest wait for the next bytes of "
                                      "an upload's body; past it the request is answered 408 and closed.")
    web_body_min_rate: int = Field(default=16 * 1024, ge=0, description="Bytes a second an upload's body must "
                                   "average after its first IRS_WEB_BODY_TIMEOUT_S (0: no minimum); slower "
                                   "is answered 408 and closed.")

    # --- worker processes ------------------------------------------------------------------
    concurrency: int = Field(default=2, description="Processes per worker (`celery worker -c` overrides it).")

    @property
    def visibility_timeout(self) -> int:
        return visibility_timeout(self.task_time_limit)

    @property
    def redrive_receives(self) -> int:
        return redrive_receives(self.max_receives)

    @property
    def task_soft_time_limit(self) -> int:
        """When a task is told to stop (it may still write its answer): SOFT_LIMIT_MARGIN_S before the hard limit."""
        return max(1, self.task_time_limit - SOFT_LIMIT_MARGIN_S)

    @property
    def read_patience_s(self) -> float:
        """How long a task rides out S3 trouble reading its image before it raises for Celery to retry it: half
        its soft limit, which leaves the other half for the model and for writing its answer."""
        return self.task_soft_time_limit / 2

    @field_validator("source_buckets")
    @classmethod
    def _valid_sources(cls, value: str) -> str:
        rules(value)  # a bad entry stops the process at start, with its reason
        return value

    @property
    def sources(self) -> tuple[Location, ...]:
        """The buckets and prefixes of ``source_buckets``."""
        return rules(self.source_buckets)

    @property
    def device_queue(self) -> str | None:
        """The Celery queue of this device's own images, if this is a device."""
        return device_queue(self.device_id)

    @property
    def model_cache_dir(self) -> Path:
        return self.cache_dir / "models"

    def celery_broker(self) -> tuple[str, dict[str, object]]:
        """The broker URL without its query string, and the transport options it carried."""
        url = self.broker_url or self._default_broker_url()
        parts = urlsplit(url)
        options: dict[str, object] = {
            "region": self.region,
            "queue_name_prefix": self.queue_prefix,
            "wait_time_seconds": self.sqs_wait_time_s,
        }
        for key, value in parse_qsl(parts.query):
            options[key] = _coerce(value)
        return f"{parts.scheme}://{parts.netloc}{parts.path}", options

    def _default_broker_url(self) -> str:
        query = urlencode({"region": self.region, "queue_name_prefix": self.queue_prefix})
        if not self.endpoint_url:
            return f"sqs://?{query}"
        endpoint = urlsplit(self.endpoint_url)
        secure = "true" if endpoint.scheme == "https" else "false"
        return f"sqs://{endpoint.netloc}?{query}&is_secure={secure}"


def _coerce(value: str) -> object:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        return value


def env_file() -> str:
    """The env file settings are read from: ``IRS_ENV_FILE``, or ``irs.env`` in the working directory."""
    return os.environ.get("IRS_ENV_FILE", DEFAULT_ENV_FILE)


@cache
def get_settings() -> Settings:
    """This process's settings, read on first use (not at import) and then kept."""
    return Settings(_env_file=env_file())  # type: ignore[call-arg]
