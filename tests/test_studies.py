"""Each gradient study runs end to end on the tiny budget and writes its claims table, figures and raw tables."""
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.search.experiment import BUDGETS
from bench.search.protocol import BudgetName, budget_name
from bench.studies import exploding, vanishing
from bench.studies.common import CLAIM_COLUMNS, ClaimOutcome, Study, decide, fmt_seeds

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "reports" / "examples" / "studies"
FIGURES = {
    "vanishing": {"grad_variance_by_depth", "activation_scale_by_depth", "grad_norm_over_steps", "grad_ratio_over_steps",
                  "update_ratio_by_depth", "sigmoid_activation_mean"},
    "exploding": {"grad_norm_over_steps", "loss_over_steps", "success_vs_length", "mse_vs_length",
                  "mitigations_grad_norm"},
}
FAQ_KEYS = {  # the rows the FAQ (8.5, 8.6) looks up by key
    "vanishing": {"faq-relu", "faq-bn", "faq-residual", "faq-rmsprop"},
    "exploding": {"faq-relu", "faq-bn", "faq-weight-clip", "faq-adam", "grad-norm-clip"},
}


def check_outputs(folder, name: str, claims: pd.DataFrame) -> None:
    assert list(claims.columns) == CLAIM_COLUMNS
    assert FAQ_KEYS[name] <= set(claims["key"]) and claims["key"].is_unique
    assert set(claims["outcome"]) <= {o.value for o in ClaimOutcome}
    assert (claims["criterion"].str.len() > 20).all() and (claims["measured"].str.len() > 5).all()
    on_disk = pd.read_csv(folder / "claims.csv")
    assert list(on_disk["key"]) == list(claims["key"])
    markdown = (folder / "claims.md").read_text()
    assert sum(markdown.count(f"| {o.value} |") for o in ClaimOutcome) == len(claims)  # the page's claims table
    assert all(f"({p.name})" in markdown for p in folder.glob("*.png"))  # the PNGs beside it
    assert {p.stem for p in folder.glob("*.png")} == FIGURES[name]
    assert all(p.stat().st_size > 5000 for p in folder.glob("*.png"))
    trials = pd.read_parquet(folder / "trials.parquet")
    gradients = pd.read_parquet(folder / "gradients.parquet")
    assert {"group", "grad_health", "status"} <= set(trials.columns)
    assert set(gradients["trial_id"]) <= set(trials["trial_id"]) and len(gradients) > 0
    page = (folder / "index.html").read_text()
    linked = set(re.findall(r'<a href="([^"#]+)"', page))
    assert linked == {"claims.csv", *(p.name for p in folder.glob("*.parquet"))} and "trials.parquet" in linked
    assert all(f"]({name})" in markdown for name in linked)
    assert pq.ParquetFile(folder / "trials.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    provenance = json.loads((folder / "run.json").read_text())
    assert provenance["kind"] == f"study {name}" and set(provenance["seeds"]) <= set(trials["seed"])


def test_exploding_study_end_to_end(tmp_path):
    import matplotlib

    lines, before = [], dict(matplotlib.rcParams)
    claims = exploding.run(size="tiny", out=tmp_path, progress=lines.append)
    assert dict(matplotlib.rcParams) == before  # drawing its figures left the process's settings alone
    check_outputs(tmp_path / "exploding", "exploding", claims)
    assert sum(line.startswith(("PASS", "FAIL", "INCONCLUSIVE", "UNTESTABLE")) for line in lines) == len(claims)
    assert claims["outcome"].isin(["inconclusive", "untestable"]).all()  # one seed decides nothing
    gated = claims.set_index("key").loc[["irnn-adding", "rnn-adding-fails"], "outcome"]
    assert (gated == "untestable").all()  # 8 steps give no cell the steps it needs: a gate, not a weak result
    assert not any(re.search(r"\[[a-zA-Z/#@]", line) for line in lines)  # Rich would take it for a markup tag
    by_length = pd.read_parquet(tmp_path / "exploding" / "adding_by_length.parquet")
    assert set(by_length["T"]) == set(exploding.SCALES["tiny"].lengths) | set(exploding.SCALES["tiny"].cell_lengths)


@pytest.mark.slow
def test_vanishing_study_from_the_cli_survives_a_killed_ray_worker(tmp_path):
    """`bench study vanishing` on its own Ray, one of whose workers is SIGKILLed while a trial trains: Tune re-runs
    the trial with its config and seed, and after at most one --resume (should every retry fail) the study's
    outputs are complete and its trials table is an uninterrupted in-process run's, trial by trial."""
    from tests.test_resume import check_same, kill_a_worker, study

    whole = tmp_path / "whole"
    whole.mkdir()
    study(whole, resume=False)
    killed = tmp_path / "killed"
    _, output = kill_a_worker(["study", "vanishing", "--budget", "tiny", "--out", str(killed)], killed / "vanishing" / "parts",
                              after=10)  # the tuning batch (8 trials) is done: its final phase runs
    check_same(killed / "vanishing", whole / "vanishing")
    folder = killed / "vanishing"
    claims = pd.read_csv(folder / "claims.csv")
    check_outputs(folder, "vanishing", claims)
    pd.testing.assert_frame_equal(claims, pd.read_csv(whole / "vanishing" / "claims.csv"))
    assert "claims:" in output and output.count("criterion:") == len(claims)
    assert f"page: {folder / 'index.html'}" in output
    summary = output[output.index("study vanishing: "):]  # the lines after the last claim
    assert re.match(r"study vanishing: \d+ pass, \d+ fail, \d+ inconclusive, \d+ untestable of \d+ claims, "
                    r"in (\d+(\.\d)? s|\d+ min \d+ s|\d+ h \d+ min)\n", summary)  # seconds, or longer on a busy machine
    assert f"bench report {folder}" in summary and not re.search(r"\d\.\d{4,}", summary)  # the next step; no raw floats
    assert "Gradient study: vanishing" in (folder / "index.html").read_text()
    ran = json.loads((folder / "run.json").read_text())["runner"]  # its trials ran on the engine's Ray Tune runner
    assert ran["runner"] == "ray tune" and ran["address"] == "local" and ran["slots"] >= 1
    assert not (folder / "parts").exists() and (folder / "cache").is_dir()  # parts are in the tables; cache kept
    init = pd.read_parquet(folder / "init_layers.parquet")
    assert set(init["layer_index"]) == set(range(1, 31))


def test_a_resumed_study_trains_nothing_it_trained_before_and_decides_the_same(tmp_path, monkeypatch):
    import bench.train

    first = exploding.run(size="tiny", out=tmp_path, progress=lambda line: None)
    trials = pd.read_parquet(tmp_path / "exploding" / "trials.parquet")
    timed = json.loads((tmp_path / "exploding" / "run.json").read_text())
    monkeypatch.setattr(bench.train, "run_trial", lambda *a, **k: pytest.fail("a trial trained again"))
    again = exploding.run(size="tiny", out=tmp_path, progress=lambda line: None, resume=True)
    pd.testing.assert_frame_equal(first, again)
    resumed_info = json.loads((tmp_path / "exploding" / "run.json").read_text())
    # the resumed run's time is both sessions' (the second, training nothing, is the shorter one)
    assert timed["sessions"] == 1 and resumed_info["sessions"] == 2 and resumed_info["wall_time"] >= timed["wall_time"] > 0
    resumed = pd.read_parquet(tmp_path / "exploding" / "trials.parquet")
    assert sorted(resumed["trial_id"]) == sorted(trials["trial_id"])
    with pytest.raises(pytest.fail.Exception, match="trained again"):  # without --resume the cache is cleared
        exploding.run(size="tiny", out=tmp_path, progress=lambda line: None)


@pytest.mark.parametrize("args, message", [
    (["study", "nope"], "unknown study 'nope'"),
    (["study", "vanishing", "--seeds", "0"], "--seeds must be >= 1"),
    (["study", "exploding", "--budget", "huge"], "unknown budget 'huge'; choose one of: tiny, quick, full"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output and "starting Ray" not in result.output


def test_claim_helpers(tmp_path):
    assert budget_name(True, None) == "quick" and budget_name(False, None) == "full"
    assert set(vanishing.SCALES) == set(exploding.SCALES) == set(BUDGETS) == set(BudgetName)  # one set of names
    assert decide([True] * 4 + [False]) is ClaimOutcome.PASS and decide([True] + [False] * 4) is ClaimOutcome.FAIL
    assert decide([True] * 3 + [False] * 2) is ClaimOutcome.INCONCLUSIVE and decide([True] * 4) is ClaimOutcome.INCONCLUSIVE
    assert decide([True] * 8 + [False] * 2) is ClaimOutcome.PASS and decide([True] * 7 + [False] * 3) is ClaimOutcome.INCONCLUSIVE
    assert fmt_seeds([0.5, float("inf"), 1e-5]) == "(0.5, inf, 1.00e-05)"
    study = Study("demo", tmp_path, "tiny", 5, lambda line: None, "notes")
    study.claim("k", "a claim", "a source", "x > 1", "x = 2", [True] * 5)
    study.claim("g", "a gated claim", "a source", "x > 1", "x = 2", [True] * 5, gate="the reference did not learn")
    study.claim("f", "a failed claim", "a source", "x > 1", "x = 0", [False] * 4 + [True])
    claims = study.finish({})
    assert list(claims["outcome"]) == ["pass", "untestable", "fail"] and list(claims["seeds_met"]) == ["5/5", "5/5", "1/5"]
    assert "not judged: the reference did not learn" in claims.loc[1, "measured"]
    assert (tmp_path / "demo" / "claims.md").read_text().count("| pass | 5/5 |") == 1


def test_weight_clipping_thresholds_act_where_plus_minus_one_would_not():
    assert "changes 0% of W_hh" in exploding.acted("weight clipping", {"weight_clip": 1.0, "lr": 0.1})
    radius = lambda c: float(re.search(r"spectral radius ([\d.]+)", exploding.acted("w", {"weight_clip": c})).group(1))
    assert radius(1.0) == pytest.approx(1.5, abs=0.01) and radius(max(exploding.WEIGHT_CLIPS)) < 1.4
    assert radius(min(exploding.WEIGHT_CLIPS)) < 1  # the sweep reaches a contracting recurrence


def test_a_diverged_run_counts_as_a_gradient_spike_even_before_the_warmup_ends():
    from bench.train import TrialResult
    assert exploding.grad_spike(TrialResult({}, "diverged", {}, [], []), 30) == float("inf")


def planted_profiles(ratios: dict[tuple[str, str], float], seeds: int = 5) -> pd.DataFrame:
    """5-layer init profiles whose layer-1 / layer-5 gradient variance ratio is planted per (activation, init)."""
    rows = [{"activation": a, "init": init, "seed": seed, "layer_index": i, "grad_var": ratio if i == 1 else 1.0}
            for (a, init), ratio in ratios.items() for seed in range(seeds) for i in range(1, 6)]
    return pd.DataFrame(rows)


# The committed quick study's values (geometric means): under the shared inits ReLU loses to tanh, under each
# activation's own init it keeps its gradient variance. kaiming for tanh is planted at exactly 1 so that a criterion
# comparing all three under one init (the old bug) would see tanh win.
LITERATURE = {("relu", "kaiming"): 1.02, ("tanh", "xavier"): 7.6, ("sigmoid", "xavier"): 1.06e-5,
              ("relu", "standard"): 7.5e-4, ("tanh", "standard"): 6.9e-3, ("sigmoid", "standard"): 1.4e-7,
              ("relu", "normalized"): 0.062, ("tanh", "normalized"): 0.66, ("sigmoid", "normalized"): 1.06e-5,
              ("tanh", "kaiming"): 1.0, ("sigmoid", "kaiming"): 7.8e-6, ("relu", "xavier"): 0.062}


def test_relu_claim_compares_each_activation_under_its_own_init():
    gb = planted_profiles(LITERATURE)
    assert vanishing.relu_own_init(gb)[0] == [True] * 5
    assert all(vanishing.relu_shared_init(gb, init)[0] == [False] * 5 for init in vanishing.SHARED_INITS)


@pytest.mark.parametrize("planted", [
    {("relu", "kaiming"): 1e-3},  # ReLU's own init lets its gradient vanish
    {("relu", "kaiming"): 8.0},  # ReLU's gradient grows toward the input beyond the band
    {("sigmoid", "xavier"): 0.9},  # sigmoid under its own init does not vanish: nothing to mitigate
    {("tanh", "xavier"): 1.01},  # tanh under its own init keeps its gradient closer to constant than ReLU
])
def test_relu_claim_fails_where_the_literature_would(planted):
    assert vanishing.relu_own_init(planted_profiles({**LITERATURE, **planted}))[0] == [False] * 5


def test_relu_claim_fails_under_one_shared_init_the_old_bug(monkeypatch):
    gb = planted_profiles(LITERATURE)
    for init in ("kaiming", *vanishing.SHARED_INITS):  # the old comparison: one init for all three activations
        monkeypatch.setattr(vanishing, "OWN_INIT", dict.fromkeys(vanishing.OWN_INIT, init))
        assert vanishing.relu_own_init(gb)[0] == [False] * 5, init


def unnamed(notes: str, labels: set[str]) -> str:
    """What is left of a caption's notes once every label and the notes' own words are taken out."""
    for label in sorted(labels, key=len, reverse=True):
        notes = notes.replace(label, "")
    return re.sub(r"all \d+ lines|overlap|went NaN \(not drawn\)|line: mean over seeds|band: their range|\band\b|[,;.:]|\s",
                  "", notes)


@pytest.mark.parametrize("figure", ["success_vs_length", "mse_vs_length"])
def test_committed_length_figures_name_their_own_lines(figure):
    """The notes under the committed exploding page's length figures name the lines as their legends do (the
    configs of adding_by_length.parquet beside it), not as an earlier run called them ('tanh RNN and IRNN overlap'
    where the lines are 'tanh RNN (Adam + clip 1)' and 'IRNN (Adam + clip 1)')."""
    folder = EXAMPLES / "exploding"
    labels = set(pd.read_parquet(folder / "adding_by_length.parquet")["config"])
    notes = json.loads((folder / "captions.json").read_text())[figure].partition("Notes: ")[2]
    assert unnamed(notes, labels) == "", notes
    assert notes in (folder / "index.html").read_text().replace("&#x27;", "'").replace("&amp;", "&")
