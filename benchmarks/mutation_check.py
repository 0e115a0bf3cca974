"""Mutation check: does the test suite notice when a result is wrong?

Each entry of MUTANTS plants one realistic bug (an exact snippet of the code replaced by a wrong one) in a fresh
temporary copy of the repository's git-tracked files, then runs the tests that should notice it there, with this
Python and PYTHONPATH pointing at the copy. A mutant is *caught* when those tests fail, *survived* when they pass.
A snippet that is no longer in the code (or is there more than once) is reported as STALE and counts as a
failure of this tool: fix the entry to match the code, never drop it silently. Before the mutants, the selected
tests run once on the unchanged copy, which must pass (otherwise "caught" would mean nothing).

A developer tool, not part of CI:

    python benchmarks/mutation_check.py              # every mutant, one at a time
    python benchmarks/mutation_check.py -j 2         # two at a time
    python benchmarks/mutation_check.py --list       # the planted bugs and their tests, checks snippets only
    python benchmarks/mutation_check.py --only best-picks-worst,welch-is-student
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600


@dataclass(frozen=True)
class Mutant:
    id: str
    behaviour: str  # what goes wrong, in words
    file: str  # relative to the repository root
    old: str  # exact snippet, present exactly once in the file
    new: str
    tests: tuple[str, ...]  # test files or node ids that must fail
    more: tuple[tuple[str, str], ...] = ()  # further (old, new) edits of the same file, planted together

    @property
    def edits(self) -> tuple[tuple[str, str], ...]:
        return ((self.old, self.new), *self.more)


T_PROTO = "tests/test_protocol_meaning.py"
T_TRAIN = "tests/test_train_meaning.py"
T_REG = "tests/test_registry_meaning.py"
T_STATS = "tests/test_stats_reference.py"
T_STUDY = "tests/test_study_claims.py"
T_FAQ = "tests/test_faq_claims.py"
T_CACHE = "tests/test_data_cache.py"
T_STACK = "tests/test_stacked.py"
T_STACK_SWEEP = "tests/test_stacked_sweep.py"
T_RESUME = "tests/test_resume_checks.py"

MUTANTS: tuple[Mutant, ...] = (
    # --- the sweep protocol ---------------------------------------------------------------------------------
    Mutant("objective-is-test-metric", "the search tunes on the test metric instead of its validation counterpart",
           "bench/scores.py", 'return f"val_{metric}"', 'return f"test_{metric}"', (T_PROTO,)),
    Mutant("trial-objective-is-test-score", "a sweep trial hands the search its test score as the objective",
           "bench/search/trial.py",
           'value = objective(result.status, result.epochs, task["metric"], task["mode"], tested_epoch(',
           'value = objective(result.status, [result.final], task["target"], task["mode"], 0 * tested_epoch(',
           (T_PROTO,)),
    Mutant("best-picks-worst", "the one selection rule (confirm step, FAQ comparator, study grid point) picks the "
           "worst candidate", "bench/scores.py", '(mean > chosen[1] if mode == "max" else mean < chosen[1])',
           '(mean < chosen[1] if mode == "max" else mean > chosen[1])', (T_PROTO, "tests/test_scores.py")),
    Mutant("selection-ties-to-last", "the one selection rule gives ties to the later candidate",
           "bench/scores.py", '(mean > chosen[1] if mode == "max" else mean < chosen[1])',
           '(mean >= chosen[1] if mode == "max" else mean <= chosen[1])', ("tests/test_scores.py",)),
    Mutant("best-takes-stopped", "a trial stopped early by ASHA can be chosen as best", "bench/search/protocol.py",
           'if o.status != TrialStatus.OK:\n        return None',
           'if o.status not in (TrialStatus.OK, TrialStatus.STOPPED):\n        return None', (T_PROTO,)),
    Mutant("ranking-backwards", "the search's ranking puts the worst tuning trial first", "bench/search/protocol.py",
           'return -o.objective if mode == "max" else o.objective',
           'return o.objective if mode == "max" else -o.objective', (T_PROTO,)),
    Mutant("peak-draws-global-rng", "the first trial of a process gets other dropout masks (the matmul peak draws "
           "from the global RNG)", "bench/flops.py",
           "a, b = (torch.randn(n, n, device=device, dtype=dtype, generator=gen) for _ in range(2))",
           "a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))", (T_TRAIN,)),
    Mutant("full-disk-says-other-out", "a sweep, study or FAQ stopped by a full disk advises another --out (losing "
           "its trials) instead of freeing space and resuming", "bench/cli.py",
           "        if not failed.full:\n", "        if True:\n",
           ("tests/test_interrupts.py::test_a_killed_worker_and_a_disk_filled_mid_sweep_then_freed_give_the_uninterrupted_trials",
            "tests/test_hardening.py::test_a_disk_that_fills_during_a_study_or_the_faq_says_free_space_then_resume")),
    Mutant("read-only-says-resume", "a read-only run folder is told to free space and resume, which cannot help",
           "bench/cli.py", "        if not failed.full:\n", "        if False:\n",
           ("tests/test_hardening.py::test_a_disk_that_fills_during_a_study_or_the_faq_says_free_space_then_resume",)),
    Mutant("fifty-lines-drawn", "a 50-level sweep's line figures draw all 50 levels (an unreadable blur)",
           "bench/report/figures.py", "    if len(names) <= MAX_LINES:\n", "    if True:\n", ("tests/test_figures.py",)),
    Mutant("worst-levels-drawn", "a many-level figure draws the worst levels instead of the best",
           "bench/report/figures.py", 'ascending=not tb.higher_is_better(mode), na_position="last").index[:MAX_LINES])',
           'ascending=tb.higher_is_better(mode), na_position="last").index[:MAX_LINES])', ("tests/test_figures.py",)),
    Mutant("edited-cache-entry-used", "a cache entry edited by hand still feeds a later experiment",
           "bench/search/trial.py", "        hit.unlink(missing_ok=True)\n        return None\n",
           "        return result_of(json.loads(hit.read_bytes()))\n", ("tests/test_faq_runner.py",)),
    Mutant("ranking-keeps-replaced", "an outcome recorded again stays ranked under its old value as well",
           "bench/search/protocol.py",
           "            self._ranked = [r for r in self._ranked if r[2].trial_id != tid]\n", "", (T_PROTO,)),
    Mutant("cursor-hands-out-running", "the next tuning trial may be one that is running already",
           "bench/search/protocol.py",
           "(ids[self._cursor] in self.done or ids[self._cursor] in self.running)", "ids[self._cursor] in self.done",
           (T_PROTO,)),
    Mutant("cancelled-trial-not-first", "a cancelled tuning trial waits behind new ones instead of running first",
           "bench/search/protocol.py",
           "        elif self.tuning_index(trial_id) is not None:\n            self._reopen.add(trial_id)\n", "", (T_PROTO,)),
    Mutant("failure-tally-double", "a trial recorded twice is counted as failed twice in the terminal's tally",
           "bench/search/protocol.py",
           "            self.failures[tid in self.final_ids()] -= TrialStatus(old.status).is_failure()\n", "", (T_PROTO,)),
    Mutant("confirm-seed-ignored", "the confirmed choice ignores the confirm seed's result", "bench/search/protocol.py",
           "best_mean(((o, (o.objective, again)) for o, again in confirmed), mode)",
           "best_mean(((o, (o.objective,)) for o, again in confirmed), mode)", (T_PROTO,)),
    Mutant("grid-refines-around-worst", "the LR grid refines around its worst grid LR", "bench/search/tune.py",
           "return {\"lr\": float(f\"{ranked[0].params['lr'] * 10 ** half:.3g}\")}",
           "return {\"lr\": float(f\"{ranked[-1].params['lr'] * 10 ** half:.3g}\")}", ("tests/test_faq_runner.py",)),
    Mutant("follower-ignores-its-leader", "a cell that takes another level's LR starts before that LR is chosen",
           "bench/search/protocol.py", "            if self.lr_from and chosen is None:\n                return None\n",
           "", ("tests/test_faq_runner.py",)),
    Mutant("early-stop-judged-on-last-epoch", "an early-stopped trial is judged on its last epoch, not the restored one",
           "bench/search/protocol.py",
           "row = next((e for e in epochs if e.get(\"epoch\") == tested), epochs[-1]) if tested else epochs[-1]",
           "row = epochs[-1]", (T_PROTO,)),
    Mutant("confirm-seed-is-a-final-seed", "the confirm step re-runs on the first final seed", "bench/search/protocol.py",
           "CONFIRM_SEED_OFFSET = 1_001", "CONFIRM_SEED_OFFSET = 1", (T_PROTO,)),
    Mutant("resume-picks-oldest", "--resume last continues the oldest run", "bench/search/sweep.py",
           "folder = runs[-1]", "folder = runs[0]", (f"{T_PROTO}::test_resume_last_continues_the_newest_of_several_runs",
                                                     f"{T_PROTO}::test_resume_last_with_a_same_second_suffix_picks_the_later")),
    Mutant("final-seeds-reuse-tuning-seed", "the final phase re-runs with the tuning seed among its seeds",
           "bench/search/protocol.py", "return tuple(range(self.seed + 1, self.seed + 1 + self.seeds))",
           "return tuple(range(self.seed, self.seed + self.seeds))", (T_PROTO,)),
    # One leaderboard serves the terminal and the report (report/tables.py): its failed count and its ranking.
    Mutant("report-failed-ignores-diverged", "the leaderboard's failed column counts errors only",
           "bench/report/flags.py", "FAILED = TrialStatus.failures()", "FAILED = (TrialStatus.ERROR,)", (T_PROTO,)),
    Mutant("leaderboard-ranks-backwards", "the leaderboard ranks the worst level first", "bench/report/tables.py",
           'key = np.where(board["mode"] == "max", -1.0, 1.0)', 'key = np.where(board["mode"] == "max", 1.0, -1.0)',
           ("tests/test_sweep.py::test_leaderboard_means_cis_ranking_and_failures",)),
    # --- the training loop ----------------------------------------------------------------------------------
    Mutant("diverged-trial-scores-its-value", "a diverged tuning trial teaches the search its last value, not the worst",
           "bench/search/protocol.py", "if status not in (TrialStatus.OK, TrialStatus.STOPPED) or not epochs:",
           "if status == TrialStatus.ERROR or not epochs:",
           ("tests/test_sweep.py::test_search_uses_validation_metric_and_failures_score_worst",)),
    Mutant("train-metrics-on-val", "the end-of-epoch train metrics are measured on validation rows", "bench/train.py",
           "    train = data.train\n", "    train = data.val\n", (T_TRAIN,)),
    Mutant("exploded-loss-is-ok", "a finite but exploded training loss passes as a valid run", "bench/train.py",
           "if not math.isfinite(train_loss) or (self.first_loss and train_loss > EXPLODED * self.first_loss):",
           "if not math.isfinite(train_loss):",
           ("tests/test_train.py::test_a_finite_but_exploded_loss_is_diverged",)),
    Mutant("val-metrics-on-train", "validation metrics are computed on the training subset", "bench/train.py",
           'val = evaluate(self.model, self.data.val, self.loss', 'val = evaluate(self.model, self.train_eval, self.loss',
           (T_TRAIN,)),
    Mutant("val-inside-train", "the validation split is drawn from inside the training rows", "bench/data/base.py",
           "return train.subset(perm[n_val:]), train.subset(perm[:n_val])",
           "return train.subset(perm), train.subset(perm[:n_val])",
           ("tests/test_data_splits.py",)),
    Mutant("no-eval-mode", "model.eval() missing at evaluation (dropout and batch norm active)", "bench/metrics.py",
           "    was_training = model.training\n    model.eval()\n", "    was_training = model.training\n", (T_TRAIN,)),
    Mutant("shuffle-seed-zero", "batches are shuffled with seed 0 instead of cfg.seed", "bench/train.py",
           "self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)",
           "self.gen = torch.Generator(device=self.device).manual_seed(0)", (T_TRAIN,)),
    Mutant("patience-off-by-one", "early stopping waits one epoch too many", "bench/train.py",
           "bad_epochs >= self.cfg.early_stop", "bad_epochs > self.cfg.early_stop", (T_TRAIN,)),
    Mutant("plateau-on-train-loss", "ReduceLROnPlateau is stepped on the training loss", "bench/train.py",
           'self.sched.step(row["val_loss"])', 'self.sched.step(row["train_loss_running"])', (T_TRAIN,)),
    # --- registries -----------------------------------------------------------------------------------------
    Mutant("adam-nadam-swapped", "adam and nadam are swapped in the optimizer registry",
           "bench/components/optimizers.py",
           '"adam": OptimizerSpec("adam", _adam("Adam"),', '"adam": OptimizerSpec("adam", _adam("NAdam"),',
           (T_REG,), more=(('"nadam": OptimizerSpec("nadam", _adam("NAdam"),',
                            '"nadam": OptimizerSpec("nadam", _adam("Adam"),'),)),
    Mutant("rmsprop-alpha-from-beta2", "RMSprop's squared-gradient decay is fed from Adam's beta2",
           "bench/components/optimizers.py", "alpha=cfg.alpha", "alpha=cfg.beta2", (T_REG,)),
    Mutant("decay-always-coupled", "weight decay goes into the gradient even in decoupled mode",
           "bench/components/optimizers.py",
           'cfg.weight_decay if spec.decoupled or cfg.wd_mode == "coupled" else 0.0',
           "cfg.weight_decay", (T_REG,)),
    Mutant("lstm-workload-builds-gru", "the mnist1d-lstm workload trains a GRU", "bench/workloads.py",
           'cell="lstm"', 'cell="gru"', (T_REG,)),
    Mutant("warmup-ignores-its-fraction", "warm-up cosine warms up over a fixed tenth, whatever warmup_frac says",
           "bench/components/schedules.py", "else round(cfg.warmup_frac * total))",
           "else round(0.1 * total))", (T_REG,)),
    Mutant("tanh-gain-one", "tanh's init gain is 1.0 instead of 5/3", "bench/components/activations.py",
           'module("Tanh"), 5 / 3,', 'module("Tanh"), 1.0,', (T_REG,)),
    Mutant("kaiming-fan-out", "the kaiming init scales by fan-out instead of fan-in", "bench/components/inits.py",
           "nn.init.normal_(w, 0.0, gain / math.sqrt(_fan_in(w)))",
           "nn.init.normal_(w, 0.0, gain / math.sqrt(w.shape[0]))",
           (T_REG,)),
    Mutant("bce-smoothing-target", "binary BCE label smoothing moves targets toward 1 instead of 1/2",
           "bench/components/losses.py", "target = y * (1 - smoothing) + 0.5 * smoothing",
           "target = y * (1 - smoothing) + smoothing", (T_REG,)),
    Mutant("per-class-by-predicted", "per-class accuracy is divided by the predicted-class counts", "bench/metrics.py",
           "counts = torch.bincount(truth.cpu(), minlength=data.num_classes)",
           "counts = torch.bincount(pred.cpu(), minlength=data.num_classes)", (T_REG,)),
    # --- statistics -----------------------------------------------------------------------------------------
    Mutant("welch-is-student", "Welch's test replaced by Student's t", "bench/report/stats.py",
           "sps.ttest_ind(a, b, equal_var=False)", "sps.ttest_ind(a, b, equal_var=True)", (T_STATS,)),
    Mutant("welch-ci-pooled-df", "Welch's interval uses the pooled degrees of freedom", "bench/report/stats.py",
           "df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))", "df = len(a) + len(b) - 2",
           (T_STATS,)),
    Mutant("gain-ci-unclipped", "a gain's interval reaches past the metric's range (an accuracy gain below -1)",
           "bench/report/stats.py", "return clip_ci((lo, hi) if sign > 0 else (-hi, -lo), (-span, span))",
           "return (lo, hi) if sign > 0 else (-hi, -lo)",
           ("tests/test_stats.py::test_a_gain_interval_never_reaches_past_the_metrics_range",)),
    Mutant("bootstrap-90-as-95", "a 90% bootstrap interval is labelled 95%", "bench/report/stats.py",
           "sps.t.ppf(0.5 + level / 2, n - 1))", "sps.t.ppf(0.45 + level / 2, n - 1))",
           (f"{T_STATS}::test_bootstrap_interval_covers_95_percent_not_90",)),
    Mutant("lower-is-better-ignored", "a lower-is-better metric's gain keeps the higher-is-better sign",
           "bench/report/stats.py", "sign = 1.0 if higher_is_better else -1.0", "sign = 1.0", (T_STATS,)),
    Mutant("pair-by-size", "levels are paired when they have as many seeds, even if the seeds differ",
           "bench/report/tables.py", "set(sa.index) == set(sb.index) and sa.index.is_unique",
           "len(sa) == len(sb) and sa.index.is_unique", (T_STATS,)),
    Mutant("pair-by-row-order", "paired levels are matched by row order instead of seed", "bench/report/tables.py",
           "        sb = sb.reindex(sa.index)\n", "        pass\n", (T_STATS,)),
    Mutant("holm-dropped-in-faq", "the FAQ judge drops Holm's correction where any one comparison may carry a claim",
           "bench/faq/evidence.py", "comps = st.with_holm(comps) if combine is combine_any and len(comps) > 1 else comps",
           "comps = comps", (T_STATS,)),
    Mutant("holm-counts-nan", "Holm's family size counts the comparisons that have no p-value", "bench/report/stats.py",
           "    m = len(order)\n", "    m = len(p)\n", ("tests/test_stats.py::test_holm_on_known_p_values",)),
    Mutant("hedges-without-correction", "Hedges' g loses its small-sample correction", "bench/report/stats.py",
           "return cohens_d(a, b) * (1 - 3 / (4 * n - 9)) if n > 3 else math.nan",
           "return cohens_d(a, b) if n > 3 else math.nan", ("tests/test_stats.py::test_effect_sizes_on_known_samples",)),
    Mutant("holm-not-monotone", "Holm's adjusted p-values are not made monotone", "bench/report/stats.py",
           "np.maximum.accumulate((m - np.arange(m)) * p[order])", "((m - np.arange(m)) * p[order])",
           ("tests/test_stats.py::test_holm_on_known_p_values",)),
    # --- search spaces, speed, studies, FAQ ------------------------------------------------------------------
    Mutant("log-int-linear", "a log-scaled integer range is sampled linearly", "bench/search/space.py",
           "IntDistribution(int(self.min), int(self.max), log=self.log)",
           "IntDistribution(int(self.min), int(self.max), log=False)", ("tests/test_space_meaning.py",)),
    Mutant("matmul-peak-halved", "the matmul peak counts n^3 FLOPs per matmul (peak_fraction doubled)",
           "bench/flops.py", "best = max(best, inner * 2 * n ** 3 /", "best = max(best, inner * n ** 3 /",
           ("tests/test_flops_meaning.py",)),
    Mutant("peak-fraction-doubled", "achieved FLOP/s are reported as twice their fraction of the peak",
           "bench/train.py", '"peak_fraction": achieved / self.peak_flops', '"peak_fraction": 2 * achieved / self.peak_flops',
           ("tests/test_flops_meaning.py",)),
    Mutant("study-claim-min-is-max", "the ReLU claim compares with the better of tanh and sigmoid instead of both",
           "bench/studies/vanishing.py", 'dist["relu"][s] < min(dist["tanh"][s], dist["sigmoid"][s])',
           'dist["relu"][s] < max(dist["tanh"][s], dist["sigmoid"][s])', (T_STUDY,)),
    Mutant("best-lr-is-worst", "the study's best LR of a grid is the one with the highest loss",
           "bench/studies/common.py",
           "for point, results in runs), spec.mode)[0]",
           'for point, results in runs), "min" if spec.mode == "max" else "max")[0]', (T_STUDY,)),
    Mutant("study-picks-on-one-seed", "a study picks its grid point on the first tuning seed alone (one lucky seed "
           "decides), not on the mean of both as the protocol's confirm rule", "bench/studies/common.py",
           "[objective(r.status, r.epochs, metric, spec.mode) for r in results]",
           "[objective(r.status, r.epochs, metric, spec.mode) for r in results[:1]]", (T_STUDY,)),
    Mutant("study-picks-on-val-loss", "a study picks its grid point by final validation loss, which a net collapsed "
           "to a constant prediction wins against an accurate one that overfits", "bench/studies/common.py",
           "    metric = tuning_metric(spec.target)\n",
           '    metric, spec = "val_loss", type("Spec", (), {"mode": "min"})\n',
           ("tests/test_scores.py::test_the_faq_and_the_studies_choose_with_it",)),
    Mutant("backprop-after-updates", "RMSprop's gradient 'at given weights' is read at the long runs' first probe, "
           "after its first updates", "bench/studies/vanishing.py",
           "start = {k: [at_step_1(r) for r in rs] for k, rs in first.items()}",
           'start = {k: [float(hidden_ratio(r, "out_grad_rms").iloc[0]) for r in rs] for k, rs in runs.items()}',
           (T_STUDY,)),
    Mutant("first-step-not-probed", "the one-step runs are probed on the study's schedule, not at step 1",
           "bench/studies/vanishing.py", 'one_step = {"max_steps": 1, "probe_every": 1}', 'one_step = {"max_steps": 1}',
           (T_STUDY,)),
    Mutant("he-scale-at-trained-width", "He's activation-scale claim is judged on the narrow trained nets",
           "bench/studies/vanishing.py",
           'lecun, he = depth_ratios(scale, "act_std", init="lecun"), depth_ratios(scale, "act_std", init="kaiming")',
           'lecun, he = depth_ratios(deep_init, "act_std", init="lecun"), depth_ratios(deep_init, "act_std", '
           'init="kaiming")', (T_STUDY,)),
    Mutant("cell-gate-ignored", "'the tanh RNN fails' is judged although a reference cell failed too",
           "bench/studies/exploding.py", "if decide([m < limit for m in mse[c]]) is not ClaimOutcome.PASS]",
           "if decide([m < limit for m in mse[c]]) is ClaimOutcome.FAIL and c == 'GRU']", (T_STUDY,)),
    Mutant("slow-cell-failure-judged", "an IRNN given fewer steps than it needs is judged a failure (Le et al. refuted)",
           "bench/studies/exploding.py", "if decide(flags) is ClaimOutcome.PASS or budget.cell_steps >= need:",
           "if True:", (T_STUDY,)),
    Mutant("spike-over-run-median", "a gradient-norm spike is measured against the whole run's median, so a slow "
           "drift counts as a spike", "bench/studies/exploding.py",
           "return math.inf if not np.all(np.isfinite(norms)) else spike_ratio(norms)",
           "return math.inf if not np.all(np.isfinite(norms)) else float(np.max(norms) / np.median(norms))",
           (T_STUDY,)),
    Mutant("diverged-run-keeps-its-mse", "a diverged run's last test MSE counts as a result", "bench/studies/exploding.py",
           'return float(result.final.get("test_mse", math.inf)) if result.status == TrialStatus.OK else math.inf',
           'return float(result.final.get("test_mse", math.inf))', (T_STUDY,)),
    Mutant("decay-needs-every-schedule", "the FAQ's 'decay helps' claim needs every schedule to help, not any",
           "bench/faq/questions.py", '(CNN, "cosine", "constant")], combine_any)', '(CNN, "cosine", "constant")], combine_all)',
           (T_FAQ,)),
    Mutant("adam-claim-skips-rnn", "the FAQ's 'Adam everywhere' claim leaves the RNN out", "bench/faq/questions.py",
           '"adam", (MLP, CNN, RNN))', '"adam", (MLP, CNN))', (T_FAQ,)),
    Mutant("lr-depends-needs-all", "the LR-transfer claim needs every optimizer's best LR to move, not half",
           "bench/faq/questions.py", "st.SUPPORTED if 2 * moved >= n", "st.SUPPORTED if moved >= n",
           (T_FAQ,)),
    Mutant("mse-claim-higher-is-better", "the best other level of a lower-is-better metric (MSE) is the one with the "
           "highest value", "bench/faq/evidence.py",
           '"max" if tb.higher_is_better(mode) else "min")', '"max")', (T_FAQ,)),
    Mutant("accuracy-gain-without-baseline", "the imbalanced-data claim compares raw accuracy with the F1 gain",
           "bench/faq/questions.py", 'acc = per_seed(df, IMBALANCED, "cnn", "test_acc") - base["test_acc"]',
           'acc = per_seed(df, IMBALANCED, "cnn", "test_acc")', (T_FAQ,)),
    Mutant("locality-holm-applied", "the locality claim, which needs both of its tests, Holm-corrects them as if "
           "either could carry it", "bench/faq/questions.py", 'first = compare(df, "mnist1d", "cnn", "mlp")',
           'first, contrast = st.with_holm([compare(df, "mnist1d", "cnn", "mlp"), contrast])', (T_FAQ,)),
    Mutant("comparator-chosen-on-test", "'the best other level' is the one with the best mean test score",
           "bench/faq/evidence.py", 'values = pd.to_numeric(part["objective"], errors="coerce")',
           'values = pd.to_numeric(part["score"], errors="coerce")', (T_FAQ,)),
    Mutant("helped-most-on-test", "the ablation's 'helped most' is the change with the best test gain",
           "bench/faq/questions.py", "top = best_level(df, w, among=[chosen_level(df, w, family) for family in ABLATION])",
           "top = max([chosen_level(df, w, family) for family in ABLATION], key=lambda lv: mean_score(df, w, lv))",
           (T_FAQ,)),
    Mutant("contrast-left-out-of-csv", "the locality claim's contrast is judged but has no verdicts.csv row",
           "bench/faq/questions.py", "rows=advantage.rows + [row])", "rows=advantage.rows)", (T_FAQ,)),
    Mutant("faq-links-from-cwd", "the FAQ page links its raw tables relative to the working directory, not the page",
           "bench/report/faq.py", "page = build_faq(results, meta, Path(out), full)",
           "page = build_faq(results, meta, None, full)", ("tests/test_faq_page.py",)),
    Mutant("full-verdicts-ignored", "the FAQ page says 'pending' for the full budget even when a full run is given",
           "bench/report/faq.py", "return VERDICT_WORDS[full[claim].verdict] if full and claim in full else PENDING",
           "return PENDING", ("tests/test_faq_page.py",)),
    Mutant("strength-chosen-on-test", "the FAQ ablation picks a regularizer's strength by its test score",
           "bench/faq/questions.py", 'return best_level(df, group, among=list(ABLATION[family])) or',
           'return best_level(df.assign(objective=df["score"]), group, among=list(ABLATION[family])) or', (T_FAQ,)),
    Mutant("strongest-is-weakest", "the overfitting claims test the strongest setting instead of the one chosen on "
           "validation", "bench/faq/questions.py",
           'return best_level(df, "mlp", among=levels) or levels[0], "baseline"',
           'return f"{family}={max(values):g}", "baseline"', (T_FAQ,)),
    Mutant("more-data-is-less", "'more data helps' compares the smallest training set", "bench/faq/questions.py",
           '[("mlp", f"n_train={max(b.sizes)}", "baseline")]', '[("mlp", f"n_train={min(b.sizes)}", "baseline")]',
           (T_FAQ,)),
    Mutant("study-claim-any-passes", "a FAQ claim checked by a study is supported when any reproduction passed",
           "bench/faq/evidence.py", "st.SUPPORTED if outcome.eq(ClaimOutcome.PASS).all()",
           "st.SUPPORTED if outcome.eq(ClaimOutcome.PASS).any()",
           (T_STUDY,)),
    Mutant("seed-rule-majority", "a study claim passes when a bare majority of seeds meets its criterion",
           "bench/studies/common.py", "if met >= math.ceil(PASS_SHARE * n - 1e-9):", "if met > n / 2:", (T_STUDY,)),
    # --- shared data and stacked seeds -----------------------------------------------------------------------
    Mutant("data-decoded-per-trial", "every trial decodes its dataset again instead of reusing its worker's copy",
           "bench/workloads.py", "@lru_cache(maxsize=8)\ndef _decoded(", "@lru_cache(maxsize=0)\ndef _decoded(", (T_CACHE,)),
    Mutant("data-key-relative-folder", "the data cache keys a relative data_dir as written, whatever the folder",
           "bench/workloads.py", "str(Path(cfg.data_dir).resolve())", "cfg.data_dir", (T_CACHE,)),
    Mutant("data-key-drops-seq-len", "the data cache ignores seq_len: every length gets the first one's data",
           "bench/workloads.py", "return cfg.workload, cfg.seq_len, str(", "return cfg.workload, 0, str(", (T_CACHE,)),
    Mutant("final-no-goal", "a trial's record, stacked or not, lacks the workload goal", "bench/train.py",
           '            final["goal"] = goal  #', "            pass  #",
           (T_STACK, "tests/test_train.py::test_the_workloads_goal_is_recorded_with_the_result")),
    Mutant("stacked-parts-swapped", "stacked final seeds write each other's results under their trial ids",
           "bench/search/trial.py", "zip(todo, trained, strict=True)", "zip(todo, trained[::-1], strict=True)",
           (T_STACK,)),
    Mutant("stacked-no-fallback", "a stacked run that fails records every seed as failed instead of running it alone",
           "bench/search/trial.py", "lambda cfg=configs[i]: run_trial(cfg))",
           "lambda cfg=configs[i]: run_stacked(cfg, [cfg.seed])[0])",
           (T_STACK,)),
    Mutant("stack-completes-first-seed-only", "a stacked task's completion marks only its first seed finished",
           "bench/search/tune.py", "        for tid in tids:  # one, or the seeds of a stacked task",
           "        for tid in tids[:1]:  # one, or the seeds of a stacked task", (T_STACK_SWEEP,)),
    Mutant("stack-ignores-why-not", "seeds of a config with per-seed state in a step (dropout, BN) are stacked",
           "bench/search/tune.py", "if self.stack_seeds and len(finals) > 1 and why_not_stacked(g.config(params, 0, 1)) is None:",
           "if self.stack_seeds and len(finals) > 1:", (T_STACK_SWEEP,)),
    Mutant("stack-seeds-unwritten", "a stacked task writes down only its first seed: --resume cannot re-run the others",
           "bench/search/tune.py", "        for tid, seed in finals[1:]:\n            self._write_down(g, tid, params, seed)\n",
           "        for tid, seed in finals[1:]:\n            g.running.add(tid)\n", (T_STACK_SWEEP,)),
    Mutant("stack-on-cpu-by-default", "a sweep without a GPU stacks its final seeds unasked", "bench/search/runners.py",
           "self.stack_seeds = self.gpus > 0 if self.stack_seeds is None", "self.stack_seeds = True if self.stack_seeds is None",
           ("tests/test_sweep.py::test_sweep_end_to_end_with_a_diverging_level",)),
    Mutant("cli-drops-stack-seeds", "bench sweep --stack-seeds/--no-stack-seeds never reach the sweep", "bench/cli.py",
           "dashboard=dashboard, stack_seeds=stack_seeds, tensorboard=tensorboard,",
           "dashboard=dashboard, tensorboard=tensorboard,", (T_STACK_SWEEP,)),
    # --- the engine's runners and trial cache ----------------------------------------------------------------
    Mutant("cache-keeps-failures", "a trial that failed (e.g. out of memory) is cached and never trained again",
           "bench/search/trial.py", "if hit and result.status != TrialStatus.ERROR:", "if hit:",
           ("tests/test_runners.py::test_the_cache_serves_identical_trials_and_keeps_no_failure",)),
    Mutant("cache-ignores-seed", "two seeds of one config share a cache entry: every seed gets the first one's result",
           "bench/search/trial.py", 'UNTRACKED = ("threads", "device")', 'UNTRACKED = ("threads", "device", "seed")',
           ("tests/test_runners.py",)),
    Mutant("stacked-ignores-cache", "a stacked task trains again the seeds the cache already holds",
           "bench/search/trial.py", "for i, hit in enumerate(hits) if (cached := cached_result(hit))}",
           "for i, hit in enumerate(hits) if (cached := cached_result(hit)) and False}",
           ("tests/test_runners.py::test_stacked_seeds_take_what_the_cache_holds_and_train_only_the_rest",)),
    Mutant("faq-resume-retrains", "bench faq --resume trains again the trials an interrupted run finished",
           "bench/faq/main.py", "    if not reuse:\n        shutil.rmtree(runs / CACHE_DIR",
           "    if True:\n        shutil.rmtree(runs / CACHE_DIR",
           ("tests/test_faq.py::test_an_interrupted_faq_resumes_to_the_verdicts_of_an_uninterrupted_run",)),
    Mutant("study-cache-never-cleared", "a study run without --resume reuses the trials an earlier run trained",
           "bench/studies/common.py", "*([] if resume else [CACHE_DIR])", "*([])",
           ("tests/test_studies.py::test_a_resumed_study_trains_nothing_it_trained_before_and_decides_the_same",)),
    Mutant("study-theme-global", "drawing a study's figures changes the process's matplotlib settings for good",
           "bench/studies/common.py", "with matplotlib.rc_context():", "with open(os.devnull):",
           ("tests/test_studies.py::test_exploding_study_end_to_end",)),
    Mutant("failed-study-judged-from-stale-claims", "a study that failed in this run is judged from its folder's older "
           "claims", "bench/faq/main.py", "load_evidence(questions, budget, runs, studies, skip=failed)",
           "load_evidence(questions, budget, runs, studies)",
           ("tests/test_faq.py::test_a_study_that_fails_leaves_its_claims_inconclusive_not_judged_by_an_older_run",)),
    Mutant("report-ignores-faq-group", "the report compares a FAQ group's levels per workload: a CNN-vs-GRU comparison "
           "splits into two one-level groups", "bench/report/tables.py",
           'df["group"] = df.get("group", df["workload"]).fillna(df["workload"]).astype(str)',
           'df["group"] = df["workload"].astype(str)',
           ("tests/test_report.py::test_prepare_renames_nothing_a_faq_group_stays_beside_its_workload",)),
    Mutant("study-claims-retyped", "the FAQ re-types a study's claims.csv on reading (numbers, NA, booleans guessed)",
           "bench/faq/main.py", "pd.read_csv(path, dtype=str, keep_default_na=False)", "pd.read_csv(path)",
           ("tests/test_report.py::test_the_faq_reads_a_study_claims_table_as_the_text_it_is_and_refuses_one_without_outcomes",)),
    Mutant("journal-duplicates-on-resume", "a resumed run adds every trial to the Optuna journal again, not only the "
           "new ones", "bench/search/journal.py", "            if rec.trial_id not in known:",
           "            if rec.trial_id:",
           ("tests/test_journal.py::test_a_resumed_run_appends_only_new_trials",)),
    Mutant("journal-values-at-epoch-0", "every intermediate value of a trial in the journal is keyed by epoch 0 "
           "(the dashboard's learning curves collapse to one point)", "bench/search/journal.py",
           "steps = {int(row[\"epoch\"]): float(row[metric])", "steps = {0: float(row[metric])",
           ("tests/test_journal.py::test_every_group_is_a_study_with_every_trial",)),
    Mutant("tensorboard-hparams-without-config", "TensorBoard's HParams view gets only phase, level, group and seed, not "
           "the hyperparameters that differ between trials", "bench/tensorboard.py",
           "keys = [k for k in varying(records) if k not in ALWAYS]", "keys = []",
           ("tests/test_journal.py::test_tensorboard_holds_each_trials_scalars_and_hparams",)),
    Mutant("config-open-bounds-closed", "a config range's open end admits its bound: lr_gamma 0 or step_frac 0 train "
           "at LR 0", "bench/config.py", "above = value > self.low if self.open_low else value >= self.low",
           "above = value >= self.low", ("tests/test_inputs.py::test_out_of_range_field_named",)),
    Mutant("model-size-unchecked", "a model larger than the machine's memory is built anyway", "bench/models/__init__.py",
           'need = float("inf") if params < 0 else params * PER_PARAM + acts * PER_ACTIVATION', "need = 0",
           ("tests/test_inputs.py::test_model_too_large_for_the_machine_is_refused",)),
    Mutant("foreign-table-read", "a foreign Parquet file under a bench table's name is read as the run's table",
           "bench/results.py", "        check_schema(tables[name], path)\n", "",
           ("tests/test_inputs.py::test_foreign_parquet_refused",)),
    Mutant("run-folder-shared", "two processes that start a run in the same second share its folder",
           "bench/results.py", "            folder.mkdir()\n", "            folder.mkdir(exist_ok=True)\n",
           ("tests/test_locks.py::test_concurrent_processes_get_distinct_run_folders",)),
    Mutant("write-probe-fixed-name", "concurrent writability probes share one file name and delete each other's",
           "bench/results.py", 'fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")',
           'probe = str(folder / ".write-test")\n        fd = os.open(probe, os.O_CREAT | os.O_WRONLY)',
           ("tests/test_locks.py::test_concurrent_writability_probes_do_not_collide",)),
    Mutant("study-unlocked", "a study deletes its folder's parts without taking the folder's lock",
           "bench/studies/common.py", "        self.lock.enter_context(run_lock(self.folder))\n", "",
           ("tests/test_locks.py::test_a_study_locks_its_folder_before_deleting_anything",)),
    Mutant("partial-plan-handed-on", "a runner returns a plan with trials lacking results to the judging",
           "bench/search/runners.py",
           "                export_run(folder, self.tensorboard)\n        plan.check_finished(folder)\n",
           "                export_run(folder, self.tensorboard)\n",
           ("tests/test_interrupts.py::test_a_runner_that_stops_early_raises_instead_of_returning",)),
    Mutant("ray-outlives-driver", "the private Ray's agents outlive a SIGKILLed driver (no watchdog)",
           "bench/search/tune.py", "        start_watchdog(ray._private.worker._global_node.get_session_dir_path())",
           "        pass", ("tests/test_interrupts.py::test_a_sigkilled_driver_takes_its_private_ray_along",)),
    Mutant("importance-levels-unranked", "with many levels, fANOVA reads the level as its alphabetical position instead of "
           "its rank by mean objective", "bench/report/tables.py",
           'means = tuning_values(tune).groupby(tune["level"]).mean().sort_values(kind="stable")',
           'means = tuning_values(tune).groupby(tune["level"]).mean().sort_index()',
           ("tests/test_figures.py::test_importance_of_many_levels_enters_the_level_as_its_rank_and_finds_it",)),
    Mutant("lost-trial-counted-as-done", "a resume counts a trial lost to a dead worker as finished and never re-runs it",
           "bench/search/protocol.py",
           "if is_infrastructure(rec.status, rec.error) or (retry_failed and rec.status == TrialStatus.ERROR):",
           "if retry_failed and rec.status == TrialStatus.ERROR:",
           ("tests/test_interrupts.py::test_a_resume_reruns_trials_lost_to_their_infrastructure_and_with_retry_failed_every_error",)),
    Mutant("dead-worker-not-retried", "a trial whose Ray worker was killed is recorded as an error at once, not re-run",
           "bench/search/tune.py", "failure_config=tune.FailureConfig(max_failures=INFRA_RETRIES)",
           "failure_config=tune.FailureConfig(max_failures=0 * INFRA_RETRIES)",
           ("tests/test_interrupts.py::test_a_killed_worker_and_a_disk_filled_mid_sweep_then_freed_give_the_uninterrupted_trials",
            "tests/test_resume.py::test_a_killed_ray_worker_leaves_the_faqs_tables_of_an_uninterrupted_run")),
    Mutant("report-imports-search", "the report takes a metric name from the search engine instead of bench.scores",
           "bench/report/tables.py", "from bench.scores import tuning_metric",
           "from bench.search.protocol import tuning_metric", ("tests/test_architecture.py",)),
    Mutant("runner-sweep-cycle", "the Ray Tune machinery imports the runners that call it (an import cycle)",
           "bench/search/tune.py", "from bench.search.trial import ",
           "from bench.search.runners import RayTune  # noqa: F401\nfrom bench.search.trial import ",
           ("tests/test_architecture.py",)),
    Mutant("eta-ignores-slots", "the ETA adds up the work left as if one trial ran at a time, whatever the slots",
           "bench/search/progress.py", "        return work / self.slots", "        return work",
           ("tests/test_progress.py::test_eta_prices_each_workload_by_its_own_finished_trials_and_splits_the_work_among_slots",)),
    Mutant("dry-run-asha-keeps-all", "the dry run prices ASHA's tuning trials as if every one went on past each rung",
           "bench/search/estimate.py", "        share /= reduction_factor", "        share /= 1",
           ("tests/test_estimate.py::test_asha_prices_a_tuning_trial_at_the_epochs_it_runs_on_average",)),
    Mutant("dry-run-calibrates-every-level", "the dry run calibrates each optimizer level apart (7 calibrations for "
           "the optimizers sweep's 1 per workload)", "bench/search/estimate.py",
           '"max_steps", "optimizer", "schedule",', '"max_steps", "schedule",',
           ("tests/test_estimate.py::test_levels_that_differ_only_in_the_optimizer_share_one_calibration",)),
    Mutant("json-drops-the-leaderboard", "bench sweep --json and bench report --format json give no leaderboard rows",
           "bench/report/export.py", "    if df is None or df.empty:", "    if True:",
           ("tests/test_scripting.py::test_sweep_json_is_the_last_stdout_line_with_the_leaderboard",)),
    Mutant("lr-find-never-warns", "bench lr-find trusts a suggestion from a loss that barely fell",
           "bench/lr_finder.py", "    if fall < MEANINGFUL_FALL:", "    if fall < 0:",
           ("tests/test_lr_find.py::test_a_loss_that_barely_fell_makes_the_suggestion_unreliable",)),
    Mutant("remedy-without-negative-control", "a remedy is judged where the net without it shows no problem (no "
           "explosion, no vanishing)", "bench/studies/common.py",
           "if len(shown) < MIN_SEEDS or decide(shown) is ClaimOutcome.PASS:", "if True:", (T_STUDY,)),
    Mutant("cell-min-steps-one-sided", "'the tanh RNN fails' is judged at a budget shorter than a reference cell "
           "needs", "bench/studies/exploding.py", "if CELL_MIN_STEPS.get(c, 0) > budget.cell_steps]",
           'if c == "LSTM" and CELL_MIN_STEPS.get(c, 0) > budget.cell_steps]', (T_STUDY,)),
    Mutant("gap-alone-judges-overfitting", "'reduces overfitting' is judged on the gap alone, so learning less counts",
           "bench/faq/questions.py", "verdict = combine_all([narrower, held_out.verdict])", "verdict = narrower",
           (T_FAQ,)),
    Mutant("margin-from-reference", "the practical margin is read at the reference arm's score, so it depends on "
           "which arm is the reference", "bench/faq/evidence.py",
           "return st.pair_margin(metric, mean_score(df, group, a), mean_score(df, group, b), test_size(df, group, b))",
           "return st.pair_margin(metric, mean_score(df, group, b), mean_score(df, group, b), test_size(df, group, b))",
           (T_FAQ,)),
    Mutant("ablation-gated-on-full-data-target", "the ablation on a fraction of the data is gated on the full-data "
           "target, not on its own setting's reference", "bench/faq/questions.py",
           "j = judge_better(df, pairs, references={w: own_setting_gate(df, epochs, w) for w in (CNN, MLP)})",
           "j = judge_better(df, pairs)", (T_FAQ,)),
    Mutant("lr-depends-ungated", "8.4b counts the best LR of arms that did not train", "bench/faq/questions.py",
           'best = part[[not failed[w] for w in part["group"]]].set_index("group")["best_lr"]',
           'best = part.set_index("group")["best_lr"]', (T_FAQ,)),
    Mutant("early-stop-watches-loss", "early stopping watches the validation loss whatever early_stop_on says",
           "bench/train.py", 'if self.cfg.early_stop_on == "loss" or key not in row:', "if True:",
           ("tests/test_train_meaning.py::test_early_stopping_watches_the_target_metric_by_default_and_the_loss_on_request",)),
    Mutant("quick-tunes-everything", "the quick budget tunes every hyperparameter of a level, not the LR alone",
           "bench/search/space.py",
           "return tuple(k for k in self.tunable(level) if not self.budget.tuned or k in self.budget.tuned)",
           "return self.tunable(level)",
           ("tests/test_space.py::test_quick_budget_tunes_the_lr_alone_at_the_optimizers_published_defaults",)),
    Mutant("adamw-default-dropped", "a level's optimizer's published defaults are not held (AdamW at decay 0 is Adam)",
           "bench/workloads.py", "{**settings, **{k: v for k, v in defaults.items() if k not in changes}}",
           "settings",
           ("tests/test_space.py::test_quick_budget_tunes_the_lr_alone_at_the_optimizers_published_defaults",)),
    Mutant("sweep-ignores-recipe", "a sweep trains the config defaults instead of the workload's recipe (2-layer GRU, "
           "no clipping)", "bench/workloads.py",
           "settings = {**(recipe.run(budget) if budget is not None else recipe.settings), **changes, \"workload\": workload}",
           "settings = {**changes, \"workload\": workload}",
           ("tests/test_data_workloads.py::test_the_mnist1d_mlp_is_greydanus_2020s_and_sweeps_train_the_recipe",)),
    Mutant("budget-grid-ignores-lrs", "a budget's LR grid is dropped: every LR-only level falls back to TPE, so the "
           "FAQ's 8.1 and the quick sweep no longer train the same trials", "bench/search/protocol.py",
           'return self.lrs if self.lrs and tuple(tuned) == ("lr",) else ()', "return ()",
           ("tests/test_faq.py::test_the_faq_optimizer_question_runs_the_flagship_sweeps_trials_on_the_cnn",)),
    Mutant("faq-trains-config-defaults", "a FAQ experiment trains the config defaults instead of its workload's recipe",
           "bench/search/experiment.py", "return recipe_config(workload, None, **{",
           "return (lambda w, b, **kw: TrialConfig.from_dict({\"workload\": w, **kw}))(workload, None, **{",
           ("tests/test_faq.py::test_the_faq_optimizer_question_runs_the_flagship_sweeps_trials_on_the_cnn",)),
    Mutant("bench-run-ignores-recipe", "bench run trains the config defaults instead of the workload's recipe",
           "bench/cli.py", "cfg = recipe_config(workload, budget, **{**{",
           "cfg = (lambda w, b, **kw: TrialConfig.from_dict({\"workload\": w, **kw}))(workload, budget, **{**{",
           ("tests/test_cli.py::test_run_end_to_end",)),
    Mutant("diverged-seed-dropped-in-choice", "the FAQ's choice of a level on validation drops a diverged seed instead "
           "of ranking its level worst (the protocol's rule)", "bench/faq/evidence.py",
           'values = pd.to_numeric(part["objective"], errors="coerce").groupby',
           'values = pd.to_numeric(part["objective"], errors="coerce").replace([-math.inf, math.inf], math.nan).groupby',
           ("tests/test_faq.py::test_a_strength_with_a_diverged_seed_is_never_chosen_as_the_protocol_ranks_it_worst",)),
    Mutant("protocol-claims-a-grid", "the leaderboard says the levels shared an LR grid when each level's search "
           "sampled its own LRs", "bench/report/tables.py", "    return common if len(common) >= 2 else []",
           "    return sorted(set.union(*sets))",
           ("tests/test_report.py::test_the_protocol_names_the_lr_grid_every_level_shared_and_only_a_shared_one",)),
    Mutant("capped-trial-priced-by-epochs", "the ETA prices a step-capped study trial by its formal 100,000 epochs "
           "(hours for a study of minutes)", "bench/search/progress.py",
           '''        if config.get("max_steps"):\n            key = length(config)''',
           "        if False:\n            key = length(config)",
           ("tests/test_progress.py::test_a_step_capped_trial_is_priced_as_a_whole_not_by_its_formal_epochs",),
           (('            if task["config"].get("max_steps"):', "            if False:"),)),
    Mutant("lr-depends-on-one-optimizer", "8.4b refutes 'the right LR depends on the model' from the one optimizer of "
           "four that trained on two workloads", "bench/faq/questions.py", "    if 2 * n < of:", "    if not n:",
           ("tests/test_faq_claims.py::test_lr_dependence_judged_on_one_optimizer_of_three_is_untestable_not_refuted",)),
    Mutant("sigterm-exits-as-ctrl-c", "SIGTERM exits 130 where a library turned bench's Terminated into a plain "
           "KeyboardInterrupt", "bench/errors.py", "    return 128 + _received[0] if _received else 130",
           "    return 130",
           ("tests/test_hardening.py::test_sigterm_exits_143_even_where_a_library_turned_its_interrupt_into_a_plain_ctrl_c",)),
    Mutant("resume-cache-loses-final", "a trial a resumed FAQ or study takes from the cache loses its final metrics",
           "bench/search/trial.py", "    return result_of(vars(rec))\n", '    return result_of({**vars(rec), "final": {}})\n',
           ("tests/test_resume.py::test_a_killed_faq_resumes_to_the_tables_of_an_uninterrupted_run",)),
    Mutant("study-journal-kept", "a study run adds its trials to the previous run's journal, where the same trial ids "
           "hide them (the dashboard shows the old run)", "bench/studies/common.py",
           "        (self.folder / JOURNAL).unlink(missing_ok=True)", "        pass",
           ("tests/test_journal.py::test_a_study_run_starts_its_journal_and_tensorboard_afresh",)),
    Mutant("cache-entry-not-a-part", "the cache keeps its own shape of a result instead of the trial's part",
           "bench/search/trial.py", 'atomic_write(hit, (ResultStore(task["out"]).parts / f"{trial_id}.json").read_bytes())',
           'atomic_write(hit, json.dumps({"config": result.config, "status": result.status, "final": result.final, '
           '"epochs": result.epochs, "gradients": result.gradients}).encode())',
           ("tests/test_runners.py::test_the_cache_serves_identical_trials_and_keeps_no_failure",)),
    Mutant("flagged-pair-judged", "the pairwise table gives an outcome to pairs of failed searches (two levels at "
           "chance 'equivalent')", "bench/report/render.py",
           '"outcome": [NOT_JUDGED if f else o for o, f in zip(pairs["outcome"], failed, strict=True)],',
           '"outcome": list(pairs["outcome"]),',
           ("tests/test_sweep.py::test_no_pair_of_flagged_levels_gets_a_verdict_and_derived_figures_show_only_when_sane",)),
    Mutant("faq-badge-unlinked", "the FAQ's answers list shows each claim's badge without a link to its section",
           "bench/report/faq.py", 'badge(word, f"#c{c.id}")', "badge(word)",
           ("tests/test_faq_page.py::test_the_page_answers_first_every_claim_a_badge_linking_to_its_section",)),
    Mutant("figure-not-fitted", "a row of panels wider than the page is kept as drawn (shown shrunk, its text with it)",
           "bench/report/figures.py", "if width <= MAX_WIDTH + 1e-6 or not axes:", "if True:",
           ("tests/test_figures.py::test_a_row_of_panels_too_wide_for_the_page_is_laid_out_in_rows",)),
    Mutant("no-did-you-mean", "an unknown name gets no suggestion of the close one", "bench/registry.py",
           "+ did_you_mean(name, list(registry))) from None", ") from None",
           ("tests/test_cli.py::test_unknown_names_get_a_suggestion",)),
    Mutant("rmsprop-at-chance-trains", "RMSprop 'trains the stalled net' when both optimizers end at chance and its "
           "loss is lower in the last digits", "bench/studies/vanishing.py",
           "[r < s and r < TRAINED * CHANCE_LOSS for r, s in zip(rms_loss, sgd_loss, strict=True)]",
           "[r < s for r, s in zip(rms_loss, sgd_loss, strict=True)]", (T_STUDY,)),
    Mutant("dead-sgd-restores", "a dead SGD net (gradient ratio NaN) counts as having restored the gradient",
           "bench/studies/vanishing.py", "and r1 >= DEPTH_LIMIT and not s1 >= DEPTH_LIMIT",
           "and r1 >= DEPTH_LIMIT and s1 < DEPTH_LIMIT", (T_STUDY,)),
    # --- a resume checks what it resumes (tests/test_resume_checks.py) ---------------------------------------------
    Mutant("edited-part-read", "a part whose score was edited by hand is read, and ranks on the leaderboard",
           "bench/results.py", "if CHECKSUM in data and data.pop(CHECKSUM) != canonical_sha256(data):",
           "if CHECKSUM in data and data.pop(CHECKSUM) is None:", (T_RESUME,)),
    Mutant("renamed-part-read", "a part named unlike its trial is read as that trial", "bench/results.py",
           'if named and data["trial_id"] != path.stem:', 'if named and data["trial_id"] is None:', (T_RESUME,)),
    Mutant("resume-ignores-version", "a --resume continues a run another bench version started", "bench/results.py",
           'if version not in (None, "absent", identity["bench_version"]):', "if False:", (T_RESUME,)),
    Mutant("resume-ignores-plan", "a --resume continues a run started with another space, budget or settings",
           "bench/results.py", 'canonical_sha256(plan) != identity["plan_sha256"]', "plan is None", (T_RESUME,)),
    Mutant("force-refused", "--force does not override a refused resume", "bench/results.py",
           "if differences and not force:", "if differences:", (T_RESUME,)),
    Mutant("sweep-force-unrecorded", "a forced sweep resume leaves no trace in run.json", "bench/search/sweep.py",
           '"resumed_with": plan.finished_count(), **({"forced": forced} if forced else {})}',
           '"resumed_with": plan.finished_count()}', (T_RESUME,)),
    Mutant("study-resume-unchecked", "a study resumes a folder started with another size", "bench/studies/common.py",
           "forced = resume_check(name, out, size, seeds, force) if resume else []", "forced = []", (T_RESUME,)),
    Mutant("faq-resume-unchecked", "a FAQ --resume trains experiments started with another budget",
           "bench/faq/main.py", "forced = resume_checks(exps, todo, budget, runs, studies, force) if reuse else {}",
           "forced = {}", (T_RESUME,)),
    Mutant("mae-fits-negated-target", "the absolute-error loss pulls a regression output towards -y",
           "bench/components/losses.py", "return F.l1_loss(out.float().squeeze(-1), y)",
           "return F.l1_loss(out.float().squeeze(-1), -y)",
           ("tests/test_train.py::test_every_regression_loss_trains_a_regressor",)),
    Mutant("full-time-skips-studies", "the FAQ page's full-budget line leaves the studies' training time out",
           "bench/faq/main.py", "folders = [f for root in (runs, studies) if root is not None",
           "folders = [f for root in (runs,) if root is not None",
           ("tests/test_faq_page.py::test_the_full_budget_line_says_where_its_verdicts_come_from_and_how_long_they_trained",)),
    Mutant("swallowed-ctrl-c-runs-on", "a Ctrl-C whose KeyboardInterrupt a library swallowed lets Tune's loop run "
           "every remaining trial", "bench/search/tune.py",
           "        raise_if_interrupted()  # a Ctrl-C whose exception a library swallowed",
           "        pass  # a Ctrl-C whose exception a library swallowed",
           ("tests/test_runners.py::test_a_ctrl_c_a_library_swallowed_still_stops_the_run_at_its_next_step",)),
    Mutant("swallowed-ctrl-c-in-process", "the in-process runner goes on after a Ctrl-C a library swallowed",
           "bench/search/runners.py", "                    raise_if_interrupted()  # as in Tune's loop",
           "                    pass  # as in Tune's loop",
           ("tests/test_runners.py::test_a_ctrl_c_a_library_swallowed_still_stops_the_run_at_its_next_step",)),
    Mutant("stale-ctrl-c-stops-next-run", "a Ctrl-C recorded in an earlier run stops every later run in the same "
           "process at its first step", "bench/search/runners.py",
           "        forget_interrupts()\n        try:\n            k = 0",
           "        try:\n            k = 0",
           ("tests/test_runners.py::test_a_ctrl_c_of_an_earlier_run_does_not_stop_the_next",)),
    Mutant("stale-ctrl-c-stops-next-tune-run", "a Ctrl-C recorded in an earlier run stops a later Tune run in the same "
           "process at its first step", "bench/search/tune.py", "    forget_interrupts()\n    try:\n        tuner",
           "    try:\n        tuner",
           ("tests/test_sweep.py::test_sweep_with_stacked_seeds_runs_each_groups_final_seeds_as_one_ray_task",)),
    Mutant("added-key-changes-old-keys", "a config key added later changes every older trial's key: caches and "
           "resumable runs from before it train everything again", "bench/search/trial.py",
           "if k not in UNTRACKED and not (k in ADDED_LATER and v == ADDED_LATER[k])}", "if k not in UNTRACKED}",
           ("tests/test_runners.py::test_a_config_key_added_later_keeps_the_keys_of_trials_cached_before_it",)),
    Mutant("rmsprop-mechanism-without-control", "RMSprop's update-equalizing claim is judged where SGD's updates did "
           "not vanish (a fail that reads as RMSprop not equalizing)", "bench/studies/vanishing.py",
           '                problem_gate([s < 0.01 for s in upd["sgd"]]',
           '                "" and problem_gate([s < 0.01 for s in upd["sgd"]]',
           ("tests/test_study_claims.py::test_rmsprop_mechanism_claims_are_untestable_where_sgd_left_the_stall_itself",)),
    Mutant("rmsprop-restore-without-control", "RMSprop's restore claim is judged where SGD's own gradient ratio "
           "recovered", "bench/studies/vanishing.py",
           "                problem_gate([not s1 >= DEPTH_LIMIT for s1 in end[\"sgd\"]]",
           "                \"\" and problem_gate([not s1 >= DEPTH_LIMIT for s1 in end[\"sgd\"]]",
           ("tests/test_study_claims.py::test_rmsprop_mechanism_claims_are_untestable_where_sgd_left_the_stall_itself",)),
    Mutant("finalizer-ctrl-c-traceback", "a Ctrl-C that lands in a finalizer prints Python's 'Exception ignored' "
           "traceback", "bench/errors.py", "    sys.unraisablehook = _unraisable\n", "",
           ("tests/test_runners.py::test_a_ctrl_c_landing_in_a_finalizer_is_kept_without_a_traceback",)),
    Mutant("ctrl-c-not-recorded", "Ctrl-C keeps Python's own handler, which records nothing to raise again",
           "bench/errors.py", "    for sig in (signal.SIGINT, signal.SIGHUP):", "    for sig in (signal.SIGHUP,):",
           ("tests/test_hardening.py::test_sighup_ends_a_command_like_ctrl_c_unless_nohup_ignores_it",
            "tests/test_runners.py::test_a_ctrl_c_a_library_swallowed_still_stops_the_run_at_its_next_step")),
    Mutant("warmup-steps-ignored", "a warm-up given in steps (the GRU recipe's 144) is ignored for warmup_frac, so the "
           "quick budget's RMSprop and Adagrad seeds get 86 steps", "bench/components/schedules.py",
           "max(1, min(total, cfg.warmup_steps) if cfg.warmup_steps else round(cfg.warmup_frac * total))",
           "max(1, round(cfg.warmup_frac * total))",
           ("tests/test_components.py::test_a_warm_up_given_in_steps_lasts_that_many_steps_whatever_the_training_length",)),
    Mutant("resumed-time-not-carried", "a resumed run's run.json records only its last session's wall time, so the "
           "FAQ page's training time counts a re-judging session instead of the training", "bench/results.py",
           'self.before = float(seconds) if timed else 0.0', "self.before = 0.0",
           ("tests/test_results.py::test_a_resumed_runs_wall_time_is_the_sum_of_its_sessions",
            "tests/test_studies.py::test_a_resumed_study_trains_nothing_it_trained_before_and_decides_the_same")),
    Mutant("faq-resume-time-restarts", "a resumed FAQ experiment forgets its earlier sessions' wall time",
           "bench/faq/main.py", "forced.get(exp.name, ()), resume=reuse)", "forced.get(exp.name, ()))",
           ("tests/test_faq.py::test_an_interrupted_faq_resumes_to_the_verdicts_of_an_uninterrupted_run",)),
    Mutant("study-md-not-written", "a study's claims.md is no longer written beside its page", "bench/report/render.py",
           '    atomic_write(folder / "claims.md", page.to_markdown().encode())\n', "",
           ("tests/test_studies.py::test_claim_helpers",)),
)


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def copy_repo(files: list[str], into: Path) -> None:
    for f in files:
        target = into / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, target)


def stale_reason(m: Mutant, root: Path = ROOT) -> str | None:
    """Why a mutant cannot be planted in the code under root, or None."""
    path = root / m.file
    if not path.is_file():
        return f"{m.file} does not exist"
    text = path.read_text()
    for old, _ in m.edits:
        if (count := text.count(old)) != 1:
            return f"snippet found {count} times in {m.file}: {old.strip()[:70]!r}"
    return None


RUNNING: set[subprocess.Popen] = set()  # pytest runs in flight, ended if this tool is interrupted
STOPPING = threading.Event()  # set on interruption: no further pytest run starts


def run_tests(copy: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *tests]  # -j runs in parallel
    if STOPPING.is_set():
        return subprocess.CompletedProcess(cmd, 130, "", "interrupted")
    with subprocess.Popen(cmd, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        RUNNING.add(proc)
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return subprocess.CompletedProcess(cmd, 124, out, f"timed out after {TIMEOUT_S}s")
        finally:
            RUNNING.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def stop_running(*_) -> None:
    """Ctrl-C or SIGTERM: end the pytest runs this tool started, then exit."""
    STOPPING.set()
    for proc in list(RUNNING):
        proc.kill()
    sys.exit(130)


def in_copy(pristine: Path, action) -> subprocess.CompletedProcess:
    """Run action on a fresh copy of the snapshot taken at the start (edits to the checkout meanwhile don't count)."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(pristine, copy)
        return action(copy)


def check(m: Mutant, pristine: Path) -> tuple[str, float, str]:
    """(CAUGHT | SURVIVED | STALE | BROKEN, seconds, detail)."""
    if reason := stale_reason(m, pristine):
        return "STALE", 0.0, reason
    t0 = time.perf_counter()

    def plant_and_test(copy: Path) -> subprocess.CompletedProcess:
        path = copy / m.file
        text = path.read_text()
        for old, new in m.edits:
            text = text.replace(old, new)
        path.write_text(text)
        return run_tests(copy, m.tests)

    res = in_copy(pristine, plant_and_test)
    seconds = time.perf_counter() - t0
    last = (res.stdout.strip().splitlines() or [""])[-1]
    if res.returncode in (1, 2):  # tests failed, or collection failed because of the planted bug
        return "CAUGHT", seconds, last
    if res.returncode == 0:
        return "SURVIVED", seconds, last
    return "BROKEN", seconds, f"pytest exit {res.returncode}: {(res.stdout + res.stderr).strip()[-300:]}"


def baseline(mutants: list[Mutant], pristine: Path) -> bool:
    """The selected tests pass on the unchanged code."""
    tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
    res = in_copy(pristine, lambda copy: run_tests(copy, tests))
    print(f"baseline: {len(tests)} test selections on the unchanged code: "
          f"{'pass' if res.returncode == 0 else 'FAIL'}", flush=True)
    if res.returncode != 0:
        print((res.stdout + res.stderr)[-3000:])
    return res.returncode == 0


def select(only: str | None) -> list[Mutant]:
    if not only:
        return list(MUTANTS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    known = {m.id: m for m in MUTANTS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        sys.exit(f"unknown mutant id(s): {', '.join(unknown)}; see --list")
    return [known[w] for w in wanted]


def list_mutants(mutants: list[Mutant]) -> int:
    stale = 0
    for m in mutants:
        reason = stale_reason(m)
        stale += reason is not None
        print(f"{'STALE' if reason else 'ok':5}  {m.id:32} {m.behaviour}\n       {m.file} -> {', '.join(m.tests)}"
              + (f"\n       {reason}" if reason else ""))
    print(f"{len(mutants)} mutants, {stale} stale")
    return 1 if stale else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated mutant ids")
    parser.add_argument("--list", action="store_true", help="list the mutants and check their snippets; run nothing")
    parser.add_argument("-j", type=int, default=1, help="mutants checked at once (default 1)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not first run the tests on unchanged code")
    args = parser.parse_args()
    mutants = select(args.only)
    if args.list:
        return list_mutants(mutants)
    signal.signal(signal.SIGTERM, stop_running)
    signal.signal(signal.SIGINT, stop_running)
    with tempfile.TemporaryDirectory(prefix="mutation-snapshot-") as tmp:
        pristine = Path(tmp)
        copy_repo(tracked_files(), pristine)
        if not args.skip_baseline and not baseline([m for m in mutants if not stale_reason(m, pristine)], pristine):
            return 1
        results = run_all(mutants, pristine, args.j)
    return summarize(results)


def run_all(mutants: list[Mutant], pristine: Path, jobs: int) -> dict[str, str]:
    results: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for m, (outcome, seconds, detail) in zip(mutants, pool.map(lambda m: check(m, pristine), mutants), strict=True):
            results[m.id] = outcome
            print(f"{outcome:8} {m.id:32} {seconds:5.1f}s  {m.behaviour}\n         {detail}", flush=True)
    return results


def summarize(results: dict[str, str]) -> int:
    caught = sum(v == "CAUGHT" for v in results.values())
    bad = [k for k, v in results.items() if v in ("STALE", "BROKEN")]
    survived = [k for k, v in results.items() if v == "SURVIVED"]
    print(f"\nscore: {caught}/{len(results)} caught ({caught / len(results):.0%})")
    if survived:
        print(f"survived: {', '.join(survived)}")
    if bad:
        print(f"fix these entries (stale snippet or broken run): {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
