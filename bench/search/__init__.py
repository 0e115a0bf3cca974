"""Sweeps: search spaces as data (space.py), the fair-comparison protocol (protocol.py), its Ray Tune driver (tune.py).

Ray reads the variables below when it is imported or a run starts, so they are set here, before any
module of this package can import Ray; a user's own setting wins.
"""
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep an embedded Ray on this host
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline by default: no usage reports
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TensorBoard files per trial
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0 Tune stays silent; the sweep prints its own lines
