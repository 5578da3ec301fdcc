"""CPU accounting for the multi-process benchmarks (Linux /proc): what each party used.

On a shared machine wall-clock figures swing with everyone else's load, so the benchmarks
report CPU seconds per party: worker processes (and their forked children), the database
server's backends serving the benchmark's own database, the Redis server (the whole server:
other users of the same Redis are included, so it is an upper bound), and the whole
machine's busy time over the run (everyone's, for context).
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children (/proc), in seconds."""
    total = 0.0
    for proc in [pid, *children(pid)]:
        total += own_cpu_seconds(proc)
    return total


def own_cpu_seconds(pid: int) -> float:
    """utime + stime of one process; 0 when it is gone or not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found + [g for c in found for g in children(c)]


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by all cores since boot (/proc/stat), everyone included."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


def postgres_backends(conn, database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to `database` (same machine)."""
    from sqlalchemy import text  # noqa: PLC0415

    pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": database}).scalars()
    return {pid: own_cpu_seconds(pid) for pid in pids}


def redis_server_seconds(client) -> float:
    """CPU seconds the Redis server used since it started (INFO cpu), all its clients included."""
    info = client.info("cpu")
    return float(info.get("used_cpu_user", 0.0)) + float(info.get("used_cpu_sys", 0.0))
