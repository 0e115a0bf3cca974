"""bench sweep: the two-phase protocol (unit level, no Ray), then real Ray runs on tiny budgets: a sweep end to
end with a diverging level, resume after SIGKILL with exact counts, and a sweep on a separately started Ray head."""
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from bench.cli import app
from bench.results import ResultStore, TrialRecord
from bench.search.protocol import FINAL, TUNE, Plan, objective, tuning_metric
from bench.search.space import load_space

runner = CliRunner()
TINY = {"width": 4, "fc_width": 8, "depth": 1, "n_train": 512, "probe_every": 2}


def tiny_space(name="tiny", **over):
    space = {"name": name, "compare": "optimizer", "levels": ["adam", "sgd"], "workloads": ["mnist1d-cnn"],
             "fixed": dict(TINY), "tune": {"lr": {"min": 1.0e-3, "max": 1.0e-1, "scaling": "log"}},
             "budget": {"trials_per_level": 3, "epochs": 2, "seeds": 2, "grace_epochs": 1}}
    return {**space, **over}


def fake_record(trial_id, status, val_acc, lr, tags=None):
    epochs = [{"epoch": 1, "val_acc": val_acc}] if status != "error" else []
    return TrialRecord(trial_id, tags or {}, {"lr": lr}, status, {}, epochs, [])


# --- protocol, no Ray ---------------------------------------------------------------------------------------

def test_search_uses_validation_metric_and_failures_score_worst():
    assert tuning_metric("test_acc") == "val_acc" and tuning_metric("test_mse") == "val_mse"
    rows = [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.7}]
    assert objective("ok", rows, "val_acc", "max") == 0.7
    assert objective("stopped", rows[:1], "val_acc", "max") == 0.5
    assert objective("diverged", rows, "val_acc", "max") == -math.inf
    assert objective("error", [], "val_loss", "min") == math.inf
    assert objective("ok", [{"epoch": 1, "val_loss": math.nan}], "val_loss", "min") == math.inf


def test_plan_gives_every_level_the_same_budget_and_fresh_final_seeds():
    space = load_space(tiny_space(workloads=["mnist1d-cnn", "mnist1d-gru"], levels=["adam", "sgd", "momentum"]))
    plan = Plan(space)
    assert [(g.group, g.level) for g in plan.groups][:3] == [("mnist1d-cnn", "adam"), ("mnist1d-cnn", "sgd"),
                                                             ("mnist1d-cnn", "momentum")]
    assert all(g.group == g.workload == g.base.workload for g in plan.groups)  # a sweep compares within a workload
    assert all(len(g.tuning_ids()) == 3 and g.seeds == (1, 2) and len(g.confirm_slots()) == 2 for g in plan.groups)
    assert all(g.base.seed == 0 and g.base.seed not in g.seeds for g in plan.groups)  # re-runs use unseen seeds
    assert all(g.confirm_seed not in (g.base.seed, *g.seeds) for g in plan.groups)  # and so does the confirm step
    ids = [t for g in plan.groups for t in (*g.tuning_ids(), *g.confirm_slots(), *g.final_ids())]
    assert len(ids) == len(set(ids)) == plan.total() == 6 * (3 + 2 + 2)
    assert len({g.sampler_seed for g in plan.groups}) == 6  # independent searches
    assert not plan.finished() and all(g.next_final() is None for g in plan.groups)  # tuning comes first


def test_plan_rebuilt_from_parts_continues_where_it_stopped():
    space = load_space(tiny_space(levels=["adam"]))
    g0 = Plan(space).groups[0]
    t0, t1, t2 = g0.tuning_ids()
    records = [fake_record(t0, "ok", 0.6, 0.01), fake_record(t1, "stopped", 0.9, 0.02), fake_record(t2, "diverged", 0.99, 0.5)]
    plan = Plan(space, records[:2])
    g = plan.groups[0]
    assert g.next_tuning_id() == t2 and g.next_final() is None and plan.finished_count() == 2
    plan = Plan(space, records)
    g = plan.groups[0]
    assert g.next_tuning_id() is None and g.tuning_finished()
    assert g.search_best().trial_id == t0 and g.search_best().params == {"lr": 0.01}  # stopped, diverged never win
    assert g.next_final() is None and g.next_confirm() == ("mnist1d-cnn.adam.confirm-0", {"lr": 0.01})
    plan = Plan(space, [*records, fake_record("mnist1d-cnn.adam.confirm-0", "ok", 0.5, 0.01)])
    g = plan.groups[0]
    assert g.best().trial_id == t0 and g.best().objective == pytest.approx(0.55)  # the mean over both seeds
    final_id, seed = g.next_final()
    assert (final_id, seed) == (list(g.final_ids())[0], 1) and plan.total() == 3 + 1 + 2
    with pytest.raises(Exception, match="does not belong to sweep"):
        Plan(space, [fake_record("mnist1d-cnn.adam.tune-099", "ok", 0.5, 0.01)])


def test_level_whose_tuning_all_failed_is_finished_without_final_runs():
    space = load_space(tiny_space(levels=["sgd"]))
    ids = Plan(space).groups[0].tuning_ids()
    plan = Plan(space, [fake_record(t, "diverged", 0.1, 1.0) for t in ids])
    assert plan.groups[0].best() is None and plan.finished()


def leaderboard(trials: pd.DataFrame) -> pd.DataFrame:
    """The sweep's leaderboard (the report's, as `bench sweep` prints it), with its seed count as n."""
    from bench.report import tables as tb

    return tb.leaderboard(tb.prepare(trials)).rename(columns={"seeds": "n", "best_params": "best"})


def test_leaderboard_means_cis_ranking_and_failures():
    rows = []
    for level, scores in (("a", [0.80, 0.82, 0.84]), ("b", [0.90, 0.96, math.nan])):
        for i, s in enumerate(scores):
            rows.append({"workload": "w", "level": level, "phase": FINAL, "status": "ok" if s == s else "diverged",
                         "score": s, "lr": 0.01 if level == "a" else 0.003, "tuned": "lr", "target_metric": "test_acc",
                         "target_mode": "max", "trial_id": f"{level}{i}"})
    rows.append({**rows[0], "phase": TUNE, "score": 0.99, "trial_id": "t"})  # tuning scores are never compared
    board = leaderboard(pd.DataFrame(rows))
    assert list(board["level"]) == ["b", "a"]
    a = board.set_index("level").loc["a"]
    assert a["n"] == 3 and a["failed"] == 0 and a["mean"] == pytest.approx(0.82)
    half = 4.302653 * 0.02 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((0.82 - half, 0.82 + half), rel=1e-5)
    b = board.set_index("level").loc["b"]
    assert b["n"] == 2 and b["failed"] == 1 and b["best"] == "lr=0.003"
    assert b["ci_high"] == 1.0 and b["ci_low"] < 0.9  # 2 seeds: the t-interval reaches past 1, clipped to it


def flag_rows(level, tune_status, final_scores, lr, chance=0.1):
    common = {"workload": "w", "level": level, "tuned": "lr", "target_metric": "test_acc", "target_mode": "max",
              "chance": chance, "lr_min": 1e-4, "lr_max": 1.0, "lr": lr, "error": ""}
    rows = [{**common, "phase": TUNE, "status": s, "score": math.nan, "trial_id": f"{level}.t{i}"}
            for i, s in enumerate(tune_status)]
    rows += [{**common, "phase": FINAL, "status": "ok" if s == s else "diverged", "score": s, "trial_id": f"{level}.s{i}",
              "seed": i + 1} for i, s in enumerate(final_scores)]
    return rows


def test_failed_searches_are_flagged_counted_per_phase_and_not_ranked():
    from bench.report.flags import at_edge

    rows = (flag_rows("good", ["ok", "diverged", "error"], [0.90, 0.92, math.nan], 0.01)
            + flag_rows("chance", ["ok", "ok"], [0.105, 0.11], 0.003)
            + flag_rows("edge", ["ok", "stopped"], [0.95, 0.95], 1.2e-4)
            + flag_rows("dead", ["diverged", "error"], [], 0.5)
            + flag_rows("shaky", ["ok"], [0.098, 0.919], 0.07))
    board = leaderboard(pd.DataFrame(rows)).set_index("level")
    assert list(board.index) == ["good", "edge", "shaky", "chance", "dead"]  # the best mean is flagged: below "good"
    assert board.loc["shaky", "flag"] == "unstable: seed 1: 0.0980 at chance while the others learned"
    assert board.loc["good", "flag"] == "" and board.loc["good", "failed_tune"] == 2 and board.loc["good", "failed"] == 1
    assert board.loc["chance", "flag"] == "at chance (0.1075; chance 0.1000)"
    assert board.loc["edge", "flag"] == "best lr 0.00012 at the low edge of its range (0.0001)"
    assert board.loc["dead", "flag"].startswith("every tuning trial failed (1 of 2 diverged); no final seed finished")
    assert (at_edge(0.9, 1e-4, 1.0), at_edge(0.1, 1e-4, 1.0), at_edge(0.5, 0.0, 1.0)) == ("high", "", "")
    from bench.report import tables as tb
    report_board = tb.leaderboard(tb.prepare(pd.DataFrame(rows))).set_index("level")
    assert report_board.loc["good", "rank"] == 1
    assert report_board.loc[["edge", "shaky", "chance", "dead"], "rank"].isna().all()
    assert report_board.loc["chance", "flag"] == board.loc["chance", "flag"]
    from bench.report.render import Page, _comparisons
    page = Page("t")
    _comparisons(page, tb.prepare(pd.DataFrame(rows)))
    assert any("The searches of chance, edge, shaky failed (see the leaderboard)" in line for line in page.md)


def test_confirm_trials_count_with_tuning_and_are_never_compared():
    """Confirm trials (the top configs on a second seed) serve the choice: their failures count with the tuning
    trials', their scores never enter a mean, and the board says what the re-run config was chosen on."""
    from bench.report import tables as tb

    rows = flag_rows("a", ["ok", "ok"], [0.90, 0.92], 0.01)
    rows = [{**r, "chosen_objective": 0.905 if r["phase"] == FINAL else math.nan, "chosen_seeds": 2} for r in rows]
    rows += [{**rows[0], "phase": "confirm", "status": "diverged", "trial_id": "a.c0", "chosen_objective": math.nan},
             {**rows[0], "phase": "confirm", "status": "ok", "score": 0.10, "trial_id": "a.c1", "chosen_objective": math.nan}]
    board = leaderboard(pd.DataFrame(rows)).set_index("level")
    assert board.loc["a", "n"] == 2 and board.loc["a", "mean"] == pytest.approx(0.91) and board.loc["a", "failed"] == 0
    assert board.loc["a", "failed_tune"] == 1 and board.loc["a", "best"] == "lr=0.01 (chosen on val_acc 0.905, mean of 2 seeds)"
    prepared = tb.prepare(pd.DataFrame(rows))
    assert (prepared["phase"] == "confirm").sum() == 2  # kept apart, not read as final seeds
    report = tb.leaderboard(prepared).set_index("level")
    assert report.loc["a", "seeds"] == 2 and report.loc["a", "failed_tune"] == 1
    assert report.loc["a", "best_params"] == "lr=0.01 (chosen on val_acc 0.905, mean of 2 seeds)"


def test_chance_is_the_workloads_declared_score_or_its_data_baseline():
    from bench.config import TrialConfig
    from bench.workloads import get_workload, load_data

    gru, cfg = get_workload("mnist1d-gru"), TrialConfig(workload="mnist1d-gru")
    y = load_data(cfg).test.y
    assert gru.chance_score(cfg) == gru.chance == 0.1
    assert abs(gru.chance - float((y == y.mode().values).float().mean())) < 0.02  # the declared score is the data's
    adding = get_workload("adding")
    assert adding.chance_score(TrialConfig(workload="adding")) == pytest.approx(adding.chance, rel=0.1)
    longer = adding.chance_score(TrialConfig(workload="adding", seq_len=200))  # the memoryless baseline at its own T
    assert longer == load_data(TrialConfig(workload="adding", seq_len=200)).baseline["test_mse"]


def test_group_search_starts_with_the_design_then_asks_tpe():
    from bench.search.space import latin_hypercube
    from bench.search.tune import GroupSearch

    space = load_space(tiny_space(levels=["adam"], budget={"trials_per_level": 5, "epochs": 1, "seeds": 1,
                                                            "startup_trials": 2}))
    g = Plan(space).groups[0]
    search, ids = GroupSearch(space, g), g.tuning_ids()
    design = latin_hypercube(space.distributions("adam"), 2, g.sampler_seed)
    assert [search.ask(f"t{k}", ids[k], None) for k in range(2)] == [space.decode(p) for p in design]
    for k in range(2):
        search.tell(f"t{k}", 0.5 + k / 10)
    given = {"lr": 0.0123}
    assert search.ask("t2", ids[2], given) == given  # an interrupted trial keeps its values
    search.tell("t2", 0.4)
    third = search.ask("t3", ids[3], None)
    assert third not in [space.decode(p) for p in design] and 1e-3 <= third["lr"] <= 1e-1
    trials = search.study.trials
    assert [t.params["lr"] for t in trials[:3]] == pytest.approx([space.decode(p)["lr"] for p in design] + [0.0123])


def test_tpe_trials_wait_for_the_startup_design_however_many_slots(tmp_path):
    from bench.search.protocol import read_suggestions
    from bench.search.tune import ProtocolSearcher

    space = load_space(tiny_space(levels=["adam"], budget={"trials_per_level": 4, "epochs": 1, "seeds": 1,
                                                            "startup_trials": 2, "concurrency": 4}))
    searcher = ProtocolSearcher(Plan(space), tmp_path, 1)
    a, b = searcher.suggest("a"), searcher.suggest("b")
    assert [a["trial_id"], b["trial_id"]] == ["mnist1d-cnn.adam.tune-000", "mnist1d-cnn.adam.tune-001"]
    assert set(read_suggestions(tmp_path)) == {a["trial_id"], b["trial_id"]}  # written down before they run
    assert searcher.suggest("c") is None  # slots are free, but TPE has nothing to model yet
    searcher.on_trial_complete("a", {"final": True, "status": "ok", "objective": 0.5})
    assert searcher.suggest("c") is None
    searcher.on_trial_complete("b", {"final": True, "status": "ok", "objective": 0.6})
    c, d = searcher.suggest("c"), searcher.suggest("d")
    assert [c["trial_id"], d["trial_id"]] == ["mnist1d-cnn.adam.tune-002", "mnist1d-cnn.adam.tune-003"]
    assert read_suggestions(tmp_path)[c["trial_id"]]["params"] == {"lr": c["config"]["lr"]}


def test_asha_rungs_are_the_epochs_where_ray_asha_decides():
    from ray.tune.schedulers.async_hyperband import _Bracket

    from bench.search.tune import asha_rungs

    for epochs, grace, rf in [(20, 5, 3), (4, 1, 3), (9, 1, 3), (30, 2, 2)]:
        ray_rungs = sorted(m for m, _ in _Bracket(grace, epochs, rf, 0)._rungs if m < epochs)
        assert asha_rungs(epochs, grace, rf) == ray_rungs


def test_trial_records_failures_as_results(tmp_path):
    from bench.search.trial import sweep_trial

    space = load_space(tiny_space())
    g = Plan(space).groups[1]  # sgd
    def task(trial_id, **cfg):
        return {"trial_id": trial_id, "out": str(tmp_path), "config": g.config({"lr": 0.01}, 0, 1).replace(**cfg).to_dict(),
                "tags": g.tags(space, TUNE), "metric": g.metric, "mode": g.mode, "target": g.target, "report_epochs": []}
    assert sweep_trial(task("ok", epochs=1))["status"] == "ok"
    assert sweep_trial(task("nan", workload="mnist1d-mlp", lr=1e3))["status"] == "diverged"
    out = sweep_trial(task("boom", n_train=10**7))
    assert out["status"] == "error" and out["objective"] == -math.inf
    parts = {r.trial_id: r for r in ResultStore(tmp_path).finished()}
    summary, *trace = parts["boom"].error.splitlines()
    assert summary.startswith("ConfigError: n_train=10000000 exceeds")
    assert len(trace) <= 20 and any(line.strip().startswith("File ") for line in trace)  # where, not only what
    assert any("run_trial" in line for line in trace) and trace[-1].endswith(summary)
    assert parts["ok"].tags["score"] == parts["ok"].final["test_acc"] and math.isnan(parts["nan"].tags["score"])


# --- real Ray ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pids_using(marker: str) -> list[int]:
    """Processes whose command line mentions marker (a private Ray temp dir): ours, and only ours."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes() and int(cmdline.parent.name) != os.getpid():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def reap(marker: str) -> None:
    for pid in pids_using(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def bench_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def sigint_as_at_a_terminal() -> None:
    """preexec_fn of a `bench` process a test sends Ctrl-C: SIGINT at its default, as a command started from a
    terminal has it, whatever this test run inherited (a suite a script started in the background runs with SIGINT
    ignored, and bench, like any Unix program, keeps an ignored SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ray_cli() -> str:
    """The `ray` command of this environment, also when its bin folder is not on PATH."""
    return shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"


@contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[tuple[str, str]]:
    """A separately started Ray head on 127.0.0.1 (`ray start --block`, token auth), as (address, its temp
    folder); terminating it stops that head's processes and no one else's."""
    port, head_tmp = free_port(), tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: socket paths fit 107 bytes
    head = subprocess.Popen([ray_cli(), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                             f"--num-cpus={num_cpus}", f"--temp-dir={head_tmp}", "--include-dashboard=false",
                             "--disable-usage-stats", "--block"],
                            env={**os.environ, "RAY_AUTH_MODE": "token"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        yield f"127.0.0.1:{port}", head_tmp
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        reap(head_tmp)
        shutil.rmtree(head_tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def rays():
    """Two real Rays for this module's sweeps: the embedded local default (started exactly as `bench sweep`
    starts it, in this process, so run_sweep and CliRunner use it) and, in parallel, a separately started head."""
    import ray

    from bench.search.tune import ray_session

    with ray_head() as (head, _), ray_session(None, dashboard=False):
        assert ray.util.get_node_ip_address() == "127.0.0.1"  # the local default binds to this host only
        yield SimpleNamespace(local=ray.get_runtime_context().gcs_address, head=head)


def wait_for_port(address: str, seconds: float = 120) -> None:
    host, port = address.split(":")
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_sweep_end_to_end_with_a_diverging_level(tmp_path, rays, monkeypatch):
    # lr is the choice under study here; each level tunes momentum. lr 1000 makes every trial diverge.
    space = tiny_space(compare="lr", levels=[0.05, 1000.0], workloads=["mnist1d-mlp"],
                       fixed={**TINY, "optimizer": "momentum"}, tune={"momentum": {"min": 0.5, "max": 0.95}})
    path = tmp_path / "div.yaml"
    path.write_text(yaml.safe_dump(space))
    monkeypatch.chdir(tmp_path)  # a relative --out means this folder, though Tune runs each trial in its own
    res = runner.invoke(app, ["sweep", str(path), "--out", "runs"])
    assert res.exit_code == 1, res.output  # a level without a finished final seed: the comparison lacks it
    assert "mnist1d-mlp 1000.0: no final seed finished; first errors: no error recorded (3 of 3 trials diverged)" in res.output
    assert "flagged, not ranked: mnist1d-mlp 1000.0: every tuning trial failed (3 of 3 diverged)" in res.output
    assert "val_acc" in res.output and "mnist1d-mlp: test_acc over the seed re-runs" in res.output
    folder = next((tmp_path / "runs").glob("tiny-*"))
    assert f"results: {folder}" in res.output
    trials = pd.read_parquet(folder / "trials.parquet")
    good, bad = trials[trials["level"] == 0.05], trials[trials["level"] == 1000.0]
    confirmed = min(2, int((good.loc[good["phase"] == "tune", "status"] == "ok").sum()))  # ASHA may stop some trials
    assert confirmed >= 1 and len(trials) == len(set(trials["trial_id"])) == 3 + 3 + confirmed + 2
    assert sorted(good["phase"]) == ["confirm"] * confirmed + ["final"] * 2 + ["tune"] * 3
    assert list(bad["phase"]) == ["tune"] * 3  # nothing to confirm or re-run
    confirm = good[good["phase"] == "confirm"]
    assert set(confirm["seed"]) == {1001} and (confirm["epochs_run"] == 2).all()  # a second seed, trained to the end
    assert set(confirm["momentum"]) <= set(good.loc[good["phase"] == "tune", "momentum"])
    assert set(bad["status"]) == {"diverged"} and bad["objective"].eq(-math.inf).all() and bad["score"].isna().all()
    final = good[good["phase"] == "final"]
    assert set(final["status"]) == {"ok"} and set(final["seed"]) == {1, 2} and (final["epochs_run"] == 2).all()
    assert final["momentum"].nunique() == 1 and final["momentum"].iloc[0] in set(confirm["momentum"])
    assert (final["score"] == final["test_acc"]).all() and set(trials["target_metric"]) == {"test_acc"}
    assert set(good.loc[good["phase"] == "tune", "status"]) <= {"ok", "stopped"} and (trials["threads"] == 1).all()
    for column in ("sweep", "compare", "workload", "lr", "width", "status", "error", "target_mode", "tune_metric"):
        assert column in trials
    epochs = pd.read_parquet(folder / "epochs.parquet")
    assert set(epochs["trial_id"]) <= set(trials["trial_id"]) and {"train", "val"} <= set(epochs["split"])
    assert not pd.read_parquet(folder / "gradients.parquet").empty
    run = json.loads((folder / "run.json").read_text())
    assert run["complete"] and run["finished_trials"] == run["total_trials"] == 8 + confirmed and run["slots"] == 2
    assert run["gpus_per_trial"] == 0.0 and run["gpus"]["chosen_by"] == "auto: no GPU"  # the default, without a GPU
    assert run["stack_seeds"] is False and first_epoch_timers(folder, final["trial_id"]).nunique() == 2  # one run each
    assert load_space(folder / "space.yaml").to_dict() == load_space(space).to_dict() == run["space"]
    board = leaderboard(trials).set_index("level")  # the report's: levels as they are printed
    assert board.loc["1000.0", "n"] == 0 and board.loc["0.05", "n"] == 2 and board.index[0] == "0.05"
    assert board.loc["1000.0", "failed_tune"] == 3 and board.loc["1000.0", "flag"].startswith("every tuning trial failed")
    from bench.report.render import write_report
    md = write_report([folder], tmp_path / "reports", "div", None).with_name("report.md").read_text()
    assert "Searches flagged as failed (shown, not ranked" in md and "1000.0: every tuning trial failed" in md
    assert not (folder / ".stop").exists()
    import optuna

    from bench.search.journal import journal_storage  # the Ray runner exports the run, as the in-process one does
    failed = optuna.load_study(study_name="mnist1d-mlp.1000.0", storage=journal_storage(folder)).trials
    assert [t.state for t in failed] == [optuna.trial.TrialState.FAIL] * 3
    assert len(list((folder / "tensorboard").iterdir())) == len(trials)


@pytest.mark.slow
def test_gru_trials_on_many_slots_all_finish(tmp_path, rays):
    """GRU trials with the gradient probe on every other step, 8 at once on this machine's CPUs (a quarter CPU
    each): none may error. On a GPU the probe's hook on the GRU's unused output got None and every GRU trial failed."""
    from bench.search.sweep import run_sweep

    space = tiny_space(name="manygru", workloads=["mnist1d-gru"], levels=["adam", "sgd", "momentum", "rmsprop"],
                       budget={"trials_per_level": 2, "epochs": 1, "seeds": 1, "asha": False, "confirm": 0})
    folder = run_sweep(load_space(space), tmp_path, cpus_per_trial=0.25, gpus_per_trial=0.0, progress=False)
    trials = pd.read_parquet(folder / "trials.parquet")
    assert json.loads((folder / "run.json").read_text())["slots"] >= 8
    assert len(trials) == 4 * (2 + 1) and set(trials["status"]) <= {"ok", "diverged"}, trials["error"].tolist()
    assert (trials["status"] == "ok").sum() >= 4 and not pd.read_parquet(folder / "gradients.parquet").empty


@pytest.mark.slow
def test_resumed_sweep_reruns_interrupted_trials_exactly(tmp_path, rays):
    """Delete the parts of trials as if they had been in flight at a kill (a tuning trial and a final seed): the
    resumed sweep re-runs them with the parameters and seed written down before they started, and its trials equal
    the uninterrupted sweep's, config and result; nothing else runs again."""
    from bench.search.protocol import SUGGESTED_DIR
    from bench.search.sweep import run_sweep

    space = load_space(tiny_space(name="exact", levels=["adam", "momentum"], tune={
        "lr": {"min": 1.0e-3, "max": 1.0e-1, "scaling": "log"}, "momentum": {"min": 0.5, "max": 0.99, "scaling": "log1m"}},
        budget={"trials_per_level": 4, "epochs": 2, "seeds": 2, "asha": False, "startup_trials": 2}))
    full = run_sweep(space, tmp_path / "a", cpus_per_trial=1, gpus_per_trial=0.0, progress=False)
    cut = tmp_path / "b" / full.name
    shutil.copytree(full, cut)
    in_flight = ["mnist1d-cnn.momentum.tune-002", "mnist1d-cnn.momentum.tune-003", "mnist1d-cnn.adam.confirm-1",
                 "mnist1d-cnn.adam.seed-2"]
    for tid in in_flight:
        (cut / "parts" / f"{tid}.json").unlink()
        assert (cut / SUGGESTED_DIR / f"{tid}.json").exists()
    for name in ("trials", "epochs", "gradients"):
        (cut / f"{name}.parquet").unlink()
    kept = {p.name: p.read_bytes() for p in (cut / "parts").glob("*.json")}
    run_sweep(space, tmp_path / "b", resume=cut, cpus_per_trial=1, gpus_per_trial=0.0, progress=False)
    assert {p.name: p.read_bytes() for p in (cut / "parts").glob("*.json") if p.name in kept} == kept
    columns = ["trial_id", "phase", "seed", "lr", "momentum", "beta1", "status", "objective", "score", "test_acc"]
    a, b = (pd.read_parquet(f / "trials.parquet")[columns].sort_values("trial_id").reset_index(drop=True)
            for f in (full, cut))
    assert len(b) == 2 * (4 + 2 + 2) and b["trial_id"].is_unique and (b["phase"] == "confirm").sum() == 4
    pd.testing.assert_frame_equal(a, b)
    before, after = (json.loads((f / "run.json").read_text()) for f in (full, cut))
    assert after["resumed_with"] == len(kept)
    # its wall time adds the resumed session's (4 trials) to the first's (16): more than the first's alone
    assert (before["sessions"], after["sessions"]) == (1, 2) and after["wall_time"] > before["wall_time"] > 0


@pytest.mark.slow
def test_killed_sweep_resumes_exactly_on_a_separately_started_head(tmp_path, rays):
    """SIGKILL a sweep mid-way, then finish it with --resume on the `ray start` head via --address: the trials
    finished before the kill are kept byte for byte, the rest run once, nothing is counted twice."""
    path = tmp_path / "killme.yaml"
    path.write_text(yaml.safe_dump(tiny_space(name="killme", budget={"trials_per_level": 5, "epochs": 2, "seeds": 2,
                                                                     "grace_epochs": 1})))
    out = tmp_path / "runs"
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    # The killed sweep joins this module's local Ray; SIGKILL takes its running trials down with it.
    proc = subprocess.Popen(bench_cmd("sweep", str(path), "--out", str(out), "--address", rays.local), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list(out.glob("killme-*/parts/*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    folder = next(out.glob("killme-*"))
    # The cluster outlives the killed driver and ends its trials a moment later: one may still write its part.
    settle = time.monotonic() + 30
    while time.monotonic() < settle:
        seen = sorted((folder / "parts").glob("*.json"))
        time.sleep(3)
        if sorted((folder / "parts").glob("*.json")) == seen:
            break
    before = {p.name: p.read_bytes() for p in (folder / "parts").glob("*.json")}
    assert 1 <= len(before) < 18, proc.stderr.read().decode()[-2000:]
    suggested = {p.stem: json.loads(p.read_text()) for p in (folder / "suggested").glob("*.json")}
    assert set(suggested) >= {Path(name).stem for name in before}
    assert not (folder / "trials.parquet").exists()  # killed: nothing consolidated

    wait_for_port(rays.head)
    res = subprocess.run(bench_cmd("sweep", "--resume", str(folder), "--address", rays.head), env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "mnist1d-cnn: test_acc over the seed re-runs" in res.stdout
    trials = pd.read_parquet(folder / "trials.parquet")
    assert len(trials) == trials["trial_id"].nunique() == 2 * (5 + 2 + 2)
    assert trials.groupby(["level", "phase"]).size().to_dict() == {
        ("adam", "confirm"): 2, ("adam", "final"): 2, ("adam", "tune"): 5,
        ("sgd", "confirm"): 2, ("sgd", "final"): 2, ("sgd", "tune"): 5}
    after = {p.name: p.read_bytes() for p in (folder / "parts").glob("*.json")}
    assert all(after[name] == data for name, data in before.items())  # finished trials were not run again
    rows = trials.set_index("trial_id")
    for tid, entry in suggested.items():  # trials in flight at the kill ran again as written down
        assert rows.loc[tid, "seed"] == entry["seed"] and all(rows.loc[tid, k] == v for k, v in entry["params"].items())
    run = json.loads((folder / "run.json").read_text())
    assert run["complete"] and run["address"] == rays.head and run["resumed_with"] == len(before)

    again = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--resume", "last"])
    assert again.exit_code == 0 and len(pd.read_parquet(folder / "trials.parquet")) == 18  # nothing left to do
    path.write_text(yaml.safe_dump(tiny_space(name="killme", budget={"trials_per_level": 5, "epochs": 3, "seeds": 2})))
    changed = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--resume", "last"])
    assert changed.exit_code == 2 and "was started with other inputs (budget.epochs" in changed.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_sweep_stops_cleanly_and_keeps_finished_trials(tmp_path, rays, sig):
    """Ctrl-C (SIGINT) or kill (SIGTERM) mid-sweep: exit 130 or 143 with one line saying how to continue, no traceback,
    the finished trials' parts kept; --resume then runs only the rest."""
    path = tmp_path / "stopme.yaml"
    path.write_text(yaml.safe_dump(tiny_space(name="stopme", budget={"trials_per_level": 5, "epochs": 2, "seeds": 2,
                                                                     "grace_epochs": 1})))
    out = tmp_path / "runs"
    proc = subprocess.Popen(bench_cmd("sweep", str(path), "--out", str(out), "--address", rays.local),
                            env={**os.environ, "RAY_AUTH_MODE": "token"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=sigint_as_at_a_terminal)
    deadline = time.monotonic() + 240
    while not list(out.glob("stopme-*/parts/*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), output[-3000:]
    # Tune's own SIGINT handler is off (it would return from fit as if the run had ended): both signals reach
    # bench's handler, and both end in one line saying how to continue.
    assert "continue with `bench sweep" in output
    assert "Traceback" not in output
    folder = next(out.glob("stopme-*"))
    kept = {p.name for p in (folder / "parts").glob("*.json")}
    assert 1 <= len(kept) < 18
    res = runner.invoke(app, ["sweep", "--resume", str(folder)])
    assert res.exit_code == 0, res.output
    trials = pd.read_parquet(folder / "trials.parquet")
    assert len(trials) == trials["trial_id"].nunique() == 18 and kept <= {f"{t}.json" for t in trials["trial_id"]}


def test_unreachable_address_is_a_one_line_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_space()))
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path), "--address", f"127.0.0.1:{free_port()}"])
    assert res.exit_code == 2 and "no Ray head reachable at 127.0.0.1:" in res.stderr
    assert not list(tmp_path.glob("tiny-*"))  # refused before a run folder was made


def first_epoch_timers(folder, trial_ids) -> pd.Series:
    """Each trial's first-epoch training time: seeds trained as one stacked run share it."""
    epochs = pd.read_parquet(folder / "epochs.parquet")
    timers = epochs[(epochs["metric"] == "epoch_time") & (epochs["epoch"] == 1)].set_index("trial_id")["value"]
    return timers.loc[list(trial_ids)]


@pytest.mark.slow
def test_sweep_with_stacked_seeds_runs_each_groups_final_seeds_as_one_ray_task(tmp_path, rays, capsys):
    """stack_seeds=True (the default on a GPU) forced on CPUs: the final seeds of each level train as one stacked
    model in one Ray task; each seed's record is where and as a separate trial's would be."""
    from bench import errors
    from bench.search.sweep import run_sweep

    space = tiny_space(name="stacked", budget={"trials_per_level": 2, "epochs": 2, "seeds": 3, "confirm": 1,
                                               "asha": False})
    errors._received.append(signal.SIGINT)  # a Ctrl-C an earlier run in this process received: not this run's
    try:
        folder = run_sweep(load_space(space), tmp_path, cpus_per_trial=1, gpus_per_trial=0.0, progress=True,
                           stack_seeds=True)
    except KeyboardInterrupt:  # a test failure, not pytest's own Ctrl-C that would end the session
        pytest.fail("an earlier run's Ctrl-C stopped this sweep")
    finally:
        errors._received.clear()
    lines = [line for line in capsys.readouterr().out.splitlines() if " final " in line]
    assert len(lines) == 2 and all("seed 1,2,3  (stacked)" in line for line in lines), lines  # one line per task
    run = json.loads((folder / "run.json").read_text())
    trials = pd.read_parquet(folder / "trials.parquet")
    assert run["complete"] and run["stack_seeds"] is True and run["finished_trials"] == len(trials) == 2 * (2 + 1 + 3)
    final = trials[trials["phase"] == "final"]
    assert set(final["status"]) == {"ok"} and (final["score"] == final["test_acc"]).all()
    for level, seeds in final.groupby("level"):
        assert sorted(seeds["seed"]) == [1, 2, 3] and seeds["lr"].nunique() == 1, level
        assert first_epoch_timers(folder, seeds["trial_id"]).nunique() == 1, level  # one stacked run, one timer
        assert set(seeds["trial_id"]) == {f"mnist1d-cnn.{level}.seed-{s}" for s in (1, 2, 3)}



def test_no_pair_of_flagged_levels_gets_a_verdict_and_derived_figures_show_only_when_sane():
    """Two searches that failed at chance score alike ("0 [0, 0]"): the report must not call them equivalent,
    nor give either a good-LR span; a pair of searches that held keeps its verdict."""
    from bench.report import tables as tb
    from bench.report.render import Page, _comparisons, comparisons_view, leaderboard_view

    rows = (flag_rows("good", ["ok", "ok"], [0.90, 0.92, 0.91], 0.01) + flag_rows("fine", ["ok", "ok"], [0.91, 0.90, 0.92], 0.02)
            + flag_rows("momentum", ["ok", "ok"], [0.10, 0.10, 0.10], 0.003)
            + flag_rows("nesterov", ["ok", "ok"], [0.10, 0.10, 0.10], 0.004))
    rows = [{**r, "objective": 0.1 if r["level"] in ("momentum", "nesterov") else 0.9} for r in rows]
    df = tb.prepare(pd.DataFrame(rows))
    page = Page("t")
    _comparisons(page, df)
    html = "".join(page.html)
    cells = {tuple(re.findall(r"<td>(.*?)</td>", row)[:2]): row for row in re.findall(r'<tr id="pair-[^"]+"[^>]*>.*?</tr>', html)}
    assert len(cells) == 6
    judged = ("equivalent", "better", "worse")
    flagged_pair = cells[("momentum", "nesterov")] if ("momentum", "nesterov") in cells else cells[("nesterov", "momentum")]
    assert not any(w in flagged_pair.lower() for w in judged) and "NOT JUDGED" in flagged_pair
    assert all("NOT JUDGED" in row for pair, row in cells.items() if {"momentum", "nesterov"} & set(pair))
    held = cells[("fine", "good")] if ("fine", "good") in cells else cells[("good", "fine")]
    assert "NOT JUDGED" not in held
    board = leaderboard_view(tb.leaderboard(df)).set_index("level")
    assert (board.loc[["momentum", "nesterov"], "good LR span (decades)"] == "n/a").all()
    pairs = tb.pairwise(df)
    view = comparisons_view(pairs.assign(hedges_g=[460.0, -2.5, math.nan, 0.3, 1.0, 9.0]))
    assert view["Hedges' g"].tolist() == ["n/a", "-2.5", "n/a", "0.3", "1", "9"]  # 4.6e+02: seeds that barely vary
