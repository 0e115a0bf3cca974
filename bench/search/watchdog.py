"""A watchdog that ends the private local Ray with the process that started it.

`ray.shutdown()` stops the private Ray when the driver ends normally or by an exception; a driver killed outright
(SIGKILL, the out-of-memory killer) runs no code, and the Ray processes it started outlive it: the raylet and GCS
notice within seconds, but the dashboard and runtime-env agents linger for about a minute. The watchdog is a small
separate process (its own session: a terminal's Ctrl-C does not reach it) that polls the driver; when the driver
is gone it stops every process whose command line names the Ray session's folder (each of that Ray's processes
carries it), SIGTERM first, then SIGKILL. It leaves on its own once the session's processes are gone (a driver
that shut its Ray down and goes on, as a test process does). Linux only (/proc); elsewhere nothing is started.
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


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not open(f"/proc/{pid}/stat").read().split(") ")[-1].startswith("Z")


def session_pids():
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (me, driver):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if session in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def stop(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


tick = 0
while True:
    time.sleep(0.5)
    tick += 1
    if not alive(driver):
        stop(session_pids(), signal.SIGTERM)
        deadline = time.monotonic() + 3
        while session_pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        stop(session_pids(), signal.SIGKILL)
        break
    if tick % 10 == 0 and not session_pids():
        break
"""


def start_watchdog(session_dir: str | Path) -> subprocess.Popen | None:
    """Start the watchdog of the Ray session whose folder is `session_dir`, for this process as its driver."""
    if not Path("/proc/self/cmdline").exists():
        return None
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(os.getpid()), str(session_dir)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
