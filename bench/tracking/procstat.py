"""Process-tree accounting from /proc (Linux only, no third-party deps).

The server under test is whatever process tree hangs off the PID we started:
MLflow forks uvicorn, which spawns workers, plus a job runner with huey
consumers; Slipway is one process.  Everything here sums over that tree.
"""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _read_stat(pid):
    """Return the /proc/<pid>/stat fields after the command name, or None.

    Index i of the returned list is stat field i+3 (man 5 proc): [0]=state,
    [1]=ppid, [11]=utime, [12]=stime, [13]=cutime, [14]=cstime,
    [19]=starttime, [21]=rss (pages).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return data[data.rfind(")") + 2:].split()


def tree_pids(root):
    """PIDs of root and all its live descendants (one scan of /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _read_stat(name)
        if st is None:
            continue
        children.setdefault(int(st[1]), []).append(int(name))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        if _read_stat(pid) is None:
            continue
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def tree_snapshot(root):
    """{pid: starttime} for the tree, used to kill leftovers safely later."""
    snap = {}
    for pid in tree_pids(root):
        st = _read_stat(pid)
        if st is not None:
            snap[pid] = st[19]
    return snap


def still_same_process(pid, starttime):
    st = _read_stat(pid)
    return st is not None and st[19] == starttime


def tree_cpu_seconds(root):
    """utime+stime of every live process in the tree, plus cutime+cstime
    (CPU of children that already exited and were reaped by a tree member).
    Each unit of CPU is counted exactly once.  Resolution: 1/CLK_TCK s."""
    ticks = 0
    for pid in tree_pids(root):
        st = _read_stat(pid)
        if st is None:
            continue
        ticks += int(st[11]) + int(st[12]) + int(st[13]) + int(st[14])
    return ticks / CLK_TCK


def _pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def tree_memory(root):
    """RSS summed over the tree (counts shared pages once per process, the
    usual 'what top shows' figure) and PSS summed (shared pages split
    proportionally, closer to real footprint), both in bytes."""
    rss = pss = 0
    pids = tree_pids(root)
    for pid in pids:
        st = _read_stat(pid)
        if st is None:
            continue
        rss += int(st[21]) * PAGE_SIZE
        pss += _pss_kb(pid) * 1024
    return {"processes": len(pids), "rss_bytes": rss, "pss_bytes": pss}
