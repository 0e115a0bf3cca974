"""`bench report` and its tables on the hand-made sweep: planted answers, every section, every figure."""
from __future__ import annotations

import math
import re
import sys

import matplotlib.image
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.report import render, units
from bench.report import tables as tb
from bench.results import read_run
from tests.report_fixture import BEST_LR, FAILED_FINAL, SEEDS, TRUE_MEAN, finished_seeds, make_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("report") / "opt-1")


@pytest.fixture(scope="module")
def trials(run_dir) -> pd.DataFrame:
    return tb.prepare(read_run(run_dir)["trials"])


@pytest.fixture(scope="module")
def written(run_dir, tmp_path_factory):
    """`bench report` run once through the CLI for the module."""
    out = tmp_path_factory.mktemp("reports")
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out), "--name", "opt"])
    assert result.exit_code == 0, result.output
    return out / "opt"


def test_leaderboard_ranks_levels_and_its_ci_contains_the_true_mean(trials):
    board = tb.leaderboard(trials)
    cnn = board[board["group"] == "mnist1d-cnn"]
    assert cnn["level"].iloc[-1] == "sgd" and list(cnn["rank"]) == [1, 2, 3]
    adding = board[board["group"] == "adding"]
    assert adding["level"].iloc[-1] == "sgd"  # lower MSE ranks first
    for row in board.itertuples():
        assert row.ci_low <= TRUE_MEAN[(row.group, row.level)] <= row.ci_high
        assert row.seeds == finished_seeds(row.group, row.level)
        assert row.failed == sum(key[:2] == (row.group, row.level) for key in FAILED_FINAL)
        assert row.best_params == f"lr={BEST_LR[row.level]:.3g}"


def test_pairwise_detects_the_planted_difference_and_not_the_null_one(trials):
    pairs = tb.pairwise(trials)
    tests = pairs.set_index(["group", "a", "b"])["test"]
    assert len(pairs) == 6 and set(tests["mnist1d-cnn"]) == {"paired t"}  # every level ran seeds 1-5
    # on adding, adam ran seeds 1-6: never paired; rmsprop and sgd share seeds 1-5 (each lost one of them)
    assert {frozenset(k): v for k, v in tests["adding"].items()} == {
        frozenset(("adam", "rmsprop")): "Welch t", frozenset(("adam", "sgd")): "Welch t",
        frozenset(("rmsprop", "sgd")): "paired t"}
    paired = pairs[(pairs["group"] == "adding") & (pairs["test"] == "paired t")].iloc[0]
    assert (paired["n_a"], paired["n_b"]) == (4, 4)
    for workload in ("mnist1d-cnn", "adding"):
        part = pairs[pairs["group"] == workload].set_index(["a", "b"])
        vs_sgd = part[part.index.get_level_values("b") == "sgd"]
        assert (vs_sgd["p_holm"] < 0.05).all()
        assert all(v.split()[1:5] == ["better", "than", "sgd", "by"] for v in vs_sgd["verdict"])
        null = part[part.index.get_level_values("b") != "sgd"]
        seeds = f"{len(SEEDS)} seeds" if workload == "mnist1d-cnn" else "4 vs 6 seeds"  # rmsprop (lower MSE) first
        assert null["verdict"].iloc[0].startswith(f"inconclusive with {seeds}")
        assert (part["p_holm"] >= part["p"]).all()


def test_failures_lists_diverged_and_errored_trials_with_settings(trials):
    bad = tb.failures(trials)
    assert sorted(bad["status"].value_counts().items()) == [("diverged", 5), ("error", 3)]
    assert (bad.loc[bad["status"] == "error", "error"] == "RuntimeError: out of memory").all()
    assert set(bad.loc[bad["status"] == "diverged", "settings"]) == {"lr=1", "lr=0.001"}  # tuning lr=1, rmsprop's seed 5
    final = bad[bad["phase"] == "final"].set_index("trial_id")["status"].to_dict()
    assert final == {"adding.rmsprop.seed-5": "diverged", "adding.sgd.seed-4": "error"}


def test_lr_ranges_find_each_levels_best_lr(trials):
    spans = tb.lr_ranges(trials).set_index(["group", "level"])
    for (_, level), row in spans.iterrows():
        assert abs(math.log10(row["best_lr"] / BEST_LR[level])) < 0.5  # nearest grid point to the planted optimum
        assert row["good_lr_low"] <= row["best_lr"] <= row["good_lr_high"]


def test_time_to_target_uses_the_first_epoch_at_target(run_dir, trials):
    ttt = tb.time_to_target(trials, read_run(run_dir)["epochs"]).merge(trials[["trial_id", "group", "level"]])
    cnn = ttt[ttt["group"] == "mnist1d-cnn"]
    assert cnn.loc[cnn["level"] == "sgd", "seconds"].isna().all()  # sgd's 0.80 never reaches 95% of adam's 0.90
    reached = cnn.dropna(subset=["seconds"])
    assert len(reached) and ((reached["seconds"] / reached["epochs"]).round(6).isin([0.5, 0.6])).all()


def test_time_to_target_uses_the_workloads_recorded_goal(run_dir, trials):
    epochs = read_run(run_dir)["epochs"]
    cnn = trials[trials["workload"] == "mnist1d-cnn"]
    ttt = tb.time_to_target(cnn.assign(goal=0.5), epochs).merge(trials[["trial_id", "level"]])
    assert (ttt["target"] == 0.5).all() and ttt["seconds"].notna().all()  # every level passes 0.5 early
    assert tb.time_to_target(cnn.assign(goal=0.999), epochs)["seconds"].isna().all()


def test_prepare_gives_untagged_runs_a_level_per_run():
    plain = pd.DataFrame({"trial_id": ["t0", "t1"], "run": ["run-a", "run-b"], "workload": ["mnist1d-cnn"] * 2,
                          "optimizer": ["sgd", "adam"], "status": ["ok", "diverged"], "test_acc": [0.8, math.nan]})
    df = tb.prepare(plain)
    assert list(df["level"]) == ["run-a", "run-b"] and set(df["phase"]) == {"final"}
    assert list(df["target_metric"]) == ["test_acc"] * 2 and df["score"].iloc[0] == 0.8 and math.isnan(df["score"].iloc[1])
    assert list(tb.prepare(plain, compare="optimizer")["level"]) == ["sgd", "adam"]


def test_prepare_renames_nothing_a_faq_group_stays_beside_its_workload():
    """Levels are compared within `group`; `workload` stays the workload a trial trained on, also where a FAQ group
    spans two (CNN and GRU on one dataset), and no `dataset` column appears. A table without `group` (a single run,
    a sweep written before sweeps tagged one, merged with one after) is compared per workload."""
    faq = pd.DataFrame({"trial_id": ["c", "g"], "experiment": "e", "group": "mnist1d", "level": ["cnn", "gru"],
                        "workload": ["mnist1d-cnn", "mnist1d-gru"], "phase": "final", "status": "ok", "seed": 1,
                        "test_acc": [0.9, 0.8]})
    df = tb.prepare(faq)
    assert list(df["workload"]) == ["mnist1d-cnn", "mnist1d-gru"] and list(df["group"]) == ["mnist1d"] * 2
    assert "dataset" not in df and tb.groups(df) == ["mnist1d"] and tb.groups_span_workloads(df)
    assert list(tb.leaderboard(df)["group"]) == ["mnist1d"] * 2 and list(tb.pairwise(df)["group"]) == ["mnist1d"]
    lines = render.summary(df, ["e"])
    assert "Groups compared within: mnist1d" in lines and "Workloads: mnist1d-cnn, mnist1d-gru" in lines
    untagged = faq.drop(columns=["experiment", "group"])
    merged = tb.prepare(pd.concat([untagged, faq.assign(trial_id=["c2", "g2"])], ignore_index=True))
    assert list(merged["group"]) == ["mnist1d-cnn", "mnist1d-gru", "mnist1d", "mnist1d"]
    sweep = tb.prepare(untagged)
    assert list(sweep["group"]) == list(sweep["workload"]) and not tb.groups_span_workloads(sweep)
    assert not any(line.startswith("Groups") for line in render.summary(sweep, ["s"]))
    assert "group" not in tb.failures(sweep.assign(status="error")) and "group" in tb.failures(df.assign(status="error"))


def test_report_html_has_every_section_and_figure(written):
    html = (written / "index.html").read_text()
    for anchor in render.SECTIONS:
        assert f'id="{anchor}"' in html
    for name in render.FIGURES:
        assert re.search(rf'<figure id="fig-{name}"><img alt="[^"]*" data-font-px="1[5-9]\.\d" '
                         rf'src="data:image/png;base64,[A-Za-z0-9+/=]{{1000,}}"', html)
    assert "Not shown" not in html
    assert "sgd better than" not in html  # sgd is worse everywhere; a verdict must name the better level first
    assert "adam better than sgd by" in html and "inconclusive with 5 seeds" in html
    assert "RuntimeError: out of memory" in html and "bench sweep opt --quick" in html
    assert "2 tuning trials were stopped early by ASHA (not failures)" in html


def test_report_markdown_links_the_pngs_written_beside_it(written):
    md = (written / "report.md").read_text()
    links = re.findall(r"\]\((figures/[a-z_]+\.png)\)", md)
    assert sorted(links) == sorted(f"figures/{n}.png" for n in render.FIGURES)
    for link in links:
        height, width = matplotlib.image.imread(written / link).shape[:2]
        assert 500 <= width <= 2500 and 250 <= height <= 1500
    assert "| rank | level | mean [95% CI] |" in md


def test_merged_runs_keep_trials_apart(run_dir, tmp_path):
    other = make_run(tmp_path / "opt-2", seed=1)
    tables, infos = render.load([run_dir, other])
    assert list(infos) == ["opt-1", "opt-2"]
    assert len(tables["trials"]) == 2 * len(read_run(run_dir)["trials"]) and tables["trials"]["trial_id"].is_unique
    board = tb.leaderboard(tables["trials"], tables["epochs"])
    assert {(r.group, r.level): r.seeds for r in board.itertuples()} == {
        (r.group, r.level): 2 * finished_seeds(r.group, r.level) for r in board.itertuples()}


@pytest.mark.parametrize(("args", "message"), [
    (["report", "{missing}"], "nope does not exist"),
    (["report", "{empty}"], "is not a bench run folder"),
    (["report", "{run}", "--compare", "nonsense"], "--compare 'nonsense' is not a column"),
    (["report", "{run}", "--name", "a/b"], "--name 'a/b' must be"),
])
def test_report_user_errors_are_one_line_exit_2(run_dir, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    argv = [a.format(missing=tmp_path / "nope", empty=tmp_path / "empty", run=run_dir) for a in args]
    argv += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_report_never_imports_ray_or_the_workloads():
    import subprocess

    code = ("import sys; import bench.report.render, bench.report.figures; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'bench.workloads', 'bench.train'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_failures_say_why_each_trial_failed(trials):
    bad = tb.failures(trials)
    assert bad["error"].str.len().gt(0).all()  # a divergence carries no message of its own: the table gives one
    diverged = bad[bad["status"] == "diverged"]
    assert diverged["error"].str.startswith("training loss became NaN/inf").all()
    assert "0.000464" in set(bad["lr"])  # 3 significant digits, not 0.00046415888336127773
    assert all(v == f"{float(v):.3g}" for v in bad["lr"])


def test_verdicts_are_said_once_in_the_pairwise_table(written):
    text = (written / "index.html").read_text()
    pairs = text[text.index('id="comparisons"'):text.index('id="figures"')]
    assert "<li>" not in pairs and "<td>inconclusive with" in pairs


@pytest.mark.parametrize("seconds,words", [(215.46797105099995, "3 min 35 s"), (4000, "1 h 6 min"), (2.5, "2.5 s"),
                                           (42.4, "42 s")])
def test_durations_read_as_minutes_and_seconds(seconds, words):
    assert units.duration(seconds) == words


def test_provenance_is_tables_of_readable_values():
    facts, nested = render.provenance_view({"run-a": {"wall_time": 215.46797105099995, "quick": True, "cpu_count": 2,
                                                      "space": {"tune": {"lr": {"min": 1e-4, "max": 1.0}},
                                                                "levels": ["sgd", "adam"]}}})
    values = facts.set_index("field")["run-a"]
    assert values["wall time"] == "3 min 35 s" and values["quick"] == "yes" and values["cpu count"] == "2"
    space = nested["run-a: space"].set_index("setting")["value"]
    assert space["tune.lr.min"] == "0.0001" and space["levels"] == "sgd, adam"


def study_claims(inconclusive: bool) -> pd.DataFrame:
    rows = [{"key": "a", "claim": "ReLU keeps gradients", "source": "He 2015", "criterion": "ratio < 10",
             "measured": "(3.1, 2.9)", "seeds_met": "5/5", "outcome": "pass"},
            {"key": "b", "claim": "RMSprop restores them", "source": "FAQ 8.5", "criterion": "ratio < 10",
             "measured": "(40, 52)", "seeds_met": "3/5" if inconclusive else "0/5",
             "outcome": "inconclusive" if inconclusive else "fail"}]
    return pd.DataFrame(rows)


def test_the_faq_reads_a_study_claims_table_as_the_text_it_is_and_refuses_one_without_outcomes(tmp_path):
    """claims.csv holds only text: read back, "5/5", "1.0" and "pass" stay what the study wrote (no re-typed
    numbers or booleans); a table from before the outcome column is refused with the fix, not judged by guesswork."""
    from bench.config import ConfigError
    from bench.faq.main import load_study

    written = study_claims(False).assign(measured=["1.0", "NA"])
    written.to_csv(tmp_path / "claims.csv", index=False)
    claims, _ = load_study("vanishing", tmp_path)
    assert claims.equals(written) and claims["measured"].tolist() == ["1.0", "NA"]
    written.drop(columns="outcome").assign(passed=[True, False]).to_csv(tmp_path / "claims.csv", index=False)
    with pytest.raises(ConfigError, match="no outcome column.*run `bench study vanishing` again"):
        load_study("vanishing", tmp_path)


@pytest.mark.parametrize("outcome", [False, True])
def test_study_page_has_the_claims_and_captioned_tidy_figures(tmp_path, outcome):
    import seaborn as sns

    from bench.report import figures as fg

    fig, (ax,) = fg.panels(1, "Gradient norm during training")
    curves = pd.DataFrame([{"config": c, "seed": s, "step": i, "norm": v} for c, ys in
                           {"lecun": [[1, 2, 3], [3, 4, 5]], "lecun+residual": [[math.nan] * 3] * 2}.items()
                           for s, y in enumerate(ys) for i, v in enumerate(y)])
    sns.lineplot(curves, x="step", y="norm", hue="config", units="seed", estimator=None, ax=ax)
    curves.to_parquet(tmp_path / "trials.parquet")  # the study writes its raw tables first: the page links them
    path = render.write_study_page(tmp_path, "Gradient study: vanishing", ["Size quick, 5 seeds."], study_claims(outcome),
                                   {"grad_norm_over_steps": fig}, {"grad_norm_over_steps": "Residual nets explode."})
    text = path.read_text()
    assert path == tmp_path / "index.html" and render.CSS in text
    assert re.findall(r'href="([^"#]+)"', text) == ["trials.parquet"]  # every link resolves beside the page
    assert '<span class="badge good verdict-pass">PASS</span>' in text and "RMSprop restores them" in text
    assert ('<span class="badge mixed verdict-inconclusive">INCONCLUSIVE</span>' if outcome
            else '<span class="badge bad verdict-fail">FAIL</span>') in text
    assert text.count('<tr id="claim-') == 2 and '<nav class="toc"' in text
    assert "Residual nets explode. Notes: lecun+residual went NaN (not drawn); line: mean over seeds; band: their range." in text
    assert matplotlib.image.imread(tmp_path / "grad_norm_over_steps.png").shape[1] > 500
    assert len([ln for ln in ax.get_lines() if len(ln.get_xdata())]) == 1  # two seeds drawn as one line
    import json

    from bench.faq.main import load_study

    said = json.loads((tmp_path / "captions.json").read_text())
    assert said["grad_norm_over_steps"].startswith("Residual nets explode. Notes: lecun+residual went NaN")
    (tmp_path / "claims.csv").write_text(study_claims(outcome).to_csv(index=False))
    _, pngs = load_study("vanishing", tmp_path)  # the FAQ shows the study's figures with the study's captions
    assert [(n, c) for n, _, c in pngs] == [("vanishing-grad_norm_over_steps", "Vanishing study: "
                                             + said["grad_norm_over_steps"])]


def test_best_hyperparameters_keep_decay_rates_apart_from_one():
    """beta2 0.9997 at 3 significant digits reads "1" (no second-moment averaging at all); the text keeps 1 - v."""
    import pandas as pd

    from bench.report.tables import describe_params

    row = pd.Series({"lr": 0.018534, "beta2": 0.9997, "alpha": 0.976, "momentum": 0.9, "width": 64})
    assert describe_params(row, ["lr", "beta2", "alpha", "momentum", "width"]) == \
        "lr=0.0185, beta2=0.9997, alpha=0.976, momentum=0.9, width=64"


def test_the_leaderboard_states_the_protocol_its_searches_followed():
    lr_only = pd.DataFrame({"tuned": ["lr", "lr", ""], "level": ["adam", "sgd", "fixed"]})
    assert "learning rate only" in tb.protocol(lr_only) and "Schmidt" in tb.protocol(lr_only)
    wide = lr_only.assign(tuned=["lr,beta1,beta2", "lr", ""])
    assert "beta1, beta2" in tb.protocol(wide) and "Choi" in tb.protocol(wide)
    assert tb.protocol(lr_only.assign(tuned="")) == "" and tb.protocol(pd.DataFrame({"level": ["a"]})) == ""


def test_the_protocol_names_the_lr_grid_every_level_shared_and_only_a_shared_one():
    grid = [1e-3, 1e-2, 0.1, 1.0]
    rows = [{"group": "w", "level": lv, "phase": "tune", "tuned": "lr", "lr": lr} for lv in ("adam", "sgd") for lr in grid]
    rows += [{"group": "w", "level": "adam", "phase": "tune", "tuned": "lr", "lr": lr} for lr in (3.16e-3, 3.16e-2)]
    rows += [{"group": "w", "level": lv, "phase": "final", "tuned": "lr", "lr": 0.5} for lv in ("adam", "sgd")]
    text = tb.protocol(pd.DataFrame(rows))
    assert "same LR grid (0.001, 0.01, 0.1, 1, then the two half-way points around its best)" in text, text
    tpe = [{**r, "lr": r["lr"] * (1.1 if r["level"] == "sgd" else 1)} for r in rows]
    assert "grid" not in tb.protocol(pd.DataFrame(tpe))  # sampled LRs differ from level to level: no grid claimed
    unrefined = [r for r in rows if r["lr"] not in (3.16e-3, 3.16e-2)]
    assert "half-way" not in tb.protocol(pd.DataFrame(unrefined))
