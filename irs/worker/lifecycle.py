"""A worker's life on an elastic fleet: report its state, drain on request, stop itself when idle.

Runs in the worker's consumer process as a Celery bootstep, with one small thread.

**Draining** (on SIGTERM or SIGUSR2, on an ``irs-drain`` instance tag read
through the instance metadata service, or when an ephemeral worker has been
idle for ``IRS_IDLE_SHUTDOWN_S``):

1. stop consuming: the queue is cancelled on the consumer's own event loop;
2. wait for the receive already in flight to come back. Whatever it brings is
   released at once by kombu, because nobody consumes that queue any more.
   This is what avoids the long-poll trap: a worker that simply stops leaves
   its last long poll open, and a message sent then is delivered to nobody and
   stays invisible for the whole visibility timeout;
3. wait for the tasks it holds to finish;
4. Celery's own warm shutdown. On EC2, the worker's service then powers the
   host off, which terminates it.

So ``kill -TERM`` (what systemd and the local provider send) drains first; it
takes up to one long poll (``wait_time_seconds``) longer than a bare Celery
worker to stop. SIGQUIT is still Celery's cold shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import urllib.request
from collections import OrderedDict
from typing import Any

from celery import bootsteps
from celery.worker import state
from celery.worker.request import Request

from irs import metrics
from irs.aws.clients import AWS_ERRORS, backoff
from irs.contract import model_of, split_ref
from irs.fleet import reports
from irs.fleet.liveness import HEARTBEAT_S, REPORT_MIN_GAP_S
from irs.fleet.schemas import MAX_MODELS
from irs.inference.registry import installed
from irs.settings import get_settings

logger = logging.getLogger(__name__)
TICK_S = 1.0
IMDS_EVERY_S = 5.0


class ServiceTime:
    """Moving averages of task run times, overall and by model, kept in the consumer process for the fleet
    report (the most recently served models' only)."""

    weight = 0.2

    def __init__(self) -> None:
        self.ms: float | None = None
        self.by_model: OrderedDict[str, float] = OrderedDict()
        self.lock = threading.Lock()  # observed on the consumer's thread, read on the report's

    def record(self, seconds: float, model: str) -> None:
        ms = seconds * 1000
        with self.lock:
            self.ms = self._moved(self.ms, ms)
            self.by_model[model] = self._moved(self.by_model.get(model), ms)
            self.by_model.move_to_end(model)
            while len(self.by_model) > MAX_MODELS:
                self.by_model.popitem(last=False)

    def models(self) -> dict[str, float]:
        with self.lock:
            return dict(self.by_model)

    def _moved(self, average: float | None, ms: float) -> float:
        return ms if average is None else (1 - self.weight) * average + self.weight * ms


SERVICE_TIME = ServiceTime()


class TimedRequest(Request):
    """Celery's request, noting each task's run time for the fleet report.

    Celery's worker subclasses the task's Request class and replaces ``on_success``
    without calling ours (celery/celery#4526, still open in 5.7), so the time is
    taken from when the pool accepted the task until the worker acknowledges it
    (late acknowledgement: after it finished).
    """

    _accepted_at: float | None = None

    def on_accepted(self, pid: int, time_accepted: float) -> Any:
        self._accepted_at = time.monotonic()
        return super().on_accepted(pid, time_accepted)

    def acknowledge(self) -> Any:
        if self._accepted_at is not None:
            ref = model_of(self.args, self.kwargs)
            SERVICE_TIME.record(time.monotonic() - self._accepted_at,
                                 split_ref(ref)[0] if ref else get_settings().model)
            self._accepted_at = None
        return super().acknowledge()


class Lifecycle(bootsteps.StartStopStep):
    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        settings = get_settings()
        # A device reports as itself: fleet/edge/<device>.json is the one report its identity may write.
        self.instance_id = settings.instance_id or settings.device_id or f"{socket.gethostname()}-{os.getpid()}"
        self.pool = settings.pool_name
        self.always_on = settings.always_on
        self.idle_shutdown_s = settings.idle_shutdown_s
        self.imds_url = settings.imds_url
        self.models = installed(settings)[:MAX_MODELS]  # what this worker can serve, said in its report
        self.started_at = time.time()
        self.drain_requested = threading.Event()
        self.drained = threading.Event()
        self.stopping = threading.Event()
        self.celery_on_term: Any = None
        self.thread: threading.Thread | None = None
        self.consumer: Any = None
        self.drain_began = 0.0
        self.slots = 1

    def start(self, parent: Any) -> None:
        self.consumer = parent
        self.slots = getattr(parent.controller, "concurrency", None) or 1
        # Runs after Celery installed its handlers (they are set before the consumer starts).
        self.celery_on_term = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGUSR2, self._on_term)
        self.thread = threading.Thread(target=self._run, name="irs-lifecycle", daemon=True)
        self.thread.start()

    def _on_term(self, signum: int, frame: Any) -> None:
        """Drain first; once drained, hand over to Celery's warm shutdown."""
        if self.drained.is_set() and callable(self.celery_on_term):
            self.celery_on_term(signum, frame)
        else:
            self.drain_requested.set()

    def stop(self, parent: Any) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join(5)
        try:
            reports.remove(self._report(busy=False, idle_since=None))
        except AWS_ERRORS as error:
            logger.warning("could not remove this worker's fleet report: %s", error)

    # -- the loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        idle_since: float | None = time.time()
        last: tuple[bool, bool, int, float | None] | None = None
        written, imds_checked = 0.0, 0.0
        failures, retry_at = 0, 0.0  # reports that could not be written, in a row; when to try again
        while not self.stopping.wait(TICK_S):
            now = time.time()
            busy = bool(state.active_requests or state.reserved_requests)
            idle_since = None if busy else (idle_since or now)
            if self.imds_url and now - imds_checked >= IMDS_EVERY_S:
                imds_checked = now
                if self._tagged_for_drain():
                    self.drain_requested.set()
            if (not self.always_on and self.idle_shutdown_s and idle_since
                    and now - idle_since >= self.idle_shutdown_s and not self.drain_began):
                logger.info("idle for %.0f s: draining and stopping", now - idle_since)
                self.drain_requested.set()
            if self.drain_requested.is_set() and not self.drain_began:
                self._stop_consuming()
            draining = bool(self.drain_began)
            # The service time too: it is noted just after the count moves, and a report written in
            # between would otherwise carry the old one until the next heartbeat.
            current = (busy, draining, state.all_total_count[0], SERVICE_TIME.ms)
            metrics.record_worker(self.pool, self.instance_id, busy, state.all_total_count[0], SERVICE_TIME.ms)
            due = (current != last and now - written >= REPORT_MIN_GAP_S) or now - written >= HEARTBEAT_S \
                or (draining and last is not None and not last[1])
            if due and now >= retry_at:
                try:
                    reports.write(self._report(busy, idle_since))
                except AWS_ERRORS as error:  # logged once; tried again with backoff until S3 answers
                    if not failures:
                        logger.warning("could not write this worker's fleet report (trying again): %s", error)
                    failures += 1
                    retry_at = now + backoff(failures)
                else:
                    if failures:
                        logger.warning("fleet report written again, after %d failed attempt(s)", failures)
                    written, last, failures = now, current, 0
            if draining and not busy and self._polls_settled(now):
                logger.info("drained: nothing in flight; stopping")
                self.drained.set()
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def _report(self, busy: bool, idle_since: float | None) -> reports.WorkerReport:
        return reports.WorkerReport(
            instance_id=self.instance_id, pool=self.pool, always_on=self.always_on, busy=busy, idle_since=idle_since,
            processed=state.all_total_count[0], started_at=self.started_at, updated_at=time.time(),
            draining=bool(self.drain_began), slots=self.slots, service_ms=SERVICE_TIME.ms,
            service_ms_by_model=SERVICE_TIME.models(),
            device=get_settings().device_id, model=split_ref(get_settings().model)[0], models=self.models)

    # -- draining -----------------------------------------------------------------------------------
    def _stop_consuming(self) -> None:
        self.drain_began = time.time()
        queues = [q.name for q in self.consumer.task_consumer.queues]
        logger.info("draining: no longer consuming from %s", ", ".join(queues))
        for queue in queues:
            self.consumer.hub.call_soon(self.consumer.cancel_task_queue, queue)

    def _polls_settled(self, now: float) -> bool:
        """True once no receive is in flight (or one poll's longest wait has passed)."""
        channel = getattr(self.consumer.task_consumer, "channel", None)
        receiving = getattr(channel, "receiving", 0)
        longest = float(getattr(channel, "wait_time_seconds", 20)) + 5
        waited = now - self.drain_began
        return (receiving == 0 and waited >= TICK_S) or waited >= longest

    def _tagged_for_drain(self) -> bool:
        """Whether the instance carries the irs-drain tag (IMDSv2, tags in metadata enabled)."""
        try:
            token_request = urllib.request.Request(
                f"{self.imds_url}/latest/api/token", method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
            with urllib.request.urlopen(token_request, timeout=2) as response:
                token = response.read().decode()
            tag_request = urllib.request.Request(f"{self.imds_url}/latest/meta-data/tags/instance/irs-drain",
                                                 headers={"X-aws-ec2-metadata-token": token})
            with urllib.request.urlopen(tag_request, timeout=2) as response:
                return bool(response.read().strip())
        except OSError:
            return False  # no such tag (404), or no metadata service
