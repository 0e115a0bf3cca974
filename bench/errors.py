"""User-facing errors: caught at the CLI boundary and printed as one line with exit code 2."""
from __future__ import annotations

import errno
import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from bench.config import ConfigError

F = TypeVar("F", bound=Callable)


class DatasetMissing(FileNotFoundError):
    """A dataset is absent and could not be fetched; the message says where we looked and what to do. Defined here,
    not with the data loaders, so that the CLI can catch it without importing torch."""


USER_ERRORS = (ConfigError, DatasetMissing)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C's KeyboardInterrupt is, so that both end a command the same way;
    only the exit status differs (128 + the signal's number, as the shell reports a process the signal ended)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class PlanIncomplete(RuntimeError):
    """A plan's runner returned while trials the plan needs have no result: nothing may be judged from it."""


_received: list[int] = []  # the interrupting signals this command received, whatever became of their exceptions


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP. A library that catches our Terminated and raises a plain
    KeyboardInterrupt in its place (Ray's and Tune's code on the driver do, depending on where the signal lands)
    does not change the status: the signal received decides it."""
    if isinstance(interrupt, Terminated):
        return 128 + interrupt.signum
    return 128 + _received[0] if _received else 130


def _raise(signum: int) -> None:
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def _interrupt(signum: int, frame: object) -> None:
    _received.append(signum)
    _raise(signum)


def raise_if_interrupted() -> None:
    """Raise the first interrupt received since the run began (forget_interrupts) again, for loops that must not go
    on after one. The signal's own exception can be lost in the driver's libraries: a Ctrl-C sent mid-sweep under
    load once let every trial finish and the sweep exit 0, without Tune's handler acting (where the exception went
    was not found). Recorded by bench's handler, it still stops the run at the loop's next step."""
    if _received:
        _raise(_received[0])


def _unraisable(info: object) -> None:
    """sys.unraisablehook while a command runs. A signal that lands while a finalizer runs raises its interrupt
    inside `__del__`, where Python cannot raise it: it prints "Exception ignored" with a traceback and drops it (seen
    in Ray's ActorHandle.__del__ on the driver: the Ctrl-C that got lost mid-sweep). That interrupt is recorded and
    raise_if_interrupted raises it again at the run's next step, so its traceback is not printed; anything else is
    reported as Python does."""
    if isinstance(getattr(info, "exc_value", None), KeyboardInterrupt) and _received:
        return
    sys.__unraisablehook__(info)


def forget_interrupts() -> None:
    """A run begins: an interrupt recorded before it belonged to an earlier run in this process (a notebook that
    ran a sweep, pressed Ctrl-C and runs another), whose exception was raised and handled then."""
    _received.clear()


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then raise them: for writes that an interrupt must not cut in
    half (Optuna's journal file lock, interrupted inside, leaves a rename behind and ends in FileNotFoundError)."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    caught: list[int] = []
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in handlers:
        signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if caught:
        _interrupt(caught[0], None)


def signals_as_interrupts() -> None:
    """Handle Ctrl-C (SIGINT), SIGTERM (`kill`, a batch scheduler's time limit) and SIGHUP (the terminal closed)
    alike, so that every command ends through its interrupt path: finished results saved, worker processes stopped,
    temporary folders removed, a message saying how to continue. Each is recorded as it arrives
    (raise_if_interrupted)."""
    forget_interrupts()  # a new command (the CLI installs this first): no signal received yet
    sys.unraisablehook = _unraisable
    signal.signal(signal.SIGTERM, _interrupt)
    for sig in (signal.SIGINT, signal.SIGHUP):
        # an ignored SIGINT (a job started in the background by a script) or SIGHUP (nohup) stays ignored
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _interrupt)


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def user_errors(fn: F) -> F:
    """Turn user errors raised anywhere below a CLI command into `error: ...` on stderr and exit 2."""
    import typer

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(2) from None
        except PlanIncomplete as e:  # not the user's doing, and not a result: exit 1 before anything is judged
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(1) from None
        except OSError as e:  # a full disk outside the result store's own writes (which name their file)
            if e.errno not in FULL:
                raise
            print(f"error: cannot write {e.filename or 'output'} ({e.strerror}); free some space or pass another --out",
                  file=sys.stderr)
            raise typer.Exit(2) from None
    return wrapper  # type: ignore[return-value]
