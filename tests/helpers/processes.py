"""What a running process costs, read from /proc (Linux), for tests and benchmarks alike."""

from __future__ import annotations

from pathlib import Path


def rss_mb(pid: int) -> float:
    """A process's resident memory, in MB (0 when it has none to report)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
