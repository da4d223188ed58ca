"""Upkeep that no request waits for: stranded edge requests moved to the cloud, queues of dead consumers removed.

:mod:`irs.janitor.schedule` runs each job on its own interval, in the
autoscaler's process but apart from its loop; the jobs are in the other modules.
"""
