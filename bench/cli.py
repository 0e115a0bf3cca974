"""The `bench` command line: thin Typer wrappers over library calls."""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from bench.config import ConfigError, TrialConfig, parse_text
from bench.errors import exit_status, signals_as_interrupts, user_errors
from bench.registry import REGISTRIES, check_names, did_you_mean, lookup
from bench.status import TrialStatus

DEFAULT = TrialConfig()  # the CLI's defaults are the config's: one value per field
# Every environment variable bench reads or sets, shown in `bench --help` (tests/test_scripting.py checks the list
# against the code).
ENVIRONMENT = {
    "BENCH_CACHE": "folder of the prepared-dataset cache (default ~/.cache/bench)",
    "RAY_USE_TLS": "set to 1 when --address is a TLS Ray head (the reachability probe then skips its gRPC check)",
    "RAY_AUTH_MODE": "token, to join a Ray head started with token authentication",
    "TUNE_MAX_PENDING_TRIALS_PG": "trials Tune starts at once; default: one per slot",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "default 0 (the local Ray stays on this host)",
    "RAY_USAGE_STATS_ENABLED": "default 0 (no usage reports)",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "default 1 (no Tune log files per trial; bench writes its own)",
    "RAY_AIR_NEW_OUTPUT": "default 0 (Tune stays quiet; bench prints its own lines)",
    "TUNE_DISABLE_SIGINT_HANDLER": "default 1 (Ctrl-C reaches bench, which stops the run and says how to resume)",
    "RAY_IGNORE_UNHANDLED_ERRORS": "default 1 (a failed try's traceback stays out of the terminal; bench says it "
                                   "retries the trial, and its error part keeps the traceback)",
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "default 0 (as RAY_IGNORE_UNHANDLED_ERRORS, for Tune's log of each failed try)",
}
EPILOG = ("Environment (a value you set wins over bench's default):\n\n"
          + "\n\n".join(f"{k}: {v}" for k, v in ENVIRONMENT.items()))
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, epilog=EPILOG)
console = Console(soft_wrap=True)  # long lines stay whole when piped to a file


@app.callback()
def main() -> None:
    """Measured answers to deep-learning folklore. Every command runs offline by default.

    Examples:

    bench run --workload mnist1d-cnn --optimizer adam --epochs 5

    bench sweep optimizers --quick  (then: bench report runs/optimizers-*)

    bench study vanishing --quick

    bench faq --quick --questions 8.1,8.5
    """
    signals_as_interrupts()  # Ctrl-C, kill (SIGTERM) or SIGHUP ends every command the same way: results kept, workers stopped


def parse_sets(pairs: list[str]) -> dict[str, object]:
    """Parse KEY=VALUE pairs into typed config values using TrialConfig's field types."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key] = parse_text(key, raw)
    return out


def epoch_line(row: dict) -> str:
    parts = [f"epoch {row['epoch']:>3}", f"train_loss {row['train_loss']:.4f}", f"val_loss {row['val_loss']:.4f}"]
    parts += [f"val_acc {row['val_acc']:.4f}"] if "val_acc" in row else [f"val_mse {row.get('val_mse', float('nan')):.4g}"]
    parts += [f"lr {row['lr']:.3g}", f"{row['samples_per_sec']:.0f} samples/s",
              f"{row['flops_per_sec'] / 1e9:.1f} GFLOP/s ({row['peak_fraction']:.0%} of matmul peak)", f"{row['time']:.1f}s"]
    return "  ".join(parts)


@app.command()
@user_errors
def run(
    workload: str = typer.Option(DEFAULT.workload, help="Workload name (see `bench list workloads`)."),
    optimizer: str | None = typer.Option(None, help="Optimizer (see `bench list optimizers`); default: the recipe's. "
                                         "Another optimizer trains with its published defaults."),
    lr: float | None = typer.Option(None, help="Learning rate (peak LR for schedules); default: the recipe's."),
    schedule: str | None = typer.Option(None, help="LR schedule (see `bench list schedules`); default: the recipe's."),
    activation: str | None = typer.Option(None, help="Hidden activation (see `bench list activations`); default: "
                                          "the recipe's."),
    loss: str | None = typer.Option(None, help="Loss (auto = the workload's own; see `bench list losses`)."),
    epochs: int | None = typer.Option(None, help="Training epochs (>= 1); default: the recipe's at --budget."),
    batch_size: int | None = typer.Option(None, help="Mini-batch size; default: the recipe's."),
    budget: str = typer.Option("full", help="Which of the recipe's epoch counts to train for (quick, full, converged; "
                               "see `bench list workloads NAME`), unless --epochs is given."),
    seed: int = typer.Option(DEFAULT.seed, help="Seed for torch, numpy and random."),
    data_dir: Path = typer.Option(Path(DEFAULT.data_dir), "--data-dir", help="Folder holding (or receiving) downloaded "
                                  "datasets: cifar-10-batches-py/, aclImdb/ or their archives."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Any other config field as KEY=VALUE, repeatable "
                                   "(e.g. --set weight_decay=5e-4 --set dropout=0.2); see `bench list config`."),
    out: Path = typer.Option(Path("runs"), help="Parent folder of the run folder."),
    quiet: bool = typer.Option(False, help="No per-epoch lines."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the model (pays off on a GPU for long "
                                  "runs; the first epoch includes compilation). Same as --set compile=true."),
) -> None:
    """Train one model from one config and write its tidy result tables.

    Starts from the workload's recipe (`bench list workloads NAME`); options change what they name.
    Example: bench run --workload mnist1d-cnn --optimizer adam --lr 3e-3 --epochs 10 --seed 0
    """
    from bench.results import ResultStore, ensure_writable, fresh_run_folder, provenance, record
    from bench.train import run_trial
    from bench.workloads import load_data, recipe_config

    # A run starts from the workload's recipe (model, schedule, batch size, epochs at --budget), as sweeps and the
    # FAQ do, so that `bench run` reproduces what they train; options and --set change only what they name.
    given = {"optimizer": optimizer, "lr": lr, "schedule": schedule, "activation": activation, "loss": loss,
             "epochs": epochs, "batch_size": batch_size}
    cfg = recipe_config(workload, budget, **{**{k: v for k, v in given.items() if v is not None}, "seed": seed,
                                             "data_dir": str(data_dir), "compile": compile_, **parse_sets(set_)})
    check_names(cfg)
    check_device(cfg.device)
    ensure_writable(out)
    data = load_data(cfg)  # a missing dataset stops here, before a run folder exists
    result = run_trial(cfg, report=None if quiet else lambda row: console.print(epoch_line(row), highlight=False),
                       data=data)
    with fresh_run_folder(out, "run") as folder:  # removed again if writing fails (a full disk)
        store = ResultStore(folder)
        store.add(record("trial-0000", result, {"phase": "single"}))
        store.write_provenance(provenance({"kind": "run"}))
        store.consolidate()
    from bench.report.units import metric_value

    console.print(f"status: {result.status}")
    for key, value in result.final.items():
        if not key.startswith("test_acc_"):
            console.print(f"  {key}: {metric_value(key, value)}", highlight=False)
    console.print(f"results: {folder}")
    console.print(f"next: bench report {folder}  (an HTML report of this run; `bench sweep` compares configs fairly)",
                  markup=False, highlight=False)


def check_device(name: str) -> None:
    """Fail fast on a device this machine does not have (TrialConfig has already checked the spelling)."""
    import torch

    kind, _, index = name.partition(":")
    if kind == "cuda" and int(index or 0) >= torch.cuda.device_count():
        have = f"{torch.cuda.device_count()} CUDA GPUs" if torch.cuda.is_available() else "no CUDA GPU"
        raise ConfigError(f"device {name!r}: this machine has {have}; use --set device=auto (a GPU when there is "
                          "one) or device=cpu")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: Apple's MPS is not available here; use --set device=auto or device=cpu")


@app.command("lr-find")
@user_errors
def lr_find(
    workload: str = typer.Option("mnist1d-cnn", help="Workload name."),
    optimizer: str = typer.Option("sgd", help="Optimizer whose LR range to test."),
    min_lr: float = typer.Option(1e-6, help="Start of the exponential LR ramp."),
    max_lr: float = typer.Option(10.0, help="End of the ramp (the test stops early when the loss explodes)."),
    steps: int = typer.Option(200, help="Mini-batches in the ramp."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Other config fields as KEY=VALUE."),
    out: Path = typer.Option(Path("runs"), help="Parent folder for the curve (lr_range.csv)."),
) -> None:
    """LR range test (Smith 2017): ramp the LR up exponentially and suggest one.

    Example: bench lr-find --workload mnist1d-cnn --optimizer sgd
    """
    from bench.lr_finder import lr_range_test, unreliable
    from bench.report.figures import lr_range, png
    from bench.results import atomic_write, ensure_writable, fresh_run_folder, warn

    if not 0 < min_lr < max_lr:
        raise ConfigError(f"need 0 < --min-lr < --max-lr, got {min_lr} and {max_lr}")
    if not 2 <= steps <= 10**6:
        raise ConfigError(f"--steps must be in 2..1,000,000 (mini-batches in the LR ramp), got {steps}")
    cfg = TrialConfig.from_dict({"workload": workload, "optimizer": optimizer, **parse_sets(set_)})
    check_names(cfg)
    check_device(cfg.device)
    ensure_writable(out)
    curve, suggestion = lr_range_test(cfg, min_lr, max_lr, steps)
    problem = unreliable(curve)
    with fresh_run_folder(out, "lrfind") as folder:
        atomic_write(folder / "lr_range.csv", curve.to_csv(index=False).encode())
        if not curve.empty:
            atomic_write(folder / "lr_range.png", png(lr_range(curve, suggestion, problem and "unreliable: the loss "
                                                                "never fell meaningfully")))
    console.print(f"suggested lr: {suggestion:.3g}  ({len(curve)} steps, loss {curve['smoothed_loss'].iloc[0]:.3f}"
                  f" -> min {curve['smoothed_loss'].min():.3f})")
    if problem:
        warn(problem)
    console.print(f"curve: {folder / 'lr_range.csv'}")
    if not curve.empty:
        console.print(f"plot: {folder / 'lr_range.png'}  (the suggestion marked)")


def describe(spec: object) -> dict[str, str]:
    """A registry entry's dataclass fields as text (sequences joined, numbers to 3 significant digits, a value not
    stated as '-')."""
    from bench.report.units import shown

    def text(v: object) -> str:
        if isinstance(v, (tuple, list)):
            return ", ".join(map(shown, v))
        if isinstance(v, bool):
            return "yes" if v else "no"
        return "-" if v is None or (isinstance(v, float) and v != v) else shown(v)
    return {f.name: text(getattr(spec, f.name)) for f in fields(spec)}


def columns(specs: list[object]) -> list[str]:
    """The fields `bench list` shows for a registry: all but the name and those that hold a function in any entry
    (a field that is None in one entry, as the default init's function, is still a function field)."""
    return [f.name for f in fields(specs[0])
            if f.name != "name" and not any(callable(getattr(spec, f.name)) for spec in specs)]


HEADERS = {"needs_download": "download"}  # shorter column heads, so that 80 columns hold the workloads' row
SHORT = 24  # characters: a field whose every value is this short fits the one-row-per-entry listing


def summary_columns(specs: list[object]) -> list[str]:
    """The fields of the one-row listing: the short ones, then the description (cut to the terminal's width)."""
    shown = [describe(s) for s in specs]
    cols = columns(specs)
    return [c for c in cols if c != "description" and all(len(d[c]) <= SHORT for d in shown)] + \
        (["description"] if "description" in cols else [])


@app.command("list")
@user_errors
def list_(kind: str | None = typer.Argument(
        None, help="Registry to show (workloads, optimizers, schedules, activations, losses, regularizers, "
                   "inits, models), spaces (the sweeps that ship with bench) or config; all registries if omitted."),
          name: str | None = typer.Argument(None, help="One entry of that registry: all its fields.")) -> None:
    """Print the registries: every pluggable component by name, one row each.

    Example: bench list optimizers; bench list workloads mnist1d-cnn
    """
    if kind == "spaces":
        return print_spaces()
    if kind == "config":
        return print_config()
    listed = [n for n, reg in REGISTRIES.items() if reg.listed]
    if kind is not None and kind not in listed:
        raise ConfigError(f"unknown registry {kind!r}; choose one of: {', '.join(listed)}, spaces, config"
                          + did_you_mean(kind, [*listed, "spaces", "config"]))
    if name is not None:
        return print_entry(kind or "", lookup(REGISTRIES[kind].entries(), kind.rstrip("s"), name))
    for reg in (REGISTRIES[n] for n in listed if kind in (None, n)):
        print_registry(reg.kind, reg.entries())
    console.print(f"details of one entry: bench list {kind or 'KIND'} NAME", style="dim", highlight=False)


def print_registry(name: str, entries: dict[str, object]) -> None:
    """One registry as a table of one row per entry: its short fields and its description, cut to fit."""
    cols = summary_columns(list(entries.values()))
    rows = [[key, *(describe(spec)[c] for c in cols)] for key, spec in entries.items()]
    table = Table(title=name, title_justify="left", box=None, padding=(0, 1), header_style="bold", expand=True)
    for k, col in enumerate(["name", *cols]):
        head = HEADERS.get(col, col)
        if col == "description":
            table.add_column(head, no_wrap=True, overflow="ellipsis", ratio=1)
        else:  # as wide as its longest value: only the description gives way to a narrow terminal
            table.add_column(head, no_wrap=True, min_width=max(len(head), *(len(r[k]) for r in rows)))
    for row in rows:
        table.add_row(*row)
    console.print(table, highlight=False)


def print_entry(kind: str, spec: object) -> None:
    """Every field of one registry entry, one per line (long values wrap)."""
    block = Table.grid(padding=(0, 2))
    block.add_column(no_wrap=True, style="dim")
    block.add_column(overflow="fold")
    for col, value in describe(spec).items():
        if col in columns([spec]) and value:
            block.add_row(col, value)
    console.print(f"{kind}: {getattr(spec, 'name', '')}", style="bold", highlight=False)
    console.print(block, highlight=False)


def printed_words(table: Table) -> set[str]:
    """The words a table shows when printed at the terminal's width (a word folded across lines is two others)."""
    import io

    probe = Console(width=console.width, file=io.StringIO(), color_system=None)
    probe.print(table)
    return set(probe.file.getvalue().replace("│", " ").split())


def print_config() -> None:
    """Every TrialConfig key with its type, default and the one-line explanation from the field's own `doc`."""
    table = Table(title="config keys (bench run --set KEY=VALUE; search spaces use the same names)",
                  title_justify="left", box=None, padding=(0, 1))
    for col in ("key", "type", "default", "meaning"):
        table.add_column(col, no_wrap=col != "meaning", overflow="fold")
    for f in fields(TrialConfig):
        table.add_row(f.name, str(f.type), repr(f.default), f.metadata.get("doc", ""))
    console.print(table, highlight=False)


def print_spaces() -> None:
    """The search spaces that ship inside the package, each with its one-line description."""
    from bench.search.space import available, load_space

    table = Table(title="spaces (bench sweep NAME)", title_justify="left")
    for col in ("name", "compare", "levels", "workloads", "description"):
        table.add_column(col, no_wrap=col == "name", overflow="fold")
    for name in available():
        space = load_space(name)
        table.add_row(name, space.compare, ", ".join(map(str, space.levels)), ", ".join(space.workloads),
                      space.description)
    console.print(table)

# Further commands (sweep, report, study, faq) register below this line, each in its own block.


# --- where trials run: the options of every command that trains through the engine (sweep, faq, study) ---

ADDRESS = typer.Option(None, help="HOST:PORT of a running Ray cluster (e.g. from `ray start --head`). Default: a private "
                       "local Ray on 127.0.0.1 with this machine's CPUs and GPUs.")
CPUS_PER_TRIAL = typer.Option(1.0, help="CPUs per trial; a trial uses that many torch threads. Default 1 with trials in "
                              "parallel: on small workloads that beats fewer, wider trials (two 1-thread MNIST-1D CNN "
                              "trials train at 2x the throughput of one 2-thread trial).")
DRY_RUN = typer.Option(False, "--dry-run", help="Print the plan (groups, trials per phase, epochs, slots) and an "
                       "estimated wall time from a short calibration on this machine; run and write nothing.")
FORCE = typer.Option(False, "--force", help="With --resume: continue a run whose inputs differ from this command's "
                     "(an edited search space, another bench version, another budget), which is refused otherwise; "
                     "run.json records what was overridden.")
TENSORBOARD = typer.Option(True, "--tensorboard/--no-tensorboard", help="Write each trial's scalars and hparams "
                           "under RUN/tensorboard/ (tensorboard --logdir RUN/tensorboard) after the trials ran; "
                           "RUN/optuna.log (optuna-dashboard RUN/optuna.log) is always written.")
GPUS_PER_TRIAL = typer.Option("auto", help="GPUs per trial: 'auto' packs trials onto each GPU by one trial's measured "
                              "memory and throughput (CPUs when there is no GPU); a fraction such as 0.25 lets 4 trials "
                              "share a GPU; 0 trains on CPUs.")


@contextmanager
def resumable(again: str = "") -> Iterator[None]:
    """Ctrl-C, or a full disk, during a run (`again`: the command that continues it; by default `bench faq`'s and
    `bench study`'s --resume): the finished trials are kept; say how to go on, exit 130 (143) or 2."""
    from bench.results import OutputError, output_error

    how = f"continue with `{again}`" if again else "add --resume to the same command to continue"
    try:
        yield
    except KeyboardInterrupt as e:
        console.print(f"interrupted: the finished trials are saved; {how}")
        raise typer.Exit(exit_status(e)) from None
    except (OutputError, OSError) as e:
        # a write outside the result store's own (which raise OutputError naming their file): the same advice
        failed = e if isinstance(e, OutputError) else output_error(e.filename or "output", e)
        if not failed.full:
            raise
        raise OutputError(f"{failed.problem}; free some space, then {how} (the trials finished so far are kept)") from None


# --- bench sweep: fair comparisons with Ray Tune + Optuna (bench/search) ---

@app.command()
@user_errors
def sweep(
    space: str | None = typer.Argument(None, help="A sweep that ships with bench (optimizers, schedules, activations, "
                                       "regularizers, losses: `bench list spaces`) or a PATH.yaml; may be omitted "
                                       "with --resume RUN_FOLDER."),
    quick: bool = typer.Option(False, help="The file's small budget (budget.quick): fewer trials, epochs and seeds."),
    out: Path = typer.Option(Path("runs"), help="Parent folder of the run folder (on a multi-node cluster: a folder "
                                                "every node sees at the same path)."),
    address: str | None = ADDRESS,
    cpus_per_trial: float = CPUS_PER_TRIAL,
    gpus_per_trial: str = GPUS_PER_TRIAL,
    resume: str | None = typer.Option(None, help="Continue an interrupted run: only trials without a result train, with the "
                                      "configs recorded for them. A sweep's runs are timestamped, so name one: its "
                                      "run folder, or 'last' for the newest run of this sweep under --out."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="With --resume: also run again every trial that "
                                      "ended in an error (a resume always re-runs those lost to a dead worker or a "
                                      "failed write)."),
    dashboard: bool = typer.Option(False, help="Start Ray's dashboard with the local Ray (off by default)."),
    stack_seeds: bool | None = typer.Option(None, "--stack-seeds/--no-stack-seeds", help="Train each level's final "
                                            "seeds as one stacked model (torch.func) where the config allows (no "
                                            "dropout, batch norm, norm clipping, early stopping, RNN). Default: when "
                                            "trials get a GPU."),
    tensorboard: bool = TENSORBOARD,
    dry_run: bool = DRY_RUN,
    json_: bool = typer.Option(False, "--json", help="Also print one JSON object (run folder, counts, exit code, "
                               "leaderboard rows, flagged levels) as the last line of stdout."),
    json_file: Path | None = typer.Option(None, "--json-file", help="Write that JSON object to this file instead."),
    force: bool = FORCE,
) -> None:
    """Compare the levels of one choice fairly: every level gets the same Optuna TPE budget to tune its own
    hyperparameters (ASHA stops bad trials early), its top configs are re-run on a second seed and the best mean
    over both chosen, then that config is re-run with fresh seeds.

    Example: bench sweep optimizers --quick
    """
    from bench.results import read_provenance
    from bench.search.resources import parse_gpus_per_trial
    from bench.search.space import load_space

    gpus = parse_gpus_per_trial(gpus_per_trial)
    if resume is not None and not resume.strip():
        raise ConfigError("--resume '' names no run; pass a run folder or 'last'")
    if space is None and resume in (None, "last"):
        raise ConfigError("name a sweep (e.g. `bench sweep optimizers`) or pass --resume RUN_FOLDER")
    if space is None and not (Path(resume) / "space.yaml").is_file():
        raise ConfigError(f"{resume} is not a sweep run folder (no space.yaml); pass the folder `bench sweep` printed")
    chosen = load_space(space if space is not None else Path(resume) / "space.yaml")
    if dry_run:
        return dry_run_sweep(chosen.quick_version() if quick else chosen, resume, cpus_per_trial)
    if dashboard and not address:
        check_dashboard()
    again = resume_command(space, quick, out, resume)
    previous = resumed_info(chosen.name, out, resume)
    from bench.search.sweep import run_sweep  # imports Ray: only once the space is known to be valid

    if not previous.get("complete"):  # Ray takes its while to start; say so instead of staying silent
        console.print(f"setting up: data, then joining the Ray cluster at {address} ..." if address else
                      "setting up: data, then a private Ray on 127.0.0.1 (20-30 s before the first trial's line) ...")
    with resumable(again):
        folder = run_sweep(chosen, out, quick=quick and space is not None, address=address, cpus_per_trial=cpus_per_trial,
                           gpus_per_trial=gpus, resume=True if resume == "last" else resume or False,
                           dashboard=dashboard, stack_seeds=stack_seeds, tensorboard=tensorboard,
                           retry_failed=retry_failed, force=force)
    info = read_provenance(folder)
    if previous.get("complete"):
        console.print(f"{folder} was already complete ({info['total_trials']} trials): nothing was re-run")
    trials = sweep_trials(folder)
    board = print_leaderboard(trials)
    console.print(f"results: {folder}")
    console.print(f"next: bench report {shlex.quote(str(folder))}  (HTML + Markdown: figures, pairwise tests)",
                  markup=False, highlight=False)
    code = 0
    if not info["complete"]:
        console.print(f"incomplete: {info['finished_trials']} of {info['total_trials']} trials finished; continue with "
                      f"`{again}`")
        code = 130
    elif unscored_levels(trials, board):  # a level without a single finished final seed: the comparison lacks it
        code = 1
    if json_ or json_file:
        sweep_json(json_file, folder, info, board, code)
    if code:
        raise typer.Exit(code)


def sweep_json(where: Path | None, folder: Path, info: dict, board, code: int) -> None:
    """The sweep's outcome as one JSON object: the last line of stdout (where None) or the file `where`."""
    import json

    from bench.report.export import records
    from bench.results import atomic_write

    flagged = board[board["flag"] != ""] if board is not None else None
    text = json.dumps({"run": str(folder), "sweep": info.get("sweep"), "quick": info.get("quick"),
                       "complete": info["complete"], "finished_trials": info["finished_trials"],
                       "total_trials": info["total_trials"], "exit_code": code, "leaderboard": records(board),
                       "flagged": records(flagged[["group", "level", "flag"]]) if flagged is not None else []})
    if where is None:
        print(text, flush=True)
    else:
        atomic_write(Path(where), (text + "\n").encode())


def dry_run_sweep(space, resume: str | None, cpus_per_trial: float) -> None:
    """The sweep's plan and estimated wall time (bench.search.estimate); nothing runs or is written."""
    from bench.search.estimate import print_estimate, sweep_estimate

    if resume:
        raise ConfigError("--dry-run plans a new sweep; drop --resume (its run folder says what is left)")
    print_estimate(sweep_estimate(space, cpus_per_trial), say)


def say(line: str) -> None:
    console.print(line, markup=False, highlight=False)


def resumed_info(name: str, out: Path, resume: str | None) -> dict:
    """run.json of the run a --resume continues ('last': the newest run of the sweep under out); {} when none."""
    from bench.results import read_provenance

    if not resume:
        return {}
    runs = (p for p in Path(out).glob(f"{name}-*") if (p / "space.yaml").exists())  # names sort by time
    folder = max(runs, default=None) if resume == "last" else Path(resume)
    return read_provenance(folder) if folder else {}


def resume_command(space: str | None, quick: bool, out: Path, resume: str | None) -> str:
    """The command that continues an interrupted sweep, quoted for the shell (paths may hold spaces)."""
    if space is None:
        return f"bench sweep --resume {shlex.quote(str(resume))}"
    where = f" --out {shlex.quote(str(out))}" if out != Path("runs") else ""
    return f"bench sweep {shlex.quote(space)}{' --quick' if quick else ''}{where} --resume last"


def check_dashboard() -> None:
    """Ray's dashboard needs packages a default install lacks (`ray[default]`); say how to get them."""
    from ray._private.utils import get_dashboard_dependency_error

    if missing := get_dashboard_dependency_error():
        raise ConfigError(f"--dashboard needs Ray's dashboard packages ({missing}); install them with "
                          "pip install 'bench[dashboard]', or drop --dashboard")


def sweep_trials(folder: Path):
    """A sweep folder's trials table, prepared for the report's tables (None when nothing finished)."""
    import pandas as pd

    from bench.report.tables import prepare

    path = folder / "trials.parquet"
    trials = pd.read_parquet(path) if path.exists() else pd.DataFrame()
    return None if trials.empty else prepare(trials)


def print_leaderboard(trials):
    """One table per group: mean and 95% CI of the target metric over the final-phase seeds, failures of each
    phase, and below them the levels whose search failed, with the reason: the report's leaderboard (its numbers
    and hyperparameter text) of prepared `trials`, returned (None when nothing finished)."""
    from bench.report.tables import leaderboard, protocol

    if trials is None:
        console.print("no finished trials yet")
        return None
    board = leaderboard(trials)
    out = console if console.is_terminal else Console(width=132)  # piped output is 80 wide: keep rows on one line
    for table in leaderboard_tables(board):
        out.print(table)
    out.print(protocol(trials), markup=False, highlight=False)
    for r in board[board["flag"] != ""].itertuples():
        out.print(f"flagged, not ranked: {r.group} {r.level}: {r.flag}", markup=False, highlight=False)
    return board


def unscored_levels(trials, board) -> list[str]:
    """The levels of a finished sweep (its prepared trials and leaderboard) without a single finished final seed,
    each printed with the first lines of its errors."""
    if board is None:
        return []
    unscored = []
    for r in board[board["seeds"] == 0].itertuples():
        group = trials[(trials["group"] == r.group) & (trials["level"] == r.level)]
        errors = group.loc[group["error"].fillna("") != "", "error"].map(lambda e: str(e).splitlines()[0])
        diverged = int((group["status"] == TrialStatus.DIVERGED).sum())
        first = list(dict.fromkeys(errors))[:3] or [f"no error recorded ({diverged} of {len(group)} trials diverged)"]
        console.print(f"{r.group} {r.level}: no final seed finished; first errors: " + " | ".join(first), markup=False,
                      highlight=False)
        unscored.append(f"{r.group}.{r.level}")
    return unscored


def leaderboard_tables(board) -> list[Table]:
    """The sweep's leaderboard as one Rich table per workload. Numbers never wrap (a narrow terminal wraps the
    hyperparameters between settings instead), and an interval that spans the metric's whole range says so."""
    from bench.report.stats import metric_bounds

    tables = []
    for group, rows in board.groupby("group", sort=False):
        better = "higher" if rows["mode"].iloc[0] == "max" else "lower"
        table = Table(title=f"{group}: {rows['metric'].iloc[0]} over the seed re-runs ({better} is better; "
                            "failed: tuning trials/final seeds)",
                      title_justify="left", box=box.SIMPLE_HEAD)  # no side borders: 7 more columns for the numbers
        for col in ("level", "seeds", "mean", "95% CI", "failed"):
            table.add_column(col, no_wrap=True)
        longest = max((len(word) for best in rows["best_params"] for word in str(best).split()), default=12)
        table.add_column("best hyperparameters", min_width=longest)  # wraps between settings, never inside one
        bounds = metric_bounds(str(rows["metric"].iloc[0]))
        for r in rows.itertuples():
            level = f"{r.level} (flagged)" if r.flag else str(r.level)
            table.add_row(level, str(r.seeds), f"{r.mean:.4f}" if r.seeds else "-",
                          ci_cell(r.ci_low, r.ci_high, r.seeds, bounds), f"{r.failed_tune}/{r.failed}", str(r.best_params))
        tables.append(table)
    return tables


def ci_cell(low: float, high: float, n: int, bounds: tuple[float, float]) -> str:
    """'[0.8123, 0.8456]'; '-' below 2 seeds; 'uninformative' when the interval, clipped to the metric's range,
    covers all of it: [0, 1] for an accuracy says nothing (the seeds column says how few seeds there were)."""
    import math

    if n < 2 or math.isnan(low) or math.isnan(high):
        return "-"
    if math.isfinite(bounds[0]) and math.isfinite(bounds[1]) and low <= bounds[0] and high >= bounds[1]:
        return "uninformative"
    return f"[{low:.4f}, {high:.4f}]"


# --- bench report: HTML + Markdown from finished runs (bench/report) ---

@app.command()
@user_errors
def report(
    runs: list[Path] = typer.Argument(..., help="One or more run folders (from `bench sweep`, `bench run`, `bench faq`); "
                                      "several are merged into one report."),
    name: str | None = typer.Option(None, help="Report folder name under --out (default: the run folder's name)."),
    out: Path = typer.Option(Path("reports"), help="Parent folder of the report."),
    compare: str | None = typer.Option(None, help="Config field that tells the runs' trials apart (e.g. optimizer), for "
                                       "runs without sweep tags such as several `bench run` results; default: the "
                                       "sweep's own levels, else one level per run."),
    format_: str = typer.Option("html", "--format", help="html or md: the report (index.html with figures, and "
                                "report.md); csv: leaderboard.csv and pairwise.csv; json: tables.json with both."),
) -> None:
    """Write reports/<name>/index.html (self-contained) and report.md from finished runs; trains nothing.

    Example: bench report runs/optimizers-20250101-120000 --name optimizers
    Tables for scripts: bench report runs/optimizers-20250101-120000 --format csv
    """
    from bench.report.export import FORMATS, write_tables
    from bench.report.render import default_name, load, write_report
    from bench.results import plain_name

    if format_ not in FORMATS:
        raise ConfigError(f"unknown --format {format_!r}; choose one of: {', '.join(FORMATS)}")
    runs = with_results(runs)
    if format_ in ("csv", "json"):
        tables, _ = load(runs, compare)
        for path in write_tables(tables, out / plain_name(name or default_name(runs)), format_):
            console.print(f"{path.stem}: {path}", markup=False, highlight=False)
        return
    path = write_report(runs, out, name and plain_name(name), compare)
    console.print(f"report: {path}")
    console.print(f"markdown: {path.with_name('report.md')}")


def with_results(runs: list[Path]) -> list[Path]:
    """The run folders that hold results; empty ones (a run that failed before its first trial, or that is still
    starting) are named and skipped, so that `bench report runs/*` reports the rest."""
    from bench.results import has_results, warn

    keep = [r for r in runs if not r.is_dir() or has_results(r)]
    for r in runs:
        if keep and r not in keep:
            warn(f"skipping {r}: no results in it yet (no trials.parquet, no parts/)")
    if not keep:
        raise ConfigError(f"{', '.join(map(str, runs))} {'is' if len(runs) == 1 else 'are'} not a bench run folder "
                          "with results (no trials.parquet, no parts/); pass run folders that `bench run` or "
                          "`bench sweep` printed")
    return keep


# --- bench faq: the seed tutorial's FAQ, measured (bench/faq, rendered by bench/report/faq.py) ---

@app.command()
@user_errors
def faq(
    quick: bool = typer.Option(False, help="Small budget: each workload's quick recipe, the LR tuned on 4 values a "
                               "decade apart (1e-3 to 1) + 2 half-way around the best, the best 2 confirmed on a second "
                               "seed, 3 seeds; quick gradient studies. Every claim still gets a verdict; more are "
                               "untestable."),
    questions: str | None = typer.Option(None, help="Comma-separated question numbers, e.g. 8.1,8.5 (default: 8.1-8.10)."),
    out: Path = typer.Option(Path("reports/faq"), help="Folder of the page (index.html, faq.md, figures/)."),
    runs: Path = typer.Option(Path("runs/faq"), help="Folder of the experiments' result tables and the trial cache."),
    studies: Path = typer.Option(Path("reports/studies"), help="Folder of the gradient studies' outputs (8.5, 8.6)."),
    resume: bool = typer.Option(False, "--resume", "--reuse", help="Continue an interrupted run: only trials without a "
                                "result train, with the configs recorded for them (the run in --runs and --studies)."),
    address: str | None = ADDRESS,
    cpus_per_trial: float = CPUS_PER_TRIAL,
    gpus_per_trial: str = GPUS_PER_TRIAL,
    full_runs: Path | None = typer.Option(None, help="The --runs folder of a full-budget `bench faq`: its claims are "
                                          "judged from those tables (no training) and shown beside this page's verdicts; "
                                          "without it the page says the full budget is pending."),
    full_studies: Path | None = typer.Option(None, help="The --studies folder of that full-budget run (8.5, 8.6)."),
    from_runs: Path | None = typer.Option(None, "--from-runs", help="Judge and render from the run folders an "
                                          "earlier `bench faq` wrote (its --runs: DIR/<experiment>/), training nothing; "
                                          "the gradient studies are read from --studies."),
    budget: str | None = typer.Option(None, help="A named budget instead of --quick: tiny (the test suite's: "
                                      "seconds, verdicts meaningless), quick or full."),
    tensorboard: bool = TENSORBOARD,
    dry_run: bool = DRY_RUN,
    yes: bool = typer.Option(False, "--yes", help="Start a full-budget run even when its estimate exceeds an hour."),
    force: bool = FORCE,
) -> None:
    """Answer the seed tutorial's FAQ (8.1-8.10) with experiments: a verdict per claim, with numbers and rules.
    Its trials run on Ray like `bench sweep`'s (a private local Ray, or a cluster with --address).

    Example: bench faq --quick --questions 8.1,8.5
    Re-judge committed runs: bench faq --from-runs reports/examples/faq/runs --studies reports/examples/studies
    """
    from bench.faq.main import answer
    from bench.search.protocol import budget_name
    from bench.search.runners import RayTune

    # checks its values before Ray starts
    runner = RayTune(address, cpus_per_trial, gpus_per_trial, log=say, tensorboard=tensorboard)
    ids = [q.strip() for q in questions.split(",") if q.strip()] if questions is not None else None
    if ids == []:
        raise ConfigError(f"--questions {questions!r} names no question; pass numbers such as 8.1,8.5, or drop it for all")
    budget = budget_name(quick, budget)
    if dry_run or (budget == "full" and from_runs is None and not yes):
        faq_plan(ids, budget, cpus_per_trial, studies, dry_run)
        if dry_run:
            return
    with resumable():
        path = answer(ids, budget, out, runs, studies, resume, runner, log=say,
                      full_runs=full_runs, full_studies=full_studies, from_runs=from_runs, force=force)
    console.print(f"faq: {path}")
    console.print(f"markdown: {path.with_name('faq.md')}")
    console.print(verdict_tally(path.with_name("verdicts.csv")), highlight=False)


def verdict_tally(table: Path) -> str:
    """'claims: 17 supported, 1 refuted, ... (of 36)' from the claim-level verdicts of verdicts.csv."""
    import csv

    with table.open(newline="", encoding="utf-8") as f:
        verdicts = {row["claim"]: row["verdict"] for row in csv.DictReader(f)}
    counts = {v: list(verdicts.values()).count(v) for v in dict.fromkeys(verdicts.values())}
    return "claims: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" (of {len(verdicts)})"


def faq_plan(ids: list[str] | None, budget: str, cpus_per_trial: float, studies: Path, dry_run: bool) -> None:
    """Print the FAQ's plan and estimate; a full run estimated above an hour stops here unless --yes (exit 2)."""
    from bench.faq.main import select
    from bench.report.units import duration
    from bench.search.estimate import HOUR, faq_estimate, print_estimate
    from bench.search.experiment import BUDGETS

    est = faq_estimate(select(ids), BUDGETS[budget], cpus_per_trial, studies)
    if dry_run:
        return print_estimate(est, say)
    if est.wall > HOUR:
        print_estimate(est, say)
        raise ConfigError(f"the full-budget FAQ is estimated at {duration(est.wall)}; add --yes to start it, or run "
                          "`bench faq --quick` (under half an hour)")


def dry_run_study(name: str, size: str, out: Path, seeds: int | None) -> None:
    """A study's scale and its wall time as measured by its last run of this size (it builds its trials as it goes:
    nothing to calibrate ahead)."""
    import importlib
    from dataclasses import asdict

    from bench.report.units import duration
    from bench.search.estimate import study_estimate

    scale = asdict(importlib.import_module(f"bench.studies.{name}").SCALES[size])
    say(f"study {name} ({size}): " + ", ".join(f"{k} {v}" for k, v in scale.items())
        + (f"; seeds {seeds}" if seeds is not None else ""))
    seconds, notes = study_estimate([name], size, out)
    for note in notes:
        say(note)
    if seconds:
        say(f"estimated wall time: {duration(seconds)} (measured; nothing is run or written)")


# --- bench study: the vanishing/exploding-gradient studies (bench/studies) ---

@app.command()
@user_errors
def study(
    name: str = typer.Argument(..., help="The study to run: vanishing or exploding."),
    quick: bool = typer.Option(False, help="Small budget (fewer steps, lengths and seeds): minutes on 2 CPU cores."),
    seeds: int | None = typer.Option(None, help="Seeds per configuration (default 5: a claim passes when at least 4 "
                                     "of 5 meet its criterion)."),
    out: Path = typer.Option(Path("reports/studies"), help="Parent folder; the study writes OUT/NAME/ (claims.md, "
                             "claims.csv, PNG figures, Parquet tables)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run: only trials without a result train, with the "
                                "configs recorded for them (the run in OUT/NAME)."),
    address: str | None = ADDRESS,
    cpus_per_trial: float = CPUS_PER_TRIAL,
    gpus_per_trial: str = GPUS_PER_TRIAL,
    budget: str | None = typer.Option(None, help="A named budget instead of --quick: tiny (the test suite's: "
                                      "seconds, verdicts meaningless), quick or full."),
    tensorboard: bool = TENSORBOARD,
    dry_run: bool = DRY_RUN,
    force: bool = FORCE,
) -> None:
    """Reproduce the gradient literature claim by claim: each claim's pass criterion, measurement and PASS/FAIL.
    Its trials run on Ray like `bench sweep`'s (a private local Ray, or a cluster with --address).

    Example: bench study vanishing --quick
    """
    import importlib

    from bench.search.protocol import budget_name
    from bench.search.runners import RayTune
    from bench.studies import STUDIES
    from bench.studies.common import CLAIM_COLUMNS, check_seeds

    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; choose one of: {', '.join(STUDIES)}")
    module = importlib.import_module(f"bench.studies.{name}")
    size = budget_name(quick, budget)  # bad input fails here, before Ray starts
    check_seeds(seeds)
    if dry_run:
        return dry_run_study(name, size, out, seeds)
    from bench.results import ensure_writable, run_lock

    runner = RayTune(address, cpus_per_trial, gpus_per_trial, log=say, tensorboard=tensorboard)
    with resumable(), run_lock(ensure_writable(out / name)), runner:  # a second study here stops before Ray starts
        claims = module.run(quick=quick, seeds=seeds, out=out, size=size, progress=say, runner=runner, resume=resume,
                            force=force)
    assert list(claims.columns) == CLAIM_COLUMNS
    console.print(f"page: {out / name / 'index.html'}  (open it in a browser: claims, then figures)", markup=False)
    console.print(f"claims: {out / name / 'claims.md'}", markup=False)
    console.print(f"tables: {out / name}/*.parquet  (bench report {shlex.quote(str(out / name))} renders the trials)",
                  markup=False, highlight=False)
