"""Every Celery setting IRS uses, derived from :mod:`irs.settings`.

Loaded by ``app.config_from_object("irs.celeryconfig")``. Change behaviour
through ``IRS_*`` environment variables rather than by editing this file.
"""

from __future__ import annotations

from kombu import Queue

from irs.settings import get_settings

_settings = get_settings()
_broker_url, _transport_options = _settings.celery_broker()

# --- broker: SQS through kombu ---------------------------------------------------
broker_url = _broker_url
# With monitoring on, the transport that bridges remote control and events on SQS (irs.control).
broker_transport = "irs.control:Transport" if _settings.monitoring else "irs.transport:Transport"
broker_transport_options = {
    **_transport_options,
    "supports_fanout": _settings.monitoring,  # fanout exchanges (control, events) through SNS topics
    "polling_interval": 0,  # with long polling, an empty poll already waited
    "visibility_timeout": _settings.visibility_timeout,
}
broker_connection_retry_on_startup = True

# --- queues: provisioned up front by `irs provision`, each with a dead-letter queue ---
POOLS = ("cloud", "edge")
QUEUES = (*POOLS, _settings.device_queue) if _settings.device_queue else POOLS  # plus an edge device's own
task_queues = [Queue(name) for name in QUEUES]
task_default_queue = "cloud"
task_create_missing_queues = False
task_routes = ("irs.routing.router.route",)  # edge or cloud, whichever answers sooner

# --- JSON only ------------------------------------------------------------------------
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# --- delivery: at least once, never lost ------------------------------------------------
task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure = False  # a task that failed for good is rejected: dead-lettered
task_acks_on_timeout = False
worker_prefetch_multiplier = 1
task_time_limit = _settings.task_time_limit
task_soft_time_limit = max(1, _settings.task_time_limit - 10)

# --- results: the result document in S3 -----------------------------------------------------
result_backend = "irs.backend:S3DocumentBackend"
result_expires = None  # documents expire by the bucket's lifecycle rule (IRS_RESULT_TTL_DAYS)

# --- workers -----------------------------------------------------------------------------------------
worker_concurrency = _settings.concurrency
worker_enable_remote_control = _settings.monitoring  # needs irs.control's bridges on SQS
worker_send_task_events = _settings.monitoring
task_send_sent_event = _settings.monitoring
timezone = "UTC"
