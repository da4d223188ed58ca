"""Every Celery setting IRS uses, derived from :mod:`irs.settings` by one function.

:func:`configure` is called by the app (:mod:`irs.broker.app`) when Celery
first needs its configuration. Change behaviour through ``IRS_*`` environment
variables rather than by editing this file.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from irs.aws.clients import BACKOFF_MAX_S, CLIENT_CONFIG
from irs.aws.queues import celery_queues
from irs.pools import CLOUD
from irs.settings import PREFETCH_MULTIPLIER, Settings

#: Seconds a publish (and the channel it needs) keeps trying through an SQS outage before it gives up.
PUBLISH_PATIENCE_S = 60


def configure(settings: Settings) -> dict[str, Any]:
    """Celery's settings for this process."""
    broker_url, transport_options = settings.celery_broker()
    return {
        # --- broker: SQS through kombu ------------------------------------------------------
        "broker_url": broker_url,
        # With monitoring on, the transport that bridges remote control and events on SQS.
        "broker_transport": "irs.broker.monitoring:Transport" if settings.monitoring
        else "irs.broker.transport:Transport",
        "broker_transport_options": {
            **transport_options,
            "supports_fanout": settings.monitoring,  # fanout exchanges (control, events) through SNS topics
            "polling_interval": 0,  # with long polling, an empty poll already waited
            "visibility_timeout": settings.visibility_timeout,
            "client-config": CLIENT_CONFIG,  # kombu's boto3 clients retry as IRS's own do
            # Opening a channel (a new process's first publish) rides out an SQS outage of a minute.
            "connect_retries_timeout": PUBLISH_PATIENCE_S,
            "interval_start": 0.5,
            "interval_step": 1,
            "interval_max": BACKOFF_MAX_S,
        },
        "broker_connection_retry_on_startup": True,
        # A publish (a client's request, a task's retry) rides out an SQS outage of a minute.
        "task_publish_retry_policy": {"max_retries": round(PUBLISH_PATIENCE_S / BACKOFF_MAX_S) + 3,
                                      "interval_start": 0.5, "interval_step": 1, "interval_max": BACKOFF_MAX_S},
        # --- queues: provisioned up front by `irs provision`, each with a dead-letter queue ---
        "task_queues": [Queue(name) for name in celery_queues(settings)],
        "task_default_queue": CLOUD,
        "task_create_missing_queues": False,
        "task_routes": ("irs.routing.router.route",),  # edge or cloud, whichever answers sooner
        # --- JSON only --------------------------------------------------------------------------
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # --- delivery: at least once, never lost -------------------------------------------------
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure": False,  # a task that failed for good is rejected: dead-lettered
        "task_acks_on_timeout": False,
        "worker_prefetch_multiplier": PREFETCH_MULTIPLIER,  # the transport receives in batches (irs.broker.transport)
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        # --- results: the result document in S3 ------------------------------------------------------
        "result_backend": "irs.broker.backend:S3DocumentBackend",
        "result_expires": None,  # documents expire by the bucket's lifecycle rule (IRS_RESULT_TTL_DAYS)
        # --- workers -----------------------------------------------------------------------------------
        "worker_concurrency": settings.concurrency,
        "worker_enable_remote_control": settings.monitoring,  # needs irs.broker.monitoring's bridges on SQS
        "worker_send_task_events": settings.monitoring,
        "task_send_sent_event": settings.monitoring,
        "timezone": "UTC",
    }
