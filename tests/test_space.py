"""Search spaces: every shipped file loads; levels tune exactly their own nuisance parameters; each class of
bad file is refused before anything runs, with one line naming the file, the key and the problem (exit 2)."""
import pytest
import yaml
from optuna.distributions import FloatDistribution, IntDistribution
from typer.testing import CliRunner

from bench.cli import app
from bench.components.optimizers import OPTIMIZERS
from bench.components.regularizers import REGULARIZERS
from bench.config import ConfigError
from bench.search.space import available, load_space

runner = CliRunner()

GOOD = {"compare": "optimizer", "levels": ["sgd", "adam"], "workloads": ["mnist1d-cnn"],
        "tune": {"lr": {"min": 1.0e-4, "max": 1.0, "scaling": "log"}},
        "budget": {"trials_per_level": 2, "epochs": 2, "seeds": 2}}


def test_shipped_spaces_are_the_documented_ones():
    assert {"optimizers", "schedules", "activations", "regularizers", "losses"} <= set(available())


@pytest.mark.parametrize("name", available())
def test_every_shipped_space_loads_and_round_trips(name):
    space = load_space(name)
    assert space.name == name and space.source.endswith(f"{name}.yaml")
    for level in space.levels:
        assert space.tuned(level)[0] == "lr"  # the learning rate is tuned for every level
        dists = space.distributions(level)
        assert set(dists) == set(space.tuned(level))
        for key, dist in dists.items():
            r = space.tune[key]
            bounds = (1 - r.max, 1 - r.min) if r.scaling == "log1m" else (r.min, r.max)
            assert (dist.low, dist.high) == pytest.approx(bounds) and dist.log == (r.scaling != "linear")
    for version in (space, space.quick_version()):
        assert load_space(version.to_dict()).to_dict() == version.to_dict()
    quick = space.quick_version().budget
    for w in space.workloads:
        assert quick.trials_per_level <= space.budget.trials_per_level
        assert quick.epochs_for(w) <= space.budget.epochs_for(w)
        assert quick.grace_for(w) <= quick.epochs_for(w) or not quick.asha


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_optimizer_levels_tune_their_own_hyperparameters(optimizer):
    space = load_space("optimizers")
    expected = {"lr", "weight_decay", *OPTIMIZERS[optimizer].hyperparams} & set(space.tune)
    assert set(space.tuned(optimizer)) == expected
    if optimizer == "sgd":
        assert space.tuned("sgd") == ("lr", "weight_decay")  # weight decay is tuned for every level
    if optimizer in ("adam", "adamw"):
        assert set(space.tuned(optimizer)) == {"lr", "beta1", "beta2", "eps", "weight_decay"}
    if optimizer == "rmsprop":
        assert set(space.tuned(optimizer)) == {"lr", "alpha", "eps", "weight_decay"}


def test_log1m_samples_one_minus_the_value_on_a_log_scale_and_decodes_back():
    space = load_space("optimizers")
    assert space.distributions("adam")["beta2"] == FloatDistribution(1 - 0.9999, 1 - 0.9, log=True)
    assert space.distributions("adam")["beta1"].high == pytest.approx(0.5)  # beta1 up to 0.99
    sampled = {"lr": 0.01, "beta2": 1e-3, "beta1": 0.1, "eps": 1e-8, "weight_decay": 1e-4}
    values = space.decode(sampled)
    assert values["beta2"] == pytest.approx(0.999) and values["beta1"] == pytest.approx(0.9) and values["lr"] == 0.01
    assert space.encode(values) == pytest.approx(sampled)
    assert space.decode({"beta2": 1e-12})["beta2"] == 0.9999  # clamped into its range against rounding
    # Uniform in log(1 - beta2): as many draws in [0.9, 0.99] as in [0.99, 0.999]
    import numpy as np
    draws = 1 - 10 ** np.random.default_rng(0).uniform(np.log10(1e-4), np.log10(0.1), 30000)
    assert abs(((draws < 0.99).mean()) - 1 / 3) < 0.01 and abs(((draws > 0.999).mean()) - 1 / 3) < 0.01
    bad = {**GOOD, "tune": {**GOOD["tune"], "beta2": {"min": 0.9, "max": 1.0, "scaling": "log1m"}}}
    with pytest.raises(ConfigError, match=r"tune.beta2: a log1m range .* must be of a float and lie below 1"):
        load_space(bad)
    with pytest.raises(ConfigError, match=r"tune.lr.scaling: expected one of linear, log, log1m, got 'exp'"):
        load_space({**GOOD, "tune": {"lr": {"min": 1e-4, "max": 1.0, "scaling": "exp"}}})
    with pytest.raises(ConfigError, match=r"tune.lr.every_level: expected true or false"):
        load_space({**GOOD, "tune": {"lr": {"min": 1e-4, "max": 1.0, "every_level": "yes"}}})


def test_regularizer_levels_apply_their_settings_and_tune_their_strength():
    space = load_space("regularizers")
    for level in space.levels:
        cfg = space.base_config(level, "mnist1d-cnn")
        for key, value in REGULARIZERS[level].settings.items():
            assert getattr(cfg, key) == value
    assert "dropout" in space.tuned("dropout") and "dropout" not in space.tuned("none")
    assert "weight_decay" in space.tuned("l2") and space.base_config("weight_decay", "mnist1d-cnn").wd_mode == "decoupled"


def test_log_and_integer_ranges_become_the_right_distributions():
    space = load_space({**GOOD, "compare": "activation", "levels": ["relu"], "fixed": {"optimizer": "sgd"},
                        "tune": {"lr": {"min": 0.01, "max": 0.5}}})
    assert space.distributions("relu") == {"lr": FloatDistribution(0.01, 0.5, log=False)}  # linear by default
    assert load_space(GOOD).distributions("adam") == {"lr": FloatDistribution(1e-4, 1.0, log=True)}
    regs = load_space({**GOOD, "compare": "regularizer", "levels": ["none", "early_stopping"], "fixed": {"optimizer": "sgd"},
                       "tune": {"lr": GOOD["tune"]["lr"], "early_stop": {"min": 1, "max": 8}}})
    assert regs.distributions("early_stopping")["early_stop"] == IntDistribution(1, 8)
    assert "early_stop" not in regs.distributions("none")
    with pytest.raises(ConfigError, match=r"tune.early_stop.max: early_stop is an integer field, got 8.5"):
        load_space({**GOOD, "compare": "regularizer", "levels": ["early_stopping"],
                    "tune": {"lr": GOOD["tune"]["lr"], "early_stop": {"min": 1, "max": 8.5}}})


def test_epochs_per_workload():
    space = load_space({**GOOD, "workloads": ["mnist1d-cnn", "mnist1d-gru"],
                        "budget": {"epochs": {"mnist1d-cnn": 12, "mnist1d-gru": 4}, "quick": {"epochs": 2}}})
    assert space.base_config("adam", "mnist1d-cnn").epochs == 12 and space.base_config("adam", "mnist1d-gru").epochs == 4
    assert (space.budget.grace_for("mnist1d-cnn"), space.budget.grace_for("mnist1d-gru")) == (3, 1)
    assert space.quick_version().base_config("sgd", "mnist1d-gru").epochs == 2
    assert load_space(space.to_dict()).to_dict() == space.to_dict()
    with pytest.raises(ConfigError, match=r"budget.epochs: per-workload epochs must name exactly the workloads "
                                          r"mnist1d-cnn, mnist1d-gru \(check mnist1d-gru\)"):
        load_space({**GOOD, "workloads": ["mnist1d-cnn", "mnist1d-gru"], "budget": {"epochs": {"mnist1d-cnn": 12}}})
    with pytest.raises(ConfigError, match=r"budget.quick.epochs.mnist1d-cnn: expected an integer >= 1, got 0"):
        load_space({**GOOD, "budget": {"quick": {"epochs": {"mnist1d-cnn": 0}}}})


def test_startup_design_is_a_latin_hypercube_on_each_scale():
    import numpy as np

    from bench.search.space import latin_hypercube

    space = load_space("optimizers")
    dists = {**space.distributions("adam"), "k": IntDistribution(1, 8)}
    points = latin_hypercube(dists, 4, seed=7)
    assert points == latin_hypercube(dists, 4, seed=7) != latin_hypercube(dists, 4, seed=8)
    for name, d in dists.items():
        values = np.array([p[name] for p in points], dtype=float)
        assert ((values >= d.low) & (values <= d.high)).all()
        if name == "k":
            assert all(isinstance(p["k"], int) for p in points)
            continue
        scaled = (np.log(values) - np.log(d.low)) / (np.log(d.high) - np.log(d.low)) if d.log else \
            (values - d.low) / (d.high - d.low)
        assert sorted(np.floor(scaled * 4).astype(int)) == [0, 1, 2, 3], name  # each quarter of the range once
    lrs = sorted(p["lr"] for p in points)
    lo, hi = dists["lr"].low, dists["lr"].high
    e1, e2, e3 = (lo * (hi / lo) ** (k / 4) for k in (1, 2, 3))  # quarters of the log range (1e-4 to 3: ~1.1 decades)
    assert lrs[0] < e1 <= lrs[1] < e2 <= lrs[2] < e3 <= lrs[3]  # one LR per quarter, on the log scale


def test_compared_field_without_lr_range_needs_no_tuning():
    space = load_space({**GOOD, "compare": "lr", "levels": [0.01, 1000.0], "fixed": {"optimizer": "sgd"}, "tune": {}})
    assert space.tuned(0.01) == () and space.base_config(1000.0, "mnist1d-cnn").lr == 1000.0


def test_quick_overrides_only_the_budget():
    space = load_space({**GOOD, "budget": {**GOOD["budget"], "epochs": 8, "quick": {"epochs": 2, "seeds": 1}}})
    quick = space.quick_version()
    assert (quick.budget.epochs, quick.budget.seeds, quick.budget.trials_per_level) == (2, 1, 2)
    assert quick.budget.grace_for("mnist1d-cnn") == 1 and space.budget.grace_for("mnist1d-cnn") == 2
    assert quick.levels == space.levels
    assert quick.budget.final_seeds() == (1,) and space.budget.final_seeds() == (1, 2)


def test_unknown_sweep_name_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown sweep 'optimisers'; choose one of: .*optimizers"):
        load_space("optimisers")


def _with(**changes):
    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = doc
        for p in parents:
            node = node[p]
        node[leaf] = value
    return doc


BAD = [  # (document, key named in the message, problem named in the message)
    (_with(budgte={"epochs": 2}), "budgte", "unknown key; valid keys: name, description, compare"),
    (_with(tune__lr={"min": 1e-4, "maxx": 1.0, "scaling": "log"}), "tune.lr.maxx", "unknown key; valid keys: min, max, scaling"),
    (_with(fixed={"widht": 8}), "fixed.widht", "unknown key"),
    (_with(budget__quick={"epoch": 2}), "budget.quick.epoch", "unknown key"),
    (_with(levels=["sgd", "adamm"]), "levels[1]", "unknown optimizer 'adamm'; choose one of: sgd"),
    (_with(fixed={"schedule": "cosin"}), "fixed", "unknown schedule 'cosin'; choose one of: constant"),
    (_with(compare="regularizer", levels=["dropout", "dropuot"]), "levels[1]", "unknown regularizer 'dropuot'"),
    (_with(workloads=["mnist2d"]), "workloads[0]", "unknown workload 'mnist2d'; choose one of: mnist1d-cnn"),
    (_with(tune__lr={"min": 0.1, "max": 0.1, "scaling": "log"}), "tune.lr", "empty range (min == max == 0.1)"),
    (_with(tune__lr={"min": 1.0, "max": 0.001, "scaling": "log"}), "tune.lr", "min 1.0 > max 0.001; swap them"),
    (_with(tune__lr={"min": 0.0, "max": 1.0, "scaling": "log"}), "tune.lr", "a log range must lie above 0, got min 0.0"),
    (_with(tune__lr={"min": "1e-4", "max": 1.0, "scaling": "log"}), "tune.lr.min", "write it with a dot, e.g. 1.0e-04"),
    (_with(tune__lr={"min": 1e-4, "max": 1.0, "scaling": "exp"}), "tune.lr.scaling", "expected one of linear, log, log1m"),
    (_with(tune__dropout={"min": 0.1, "max": 1.5}), "tune.dropout", "dropout must be in [0, 1)"),
    (_with(tune__momentum={"min": 0.5, "max": 0.9}), "tune.momentum", "no level uses it"),
    (_with(tune__activation={"min": 0, "max": 1}), "tune.activation", "only numeric fields can be tuned"),
    (_with(tune={"momentum": {"min": 0.5, "max": 0.9}}), "tune.lr", "the learning rate is tuned for every level"),
    (_with(fixed={"seed": 3}), "fixed.seed", "set by the sweep; use budget.seed"),
    (_with(fixed={"optimizer": "sgd"}), "fixed.optimizer", "the compared choice"),
    (_with(compare="optimiser"), "compare", "'optimiser' is not a config field to compare"),
    (_with(levels=[]), "levels", "non-empty list"),
    (_with(levels=["sgd", "sgd"]), "levels[1]", "'sgd' is listed twice"),
    (_with(budget__epochs=0), "budget.epochs", "expected an integer >= 1, got 0"),
    (_with(budget__grace_epochs=5), "budget.grace_epochs", "5 exceeds the 2 epochs"),
]


@pytest.mark.parametrize("doc,key,problem", BAD, ids=[f"{k}:{p[:24]}" for _, k, p in BAD])
def test_bad_space_is_one_line_naming_file_key_and_problem(tmp_path, doc, key, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output
    assert lines[0].startswith(f"error: {path}: {key}: ") and problem in lines[0], lines[0]
    assert not (tmp_path / "runs").exists()  # refused before anything ran or was written


@pytest.mark.parametrize("text,problem", [
    ("compare: optimizer\nlevels: [sgd\n", "invalid YAML at line 3"),
    ("", "the file is empty"),
    ("- compare\n- optimizer\n", "expected a mapping"),
    ("compare: optimizer\nlevels: [sgd]\n", "workloads: missing (required)"),
    ("!!python/object/apply:os.system ['echo pwned']\n", "invalid YAML"),  # safe loading: no object construction
])
def test_unparseable_files_are_refused(tmp_path, text, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path)])
    assert res.exit_code == 2 and problem in res.stderr and str(path) in res.stderr, res.output


def test_missing_file_and_resume_folder_are_user_errors(tmp_path):
    res = runner.invoke(app, ["sweep", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "not found" in res.stderr
    res = runner.invoke(app, ["sweep", "--resume", str(tmp_path)])
    assert res.exit_code == 2 and "is not a sweep run folder" in res.stderr
    res = runner.invoke(app, ["sweep"])
    assert res.exit_code == 2 and "name a sweep" in res.stderr


def test_yaml_numbers_without_a_dot_get_a_hint():
    with pytest.raises(ConfigError, match=r"fixed: .*lr.*YAML reads 1e-3 as text"):
        load_space({**GOOD, "compare": "activation", "levels": ["relu"], "fixed": {"lr": "1e-3"}})


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw", "rmsprop"])
def test_quick_budget_tunes_the_lr_alone_at_the_optimizers_published_defaults(optimizer):
    # Schmidt et al. 2021's small-budget protocol at --quick; the full budget keeps the wide search (Choi et al. 2019).
    space = load_space("optimizers")
    quick = space.quick_version()
    assert quick.tuned(optimizer) == ("lr",) and set(quick.distributions(optimizer)) == {"lr"}
    assert set(space.tuned(optimizer)) == {"lr", "weight_decay", *OPTIMIZERS[optimizer].hyperparams}
    cfg = quick.base_config(optimizer, "mnist1d-gru")
    assert (cfg.momentum, cfg.beta1, cfg.beta2, cfg.eps, cfg.alpha) == (0.9, 0.9, 0.999, 1e-8, 0.99)
    assert cfg.weight_decay == (1e-2 if optimizer == "adamw" else 0.0)  # AdamW's default decay: else it is Adam


def test_a_budgets_tuned_parameters_must_have_ranges():
    with pytest.raises(ConfigError, match=r"budget.quick.tuned: 'momentumm' has no range under tune; choose from lr"):
        load_space({**GOOD, "budget": {**GOOD["budget"], "quick": {"tuned": ["momentumm"]}}})
    with pytest.raises(ConfigError, match=r"budget.tuned: expected a list of tuned parameter names such as \[lr\]"):
        load_space({**GOOD, "budget": {**GOOD["budget"], "tuned": "lr"}})
