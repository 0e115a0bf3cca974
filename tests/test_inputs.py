"""Every config field and CLI option is range-checked: a value is valid, or refused with one line and exit 2 and
nothing written; never a traceback, never a silent reinterpretation (n_train -5 training on all but 5 samples)."""
import tempfile
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bench.cli import app
from bench.config import ConfigError, TrialConfig
from bench.data.sequences import load as load_sequences
from bench.models import check_model_fits, footprint
from bench.results import read_run
from tests.helpers import tiny_bundle

runner = CliRunner()
FIELDS = {f.name: f.type for f in fields(TrialConfig)}
# Values at and beyond every bound, plus anything an int64/float64 holds.
INTS = st.integers(-2**70, 2**70) | st.sampled_from([-1, 0, 1, 2**31, 2**32 - 1, 2**32, 10**9, 10**12, 10**21])
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([-1.0, 0.0, 0.5, 1.0, 1.5, 1e-300])
VALUES = {"int": INTS, "float": FLOATS, "str": st.text(max_size=12), "bool": st.booleans()}


def one_line(message: str) -> bool:
    return "\n" not in message.strip() and "Traceback" not in message


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_from_dict_is_valid_or_one_line(data):
    names = data.draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=4, unique=True))
    raw = {name: data.draw(VALUES[FIELDS[name]], label=name) for name in names}
    try:
        cfg = TrialConfig.from_dict(raw)
    except ConfigError as e:
        assert one_line(str(e)), e
        return
    assert TrialConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("key,value,message", [
    ("seed", -1, "seed must be >= 0"), ("seed", 2**32, "seed must be <= 4,294,967,295"),
    ("threads", -1, "threads must be >= 0"), ("threads", 100_000, "threads must be <= 1,024"),
    ("n_train", -5, "n_train must be >= 0 (0 = all training samples)"), ("max_steps", -1, "max_steps must be >= 0"),
    ("epochs", 10**21, "epochs must be <= 1,000,000,000"), ("max_steps", 10**21, "max_steps must be <= "),
    ("early_stop", -1, "early_stop must be >= 0"), ("warmup_frac", -1.0, "warmup_frac must be in [0, 1)"),
    ("warmup_frac", 2.0, "warmup_frac must be in [0, 1)"), ("step_frac", 0.0, "step_frac must be in (0, 1]"),
    ("lr_gamma", 0.0, "lr_gamma must be in (0, 1]"), ("lr_gamma", -1.0, "lr_gamma must be in (0, 1]"),
    ("label_smoothing", 1.5, "label_smoothing must be in [0, 1)"), ("probe_every", -1, "probe_every must be >= 0"),
    ("rnn_radius", -1.0, "rnn_radius must be >= 0"), ("width", 10**8, "width must be <= "),
    ("seq_len", 10**9, "seq_len must be <= "), ("depth", 10**6, "depth must be <= 1,000"),
])
def test_out_of_range_field_named(key, value, message):
    with pytest.raises(ConfigError) as e:
        TrialConfig.from_dict({key: value})
    assert message in str(e.value) and one_line(str(e.value))


@pytest.mark.parametrize("key,value", [("seed", 2**32 - 1), ("n_train", 0), ("lr_gamma", 1.0), ("step_frac", 1.0),
                                       ("warmup_frac", 0.0), ("probe_every", 0), ("rnn_radius", 0.0), ("threads", 1)])
def test_bounds_themselves_are_valid(key, value):
    assert getattr(TrialConfig.from_dict({key: value}), key) == value


@pytest.mark.parametrize("kw", [{"depth": 60}, {"width": 10**6}, {"width": 100_000, "depth": 30}])
def test_model_too_large_for_the_machine_is_refused(kw):
    """A CNN's channels double per block: depth 60 overflows any count; width 10^6 is terabytes."""
    cfg = TrialConfig(**kw)
    with pytest.raises(ConfigError, match="choose a smaller width, depth") as e:
        check_model_fits("cnn", cfg, tiny_bundle(shape=(1, 40)), "gru", "cpu")
    assert one_line(str(e.value))


def test_footprint_counts_parameters_exactly():
    """The meta-device count is the real model's: a wrong count would let a model past the bound or stop a small one."""
    from bench.models import build_model

    cfg, data = TrialConfig(width=8, depth=2, fc_width=16), tiny_bundle(shape=(1, 40))
    params, acts = footprint("cnn", cfg, data)
    assert params == sum(p.numel() for p in build_model("cnn", cfg, data).parameters()) and acts > 0
    check_model_fits("cnn", cfg, data, "gru", "cpu")  # a small model fits


def test_sequence_length_beyond_memory_is_refused():
    with pytest.raises(ConfigError, match=r"adding at seq_len=10000000 needs about [\d,.]+ GB .* smaller seq_len"):
        load_sequences("adding", 10**7)


# --- the CLI: one field at a time on a tiny run, and the options that are not config fields ---

TINY = ["--workload", "mnist1d-mlp", "--epochs", "1", "--batch-size", "32", "--set", "n_train=64",
        "--set", "max_steps=2", "--set", "width=8", "--set", "threads=1", "--set", "probe_every=0", "--quiet"]
CLI_FIELDS = sorted(set(FIELDS) - {"workload", "width", "depth", "fc_width", "seq_len", "data_dir", "compile",
                                   "n_train", "batch_size", "epochs"})  # sizes: tested above, without training


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(CLI_FIELDS), data=st.data())
def test_bench_run_is_valid_or_one_line(tmp_path, key, data):
    value = data.draw(VALUES[FIELDS[key]], label=key)
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "out"  # one per example: tmp_path is shared by all of them
    res = runner.invoke(app, ["run", *TINY, "--out", str(out), "--set", f"{key}={value}"])
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    if res.exit_code == 0:
        assert "status: ok" in res.output or "status: diverged" in res.output, res.output
        return
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists() or not any(out.iterdir())  # nothing written


@pytest.mark.parametrize("args,message", [
    (["run", "--set", "n_train=-5"], "n_train must be >= 0"),
    (["run", "--set", "threads=100000"], "threads must be <= 1,024"),
    (["run", "--seed", "-1"], "seed must be >= 0"),
    (["lr-find", "--steps", "0"], "--steps must be in 2..1,000,000"),
    (["sweep", "optimizers", "--cpus-per-trial", "nan"], "--cpus-per-trial must be a number of CPUs > 0"),
    (["sweep", "optimizers", "--resume", ""], "--resume '' names no run"),
    (["study", "vanishing", "--seeds", "100000000"], "--seeds must be <= 1000"),
    (["faq", "--questions", ","], "--questions ',' names no question"),
    (["faq", "--cpus-per-trial", "nan"], "--cpus-per-trial must be"),
])
def test_cli_options_one_line_exit_2(tmp_path, args, message):
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not (tmp_path / "out").exists()  # nothing written, not even an empty folder


@pytest.mark.parametrize("table", ["trials", "epochs"])
def test_foreign_parquet_refused(tmp_path, table):
    from bench.results import ResultStore, TrialRecord
    from bench.status import TrialStatus

    store = ResultStore(tmp_path)
    store.add(TrialRecord("t0", {}, TrialConfig().to_dict(), TrialStatus.OK, {"test_acc": 0.5},
                          [{"epoch": 1, "val_loss": 1.0}], []))
    store.consolidate()
    pd.DataFrame({"a": [1, 2]}).to_parquet(tmp_path / f"{table}.parquet")
    with pytest.raises(ConfigError, match=f"is not a bench {table} table") as e:
        read_run(tmp_path)
    assert one_line(str(e.value))
