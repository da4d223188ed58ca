"""What the router knows about each pool: read rarely and off the publishing path.

Queue attributes are read at most once per ``QUEUE_TTL_S`` per pool, and the
workers' and the autoscaler's reports once per ``FLEET_TTL_S``, by a background
thread that a stale view wakes; a request routes on the freshest view there is
and never waits for AWS, except the very first one of a process. Between
reads, each pool's backlog is carried forward: drained at the pool's rate and
raised by every request routed there, so a burst submitted within a second
does not all land on whichever pool looked emptiest at its start. Errors leave
no views, which routes to the cloud.

On an edge device (``IRS_DEVICE_ID``) there is a third pool, the device's own
queue: its images need no upload there, while the cloud and the shared edge
queue need them uploaded over the device's uplink, whose speed is learned from
the device's own uploads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from irs.aws import queues
from irs.aws.clients import AWS_OR_NETWORK_ERRORS
from irs.contract import split_ref
from irs.fleet import autoscaler_state, reports
from irs.fleet.liveness import REPORT_MIN_GAP_S, ROUTER_VIEW_STALE_S, WORKER_GONE_S
from irs.inference.registry import REGISTRY
from irs.pools import CLOUD, CLOUD_SERVICE_S, EDGE, JOBS
from irs.routing.policy import Cause, Choice, PoolView, drained
from irs.settings import get_settings

logger = logging.getLogger(__name__)
QUEUE_TTL_S = 1.0
FLEET_TTL_S = REPORT_MIN_GAP_S  # reports change no faster than workers write them
# Service times to assume before any worker of a pool has reported its own: the cloud's from the
# throughput benchmark (CLOUD_SERVICE_S); the edge's that of a slow device. Guessing the edge
# too slow costs a few images' worth of cloud time until its first report; guessing it too fast
# strands a burst on it (measured: with a 0.25 s guess, bench/split_live.py sent 10 % of a
# 210-image burst to a 1.5 s edge, whose images then took a p50 of 17 s).
DEFAULT_SERVICE_S = {CLOUD: CLOUD_SERVICE_S, EDGE: 1.5}
UPLINK_RTT_S = 0.05  # one round trip from a device to the region, on top of the bytes
UPLINK_WEIGHT = 0.3  # how much one measured upload moves the bandwidth estimate


@dataclass
class _Backlog:
    queued: float  # images waiting or in service
    at: float  # when that was true
    read_at: float  # when the queue was last observed


@dataclass(frozen=True)
class _Capacity:
    workers: int
    slots: int
    service_s: float
    measured: bool


def holds(model: str | None, serving: list[reports.WorkerReport]) -> bool:
    """Whether workers that report ``serving`` can serve ``model``: a repository model any worker fetches; a
    built-in one only where a worker holds its files (a worker that does not say is taken to, and so is a pool
    with no live worker to say: capacity still booting)."""
    name = None if model is None else split_ref(model)[0]
    if name is None or name not in REGISTRY or not serving:
        return True
    return any(r.models is None or name in r.models for r in serving)


def capacity(pool: str, serving: list[reports.WorkerReport]) -> _Capacity:
    """What the live, undrained workers ``serving`` a pool can do: at their measured time per image, or the
    pool's assumed one until they have measured it."""
    services = [r.service_ms / 1000 for r in serving if r.service_ms]
    default = DEFAULT_SERVICE_S.get(pool, DEFAULT_SERVICE_S[EDGE])  # a device is an edge worker
    return _Capacity(len(serving), sum(r.slots for r in serving),
                     sum(services) / len(services) if services else default, bool(services))


class Observer:
    def __init__(self) -> None:
        settings = get_settings()
        self.clock = time.monotonic
        self.lock = threading.Lock()
        self.device_queue = settings.device_queue
        self.pools: tuple[str, ...] = (CLOUD, EDGE, self.device_queue) if self.device_queue else (CLOUD, EDGE)
        # Every queue whose depth is read: the pools', and the later lane's where requests may go there (a device
        # may neither send to it nor read it: its own requests are pinned).
        self.lanes = self.pools if self.device_queue else (*self.pools, JOBS)
        self.backlogs: dict[str, _Backlog] = {}
        self.reports: dict[str, reports.WorkerReport] = {}
        self.booting: autoscaler_state.Booting | None = None
        self.reports_at = -FLEET_TTL_S
        self.refreshing = threading.Event()
        self.probes: dict[str, float] = {}  # unmeasured pool -> when a request went to measure it
        self.uplink_bps = settings.uplink_mbps * 1e6 / 8

    def views(self, local_bytes: int | None = None, model: str | None = None) -> dict[str, PoolView] | None:
        """Each pool's view now, or None when there is no fresh enough observation.

        ``local_bytes``: the request is an image of that size on this device, so
        every pool but the device's own needs it uploaded first. ``model``: the
        model the request names, whose time each pool's workers may have reported.
        """
        now = self.clock()
        if not self.backlogs:
            self._refresh()  # the first request of a process waits for one observation
        elif any(now - b.read_at >= QUEUE_TTL_S for b in self.backlogs.values()) and not self.refreshing.is_set():
            self.refreshing.set()
            threading.Thread(target=self._refresh, name="irs-route-observer", daemon=True).start()
        with self.lock:
            stale = any(now - b.read_at > ROUTER_VIEW_STALE_S for b in self.backlogs.values())
            if any(lane not in self.backlogs for lane in self.lanes) or stale:
                return None
            upload_s = UPLINK_RTT_S + local_bytes / self.uplink_bps if local_bytes is not None else 0.0
            views = {pool: self._view(pool, now, 0.0 if pool == self.device_queue else upload_s, model)
                     for pool in self.pools}
        if local_bytes is None:
            views.pop(self.device_queue or "", None)  # only the device's own images can go there
        else:
            views.pop(EDGE, None)  # other devices may not read this device's uploads (irs.deploy.devices)
        return views

    def later_views(self, model: str | None = None) -> dict[str, PoolView] | None:
        """The pools as a request in the later lane sees them: the cloud's workers take it only once their own
        queue and the later lane ahead of it are done."""
        views = self.views(model=model)
        if views is None or CLOUD not in views or JOBS not in self.lanes:
            return views
        with self.lock:
            capacity, later = self._capacity(CLOUD), self.backlogs[JOBS]
            ahead = drained(later.queued, self.clock() - later.at, capacity.slots, capacity.service_s)
        return {**views, CLOUD: replace(views[CLOUD], queued=views[CLOUD].queued + ahead)}

    def sent_to(self, choice: Choice) -> None:
        """A request was routed: count it in its pool's backlog; a measuring request makes the pool probing."""
        pool = choice.pool
        with self.lock:
            if choice.cause == Cause.MEASURING:
                self.probes[pool] = self.clock()
            backlog = self.backlogs.get(pool)
            if backlog is not None:
                now, capacity = self.clock(), self._capacity(CLOUD if pool == JOBS else pool)
                backlog.queued = drained(backlog.queued, now - backlog.at, capacity.slots, capacity.service_s) + 1
                backlog.at = now

    def uploaded(self, size_bytes: int, seconds: float) -> None:
        """Learn the uplink from one upload this device made."""
        if seconds > UPLINK_RTT_S and size_bytes > 0:
            measured = size_bytes / (seconds - UPLINK_RTT_S)
            with self.lock:
                self.uplink_bps += UPLINK_WEIGHT * (measured - self.uplink_bps)

    def _reports(self, pool: str) -> list[reports.WorkerReport]:
        if pool == self.device_queue:  # the device's own worker, which serves the shared edge queue as well
            return [r for r in self.reports.values() if r.device == get_settings().device_id and not r.draining]
        return [r for r in self.reports.values() if r.pool == pool and not r.draining]

    def _capacity(self, pool: str) -> _Capacity:
        return capacity(pool, self._reports(pool))

    def _own_s(self, pool: str, model: str | None) -> float | None:
        """The time the pool's workers reported for ``model`` (by name), or None when none has served it."""
        if model is None:
            return None
        name = split_ref(model)[0]
        times = [r.service_ms_by_model[name] / 1000 for r in self._reports(pool) if name in r.service_ms_by_model]
        return sum(times) / len(times) if times else None

    def _view(self, pool: str, now: float, upload_s: float, model: str | None = None) -> PoolView:
        capacity = self._capacity(pool)
        backlog = self.backlogs[pool]
        queued = drained(backlog.queued, now - backlog.at, capacity.slots, capacity.service_s)
        if pool == self.device_queue:  # its worker takes from the edge queue too
            edge = self.backlogs[EDGE]
            queued += drained(edge.queued, now - edge.at, capacity.slots, capacity.service_s)
        booting = self.booting if pool == CLOUD and self.booting else None
        return PoolView(pool, queued, capacity.workers, capacity.slots, capacity.service_s, upload_s=upload_s,
                        own_s=self._own_s(pool, model), holds_model=holds(model, self._reports(pool)),
                        measured=capacity.measured, probing=self._probing(pool, capacity.measured),
                        booting_slots=booting.slots if booting else 0,
                        boot_remaining_s=booting.remaining_s(time.time()) if booting else 0.0)

    def _probing(self, pool: str, measured: bool) -> bool:
        """Whether a measuring request to ``pool`` is still out; given up on after a worker would count as gone."""
        sent = self.probes.get(pool)
        if sent is None or measured or self.clock() - sent > WORKER_GONE_S:
            self.probes.pop(pool, None)
            return False
        return True

    def _refresh(self) -> None:
        try:
            depths = {lane: self._read_depth(lane) for lane in self.lanes}
            found, booting = None, None
            if self.clock() - self.reports_at >= FLEET_TTL_S:
                found = {**reports.read(CLOUD), **reports.read(EDGE)}
                booting = autoscaler_state.read_booting(CLOUD)
            with self.lock:
                for pool, (queued, read_at) in depths.items():
                    self.backlogs[pool] = _Backlog(queued, read_at, read_at)
                if found is not None:
                    self.reports, self.booting, self.reports_at = found, booting, self.clock()
        except AWS_OR_NETWORK_ERRORS as error:
            logger.warning("cannot observe the pools (%s): routing to the cloud until I can", error)
        except Exception:  # noqa: BLE001 - a fault in one observation must not end observing
            logger.exception("observing the pools failed: routing to the cloud until an observation succeeds")
        finally:
            self.refreshing.clear()

    def _read_depth(self, pool: str) -> tuple[int, float]:
        return queues.pool_depth(pool).backlog, self.clock()
