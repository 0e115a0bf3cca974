"""User-facing errors: caught at the CLI boundary and printed as one line with exit code 2."""
from __future__ import annotations

import errno
import functools
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

from bench.config import ConfigError

F = TypeVar("F", bound=Callable)


class DatasetMissing(FileNotFoundError):
    """A dataset is absent and could not be fetched; the message says where we looked and what to do. Defined here,
    not with the data loaders, so that the CLI can catch it without importing torch."""


USER_ERRORS = (ConfigError, DatasetMissing)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> None:
    """Handle SIGTERM (`kill`, a batch scheduler's time limit) and SIGHUP (the terminal closed) like Ctrl-C, so
    that every command ends through its interrupt path: finished results saved, worker processes stopped,
    temporary folders removed, a message saying how to continue."""
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:  # nohup's SIG_IGN stays: the user asked to survive it
        signal.signal(signal.SIGHUP, _interrupt)


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
        except OSError as e:  # a full disk outside the result store's own writes (which name their file)
            if e.errno not in FULL:
                raise
            print(f"error: cannot write {e.filename or 'output'} ({e.strerror}); free some space or pass another --out",
                  file=sys.stderr)
            raise typer.Exit(2) from None
    return wrapper  # type: ignore[return-value]
