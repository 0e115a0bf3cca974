"""The experiment engine: one protocol (protocol.py: groups tuned on the same budget, confirmed on a second seed,
re-run on fresh seeds) fed by three front-ends -- search spaces as data (space.py; the YAML files ship in
search_spaces/), the FAQ's experiments (experiment.py) and the gradient studies (bench/studies) -- whose
trials one searcher hands out (tune.py: TPE, an LR grid, or fixed configs), one trainable runs (trial.py) and a
runner places (runners.py: Ray Tune on a local Ray or a cluster, or in this process for tests); GPU shares in
resources.py. Importing it changes nothing in the process: the environment Ray needs is set by tune.ray_session
while a run is on."""
