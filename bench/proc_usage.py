"""CPU time and memory of processes and process trees, read from /proc (Linux), for
bench/e2e.py. A tree's CPU is its live members' own time plus what each has collected from
children it reaped (``cutime``/``cstime``), so a process that comes and goes inside a
measured window (a PostgreSQL backend, a training child) still counts once its parent has
reaped it."""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    name: str
    cpu: float
    """Seconds of user + system time of the process itself."""
    reaped: float
    """Seconds of user + system time of the children it has waited for."""


def read_proc(pid: int) -> Proc | None:
    """One process from /proc/<pid>/stat; ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()  # fields[0] is the state, field 3 of stat(5)
    utime, stime, cutime, cstime = (int(x) / TICKS for x in fields[11:15])
    return Proc(pid, int(fields[1]), name, utime + stime, cutime + cstime)


def all_processes() -> dict[int, Proc]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := read_proc(int(entry))) is not None:
            found[proc.pid] = proc
    return found


def tree(processes: dict[int, Proc], roots: Iterable[int]) -> list[Proc]:
    """``roots`` and all their live descendants."""
    children: defaultdict[int, list[int]] = defaultdict(list)
    for proc in processes.values():
        children[proc.ppid].append(proc.pid)
    members, pending = [], [r for r in roots if r in processes]
    while pending:
        pid = pending.pop()
        members.append(processes[pid])
        pending.extend(children[pid])
    return members


def tree_cpu(processes: dict[int, Proc], roots: Iterable[int]) -> float:
    """CPU seconds of a process tree so far, its reaped children included."""
    return sum(p.cpu + p.reaped for p in tree(processes, roots))


def roots_named(processes: dict[int, Proc], name: str) -> list[int]:
    """The processes called ``name`` whose parent is not (a server's main processes)."""
    def parent_name(proc: Proc) -> str | None:
        parent = processes.get(proc.ppid)
        return parent.name if parent is not None else None

    return [p.pid for p in processes.values() if p.name == name and parent_name(p) != name]


def rss_bytes(pid: int) -> int | None:
    """Resident memory (VmRSS) of a process; ``None`` when it is gone."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs; idle and iowait excluded)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS


def child_pids(pid: int) -> list[int]:
    """The live children of a process (of all its threads: a child started from a worker
    thread is listed under that thread)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(x) for x in f.read().split()]
    return found


def descendant_pids(pid: int) -> list[int]:
    found, pending = [], child_pids(pid)
    while pending:
        child = pending.pop()
        found.append(child)
        pending += child_pids(child)
    return found
