"""How old a report may be before it no longer describes the fleet: every age derived from one heartbeat.

A worker rewrites its report whenever its state changes (at most every
``REPORT_MIN_GAP_S``) and at least every ``HEARTBEAT_S``; the autoscaler
republishes its state every tick, which is shorter.
"""

from __future__ import annotations

HEARTBEAT_S = 30.0
REPORT_MIN_GAP_S = 5.0  # a busy worker's report changes all the time; it is written at most this often
MISSED_HEARTBEATS = 3

#: A worker unheard of for three heartbeats is gone: its report is ignored, and the edge it served is empty.
WORKER_GONE_S = MISSED_HEARTBEATS * HEARTBEAT_S
#: The autoscaler's state says nothing about what is booting once it is two heartbeats old.
AUTOSCALER_STATE_STALE_S = 2 * HEARTBEAT_S
#: A router's view of the pools older than one heartbeat is not trusted: the reports behind it have moved on.
ROUTER_VIEW_STALE_S = HEARTBEAT_S


def alive(updated_at: float, now: float) -> bool:
    """Whether a report written at ``updated_at`` still speaks for a live worker at ``now``."""
    return now - updated_at < WORKER_GONE_S
