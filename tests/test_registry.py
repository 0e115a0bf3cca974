"""The one table of registries, the CLI's defaults taken from TrialConfig, and imports without side effects."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import typer

from bench.cli import app
from bench.config import ConfigError, TrialConfig, parse_text
from bench.registry import REGISTRIES, by_field, check_names
from bench.search.space import _registries
from bench.search.tune import RAY_DEFAULTS


def test_every_registry_backed_field_is_a_config_field_and_its_default_is_a_valid_name():
    defaults = TrialConfig()
    for field, reg in by_field().items():
        assert field in {f.name for f in dataclasses.fields(TrialConfig)}
        assert getattr(defaults, field) in reg.names(), field
    check_names(defaults)


@pytest.mark.parametrize("field", sorted(by_field()))
def test_an_unknown_name_in_any_registry_backed_field_is_refused_with_the_valid_names(field):
    reg = by_field()[field]
    with pytest.raises(ConfigError, match=rf"unknown {field.replace('_', ' ')} 'nope'; choose one of: .*"
                                          rf"{next(iter(reg.entries()))}"):
        check_names(TrialConfig().replace(**{field: "nope"}))


def test_the_search_space_validator_reads_the_same_table():
    regs = _registries()
    assert set(regs) == set(by_field()) | {"regularizer"}
    for field, reg in by_field().items():
        assert regs[field] == reg.names()
    assert regs["regularizer"] is REGISTRIES["regularizers"].entries()


def test_bench_list_shows_every_listed_registry_by_name():
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["list"])
    assert res.exit_code == 0
    for kind, reg in REGISTRIES.items():
        assert (kind in res.output) == reg.listed, kind


def test_run_defaults_are_the_configs_defaults_or_the_recipes():
    """An option of `bench run` either defaults to the config's value or to None, which means the workload's recipe
    decides (and its help says so)."""
    run = typer.main.get_command(app).commands["run"]
    defaults = TrialConfig().to_dict()
    shared = [p for p in run.params if p.name in defaults]
    assert {p.name for p in shared} >= {"workload", "optimizer", "lr", "epochs", "batch_size", "seed", "data_dir"}
    for p in shared:
        if p.default is None:
            assert "recipe" in p.help or "the workload's own" in p.help, p.name
        else:
            assert str(p.default) == str(defaults[p.name]), p.name
    assert {p.name for p in shared if p.default is None} >= {"optimizer", "lr", "epochs", "batch_size", "schedule"}


@pytest.mark.parametrize("key, raw, want", [("width", "8", 8), ("lr", "3e-3", 3e-3), ("batch_norm", "true", True),
                                            ("batch_norm", "off", False), ("activation", "gelu", "gelu")])
def test_set_values_take_the_fields_type(key, raw, want):
    value = parse_text(key, raw)
    assert value == want and type(value) is type(want)


@pytest.mark.parametrize("key, raw, message", [("batch_norm", "maybe", "--set batch_norm: 'maybe' is not a valid bool"),
                                               ("width", "wide", "--set width: 'wide' is not a valid int"),
                                               ("nonsense", "1", "unknown config key 'nonsense'")])
def test_set_values_that_do_not_fit_are_refused(key, raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_text(key, raw)


def test_importing_bench_changes_nothing_in_the_process():
    # Ray's own import sets RAY_CLIENT_MODE: imported first, so that only bench's imports are measured.
    code = ("import os, ray; before = dict(os.environ); import matplotlib as mpl; style = dict(mpl.rcParams); "
            "import bench.cli, bench.search, bench.search.tune, bench.search.space, bench.train, bench.report.render, "
            "bench.studies.vanishing, bench.faq.main; "
            "changed = {k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}; "
            "assert not changed, changed; "
            "assert dict(mpl.rcParams) == style, 'matplotlib style changed'")
    # Without the variables bench might set, in case something in this test process already set them.
    env = {k: v for k, v in os.environ.items() if k not in RAY_DEFAULTS}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]


def test_imdb_description_states_the_loader_default():
    """The workload table is written without importing the data modules (they import torch), so the IMDB entry
    states imdb.DEFAULT_MAX_LEN as a number: it must stay the loader's own default."""
    from bench.data import imdb
    from bench.workloads import WORKLOADS

    assert f"(default {imdb.DEFAULT_MAX_LEN})" in WORKLOADS["imdb-rnn"].description
