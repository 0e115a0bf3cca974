"""The experiment engine: search spaces as data (space.py; the YAML files ship in bench/search_spaces/), the
fair-comparison protocol (protocol.py), its searcher with two proposers (TPE, LR grid) and its Ray Tune driver
for sweeps (tune.py), the FAQ's experiments as cells run by the same searcher on an executor (experiment.py,
executors.py), the trial function both use (trial.py), GPU shares (resources.py). Importing it changes nothing
in the process: the environment Ray needs is set by tune.ray_session while a sweep runs."""
