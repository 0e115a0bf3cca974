"""Sweeps: search spaces as data (space.py; the YAML files ship in bench/search_spaces/), the fair-comparison
protocol (protocol.py), its Ray Tune driver (tune.py), GPU shares (resources.py). Importing it changes nothing
in the process: the environment Ray needs is set by tune.ray_session while a sweep runs."""
