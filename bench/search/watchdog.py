"""A watchdog that ends the private local Ray with the process that started it.

`ray.shutdown()` stops the private Ray when the driver ends normally or by an exception; a driver killed outright
(SIGKILL, the out-of-memory killer) runs no code, and the Ray processes it started outlive it: the raylet and GCS
notice within seconds, but the dashboard and runtime-env agents linger for about a minute. The watchdog is a small
separate process (its own session: a terminal's Ctrl-C does not reach it) that polls the driver and keeps a list
of the Ray processes: those whose command line names the session's folder, and every descendant of the driver (the
agents and workers rename themselves, ray::DashboardAgent, and carry no path, but are the raylet's children). When
the driver is gone it stops them, SIGTERM first, then SIGKILL, each only if its start time is still the one seen.
It leaves on its own once the session's processes are gone (a driver that shut its Ray down and goes on, as a test
process does). Linux only (/proc); elsewhere nothing is started.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Runs with `python -c`: no import of bench (or torch) in the watchdog, which must start and poll cheaply.
SCRIPT = r"""
import os, signal, sys, time

driver, session = int(sys.argv[1]), sys.argv[2].encode()
me = os.getpid()


def table():
    # pid -> (parent, start time, command line) of every process
    rows = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    rows[int(entry)] = (int(fields[1]), fields[19], f.read())
            except (OSError, IndexError, ValueError):
                pass
    return rows


def alive(pid):
    try:
        return not open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def ray_processes(rows):
    # the session's processes (by command line) and every descendant of the driver: the agents and workers rename
    # themselves (ray::DashboardAgent, ray::IDLE) and keep no session path, but are the raylet's children
    children = {}
    for pid, (parent, _, _) in rows.items():
        children.setdefault(parent, []).append(pid)
    todo = children.get(driver, []) + [pid for pid, (_, _, cmd) in rows.items() if session in cmd]
    found = {}
    while todo:
        pid = todo.pop()
        if pid in found or pid in (me, driver) or pid not in rows:
            continue
        found[pid] = rows[pid][1]
        todo += children.get(pid, [])
    return found


def stop(known, sig):
    rows = table()
    for pid, started in known.items():
        if pid in rows and rows[pid][1] == started:  # the same process, not a new one with a reused pid
            try:
                os.kill(pid, sig)
            except OSError:
                pass


known, tick = {}, 0
while True:
    time.sleep(0.5)
    tick += 1
    if not alive(driver):
        stop(known, signal.SIGTERM)
        time.sleep(2)
        stop(known, signal.SIGKILL)
        break
    if tick % 4 == 1:
        known = ray_processes(table())
        if tick > 20 and not any(session in cmd for _, _, cmd in table().values() if cmd):
            break
"""


def start_watchdog(session_dir: str | Path) -> subprocess.Popen | None:
    """Start the watchdog of the Ray session whose folder is `session_dir`, for this process as its driver."""
    if not Path("/proc/self/cmdline").exists():
        return None
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(os.getpid()), str(session_dir)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
