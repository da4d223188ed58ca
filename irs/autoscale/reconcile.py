"""What the autoscaler knows of each host: the provider's list of hosts, joined with the workers' own reports.

Pure, so the simulator runs it too. A host is what the provider says exists
(an instance, a local process); its worker's report says whether it is busy,
since when it is idle, and whether it is the always-on one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from irs.autoscale.policy import Instance
from irs.autoscale.providers import Host
from irs.fleet.schemas import WorkerReport


def instances(hosts: Iterable[Host], reports: Mapping[str, WorkerReport]) -> tuple[Instance, ...]:
    """Each host as the policy sees it."""
    joined = []
    for host in hosts:
        report = reports.get(host.id)
        # A running host that has not reported yet may already hold work: treat it as busy.
        busy = report.busy if report else host.state == "running"
        joined.append(Instance(host.id, host.state, host.launched_at,
                               host.always_on or bool(report and report.always_on), busy,
                               report.idle_since if report and not busy else None))
    return tuple(joined)
