"""Search spaces as data: a YAML file -> a validated SweepSpace -> Optuna distributions per level.

A space names the choice under study (`compare`, a TrialConfig field or `regularizer`), its levels, the
workloads, the nuisance hyperparameters to tune with their ranges (`tune`), settings shared by every trial
(`fixed`) and the budget. Every problem is reported before anything runs, as one line naming the file, the
key and the fix. This is the only module that turns ranges into samplable distributions.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from bench.config import ConfigError, TrialConfig
from bench.search.protocol import CONFIRM_SEED_OFFSET, Budget

# search_spaces/ at the top of a checkout; an installed wheel carries the same files as package data, bench/search_spaces/
_PACKAGED = Path(__file__).resolve().parents[1] / "search_spaces"
SPACES_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "search_spaces"

TOP_KEYS = ("name", "description", "compare", "levels", "workloads", "fixed", "tune", "budget")
RANGE_KEYS = ("min", "max", "scaling", "every_level")
# TrialConfig fields the sweep itself sets, and where the user sets them instead.
MANAGED = {"seed": "budget.seed", "epochs": "budget.epochs", "threads": "--cpus-per-trial",
           "workload": "the workloads list"}


def _registries() -> dict[str, Mapping[str, Any]]:
    """TrialConfig fields (and the pseudo-field `regularizer`) whose values are registry names."""
    from bench.registry import REGISTRIES, by_field

    return {**{field: reg.names() for field, reg in by_field().items()},
            "regularizer": REGISTRIES["regularizers"].entries()}


SCALINGS = ("linear", "log", "log1m")


@dataclass(frozen=True)
class Range:
    """A numeric range of one nuisance hyperparameter, sampled uniformly on a linear scale, a log scale, or a log
    scale of 1 - value (`log1m`, for decay rates such as momentum or Adam's beta2: 0.99 -> 0.999 is as large a
    step as 0.9 -> 0.99; Choi et al. 2019 search 1 - beta that way). `every_level`: tuned for every level, not only
    for the levels whose components own the parameter (e.g. weight decay for every optimizer)."""
    min: float
    max: float
    scaling: str = "linear"
    integer: bool = False
    every_level: bool = False

    @property
    def log(self) -> bool:
        return self.scaling == "log"

    def distribution(self):
        """The Optuna distribution of the sampled quantity (for log1m: of 1 - value)."""
        from optuna.distributions import FloatDistribution, IntDistribution

        if self.integer:
            return IntDistribution(int(self.min), int(self.max), log=self.log)
        if self.scaling == "log1m":
            return FloatDistribution(1.0 - float(self.max), 1.0 - float(self.min), log=True)
        return FloatDistribution(float(self.min), float(self.max), log=self.log)

    def decode(self, sampled: float) -> float:
        """The config value of a sampled quantity, kept inside [min, max] against rounding."""
        value = 1.0 - sampled if self.scaling == "log1m" else sampled
        return min(max(value, self.min), self.max)

    def encode(self, value: float) -> float:
        """The sampled quantity of a config value (decode's inverse)."""
        return 1.0 - value if self.scaling == "log1m" else value

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "scaling": self.scaling} | ({"every_level": True} if self.every_level
                                                                              else {})


# The Budget fields a space file may set (the others are the FAQ's: experiment.BUDGETS).
SWEEP_BUDGET_KEYS = ("seeds", "seed", "confirm", "lrs", "refine", "trials_per_level", "tuned", "concurrency", "asha",
                     "grace_epochs", "reduction_factor", "startup_trials", "epochs", "quick")


def budget_to_dict(b: Budget) -> dict[str, Any]:
    """A sweep budget's fields as given (derived ones left out, so that quick overrides still derive them)."""
    out = {k: getattr(b, k) for k in SWEEP_BUDGET_KEYS if k != "quick"}
    out["epochs"] = dict(b.epochs) if isinstance(b.epochs, Mapping) else b.epochs
    out["tuned"], out["lrs"] = list(b.tuned) or None, list(b.lrs) or None
    out = {k: v for k, v in out.items() if v is not None}
    quick = {k: list(v) if k in ("tuned", "lrs") else v for k, v in b.quick.items()}
    return out | ({"quick": quick} if quick else {})


@dataclass(frozen=True)
class SweepSpace:
    name: str
    compare: str  # TrialConfig field under study, or "regularizer" (a REGULARIZERS entry's settings)
    levels: tuple[Any, ...]
    workloads: tuple[str, ...]
    tune: dict[str, Range]  # nuisance parameter -> range; each level tunes those its components have
    fixed: dict[str, Any]  # TrialConfig overrides applied to every trial
    budget: Budget
    description: str = ""
    source: str = "<dict>"

    def level_settings(self, level: Any) -> dict[str, Any]:
        """The TrialConfig overrides that make a trial belong to this level."""
        if self.compare == "regularizer":
            return dict(_registries()["regularizer"][level].settings)
        return {self.compare: level}

    def base_config(self, level: Any, workload: str) -> TrialConfig:
        """A level's configuration on a workload: the workload's recipe (workloads.recipe_config, with the published
        defaults of the level's optimizer) under the space's fixed settings and the level's."""
        from bench.workloads import recipe_config

        return recipe_config(workload, None, **{**self.fixed, **self.level_settings(level),
                                                "epochs": self.budget.epochs_for(workload), "seed": self.budget.seed})

    def tunable(self, level: Any) -> tuple[str, ...]:
        """Nuisance parameters this level has: lr, plus the hyperparameters of the optimizer, schedule and
        regularizer its trials use, wherever the space gives them a range."""
        cfg = self.base_config(level, self.workloads[0])
        regs = _registries()
        owned = {"lr", *regs["optimizer"][cfg.optimizer].hyperparams, *regs["schedule"][cfg.schedule].hyperparams}
        if self.compare == "regularizer":
            owned |= set(regs["regularizer"][level].settings)
        return tuple(k for k in self.tune if (k in owned or self.tune[k].every_level) and k != self.compare)

    def tuned(self, level: Any) -> tuple[str, ...]:
        """The level's tunable parameters that its budget tunes: all of them, or where the budget names the
        parameters it tunes (`tuned`, e.g. lr alone at a small budget), only those; the others keep the base
        configuration's values (the recipe's, the optimizer's published defaults)."""
        return tuple(k for k in self.tunable(level) if not self.budget.tuned or k in self.budget.tuned)

    def distributions(self, level: Any) -> dict[str, Any]:
        """Optuna distributions of this level's tuned parameters (of what is sampled: see Range)."""
        return {k: self.tune[k].distribution() for k in self.tuned(level)}

    def decode(self, sampled: Mapping[str, float]) -> dict[str, Any]:
        """Config values of one Optuna suggestion (integers stay integers)."""
        return {k: v if self.tune[k].integer else self.tune[k].decode(float(v)) for k, v in sampled.items()}

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The Optuna suggestion that decodes to these config values."""
        return {k: v if self.tune[k].integer else self.tune[k].encode(float(v)) for k, v in values.items()}

    def quick_version(self) -> SweepSpace:
        """The space with the budget's `quick` overrides applied (what --quick runs)."""
        return dataclasses.replace(self, budget=self.budget.quick_version())

    def to_dict(self) -> dict[str, Any]:
        """The resolved space, loadable again by load_space (written next to the results)."""
        budget = budget_to_dict(self.budget)
        if self.budget.epochs is None:  # the recipes' epochs of this budget, so that the file loads back the same
            budget["epochs"] = {w: self.budget.epochs_for(w) for w in self.workloads}
        return {"name": self.name, "description": self.description, "compare": self.compare,
                "levels": list(self.levels), "workloads": list(self.workloads), "fixed": dict(self.fixed),
                "tune": {k: r.to_dict() for k, r in self.tune.items()}, "budget": budget}


def latin_hypercube(dists: Mapping[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    """n points of a Latin hypercube over Optuna distributions (on their log scale where they are log): each
    parameter's range is cut into n equal strata and every stratum is used once, in a seeded random order, at a
    random point inside it. The start-up trials of a search: with few trials, random draws leave whole decades
    of the learning rate unvisited; a hypercube visits each n-th of every range once."""
    import numpy as np
    from optuna.distributions import IntDistribution

    rng = np.random.default_rng(seed)
    points: list[dict[str, Any]] = [{} for _ in range(n)]
    for name in sorted(dists):
        d = dists[name]
        lo, hi = (np.log(d.low), np.log(d.high)) if d.log else (float(d.low), float(d.high))
        for point, u in zip(points, (rng.permutation(n) + rng.uniform(size=n)) / n, strict=True):
            value = float(np.exp(lo + u * (hi - lo)) if d.log else lo + u * (hi - lo))
            value = min(max(value, d.low), d.high)
            point[name] = int(round(value)) if isinstance(d, IntDistribution) else value
    return points


def load_space(source: str | Path | Mapping[str, Any]) -> SweepSpace:
    """Load and validate a space from a dict, a YAML path, or the name of a file in search_spaces/."""
    if isinstance(source, Mapping):
        return _Validator("<dict>").space(source, default_name="sweep")
    path = resolve_path(source)
    return _Validator(str(path)).space(read_yaml(path), default_name=path.stem)


MAX_BYTES = 1 << 20  # a search space is a few hundred bytes; the limits stop hostile files before they are built
MAX_DEPTH = 32
MAX_VALUES = 100_000  # values after YAML aliases are expanded (a "billion laughs" file is 2 KB)


def read_yaml(path: Path) -> Any:
    """The YAML document in path, after checking its size, encoding, nesting depth and alias expansion, so that no
    file can exhaust memory, the stack or the CPU while it is read. Every problem is one ConfigError naming it."""
    where = str(path)
    try:
        if (size := path.stat().st_size) > MAX_BYTES:
            raise ConfigError(f"{where}: {size:,} bytes; a search space file may hold at most {MAX_BYTES:,}")
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{where}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{where}: line {line}: byte {raw[e.start:e.start + 1]!r} is not UTF-8; save the file as "
                          "UTF-8") from None
    try:
        _check_shape(text, where)
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML{at}: {problem}") from None


def _check_shape(text: str, where: str) -> None:
    """Walk the parser's events (no objects built) and stop at the first one past the depth or value limits."""
    depth, values, starts, sizes = 0, 0, [], {}
    for event in yaml.parse(text):
        if isinstance(event, yaml.CollectionStartEvent):
            depth, values = depth + 1, values + 1
            starts.append((event.anchor, values))
            if depth > MAX_DEPTH:
                raise ConfigError(f"{where}: line {event.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, start = starts.pop()
            if anchor:
                sizes[anchor] = values - start + 1
        elif isinstance(event, yaml.AliasEvent):
            values += sizes.get(event.anchor, 1)
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
            if event.anchor:
                sizes[event.anchor] = 1
        if values > MAX_VALUES:
            raise ConfigError(f"{where}: line {event.start_mark.line + 1}: more than {MAX_VALUES:,} values once YAML "
                              "aliases are expanded; a search space needs a few dozen")


def available() -> list[str]:
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def resolve_path(source: str | Path) -> Path:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"search space file {path} not found; pass an existing .yaml file or one of: "
                              f"{', '.join(available())}")
        return path
    named = SPACES_DIR / f"{source}.yaml"
    if not named.is_file():
        raise ConfigError(f"unknown sweep {str(source)!r}; choose one of: {', '.join(available())} "
                          "(or pass a PATH.yaml)")
    return named


class _Validator:
    """Checks one space document; every error names the file and the key."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {problem}")

    def keys(self, data: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(key, f"expected a mapping of {', '.join(allowed)}, got {type(data).__name__}")
        for k in data:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key != "(top level)" else str(k),
                                f"unknown key; valid keys: {', '.join(allowed)}")
        return dict(data)

    def space(self, data: Any, default_name: str) -> SweepSpace:
        if data is None:
            raise self.fail("(top level)", "the file is empty; see search_spaces/optimizers.yaml for an example")
        doc = self.keys(data, "(top level)", TOP_KEYS)
        for key in ("compare", "levels", "workloads"):
            if key not in doc:
                raise self.fail(key, "missing (required)")
        name = doc.get("name", default_name)
        if not isinstance(name, (str, int)) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name := str(name)):
            raise self.fail("name", f"{_short(name)} must be letters, digits, '_', '-' or '.' (it names the run folder)")
        if not isinstance(doc.get("description", ""), str):
            raise self.fail("description", f"expected text, got {type(doc['description']).__name__}")
        compare = self.compare(doc["compare"])
        fixed = self.fixed(doc.get("fixed") or {}, compare)
        workloads = self.workloads(doc["workloads"])
        space = SweepSpace(name, compare, self.levels(doc["levels"], compare), workloads,
                           self.tune(doc.get("tune") or {}, compare, fixed), fixed,
                           self.budget(doc.get("budget") or {}, workloads), str(doc.get("description", "")), self.where)
        self.combinations(space)
        self.total(space)
        return space

    def total(self, space: SweepSpace) -> None:
        for key, b in (("budget", space.budget), ("budget.quick", space.quick_version().budget)):
            confirm = min(b.confirm, b.trials_per_level)
            n = len(space.levels) * len(space.workloads) * (b.trials_per_level + confirm + b.seeds)
            if n > MAX_TRIALS:
                raise self.fail(f"{key}.trials_per_level", f"the sweep would run {n:,} trials ({len(space.levels)} levels "
                                f"x {len(space.workloads)} workloads x {b.trials_per_level} + {confirm} + {b.seeds}); "
                                f"at most {MAX_TRIALS:,}")

    def compare(self, compare: Any) -> str:
        allowed = [f for f in _config_types() if f not in MANAGED] + ["regularizer"]
        if compare not in allowed:
            raise self.fail("compare", f"{compare!r} is not a config field to compare; choose one of: {', '.join(allowed)}")
        return compare

    def scalar(self, key: str, value: Any) -> None:
        if not isinstance(value, (str, int, float)):
            raise self.fail(key, f"{_short(value)} is a {type(value).__name__}; expected one value (a name or a number)")

    def names(self, key: str, values: dict[str, Any]) -> None:
        """Registry-backed values must be known names."""
        regs = _registries()
        for name, value in values.items():
            self.scalar(f"{key}.{name}" if key == "fixed" else key, value)
            if name in regs and value not in regs[name]:
                kind = name.replace("_", " ")
                raise self.fail(key, f"unknown {kind} {value!r}; choose one of: {', '.join(map(str, regs[name]))}")

    def config(self, key: str, overrides: dict[str, Any]) -> TrialConfig:
        self.names(key, overrides)
        try:
            return TrialConfig.from_dict(overrides)
        except ConfigError as e:
            hints = "".join(_yaml_hint(v) for v in overrides.values())
            raise self.fail(key, f"{e}{hints}") from None

    def fixed(self, data: Any, compare: str) -> dict[str, Any]:
        fixed = self.keys(data, "fixed", tuple(_config_types()))
        for k in fixed:
            if k in MANAGED:
                raise self.fail(f"fixed.{k}", f"set by the sweep; use {MANAGED[k]}")
            if k == compare:
                raise self.fail(f"fixed.{k}", f"{k} is the compared choice; list its values under levels")
        self.config("fixed", fixed)
        return fixed

    def levels(self, data: Any, compare: str) -> tuple[Any, ...]:
        if not isinstance(data, list) or not data:
            raise self.fail("levels", "expected a non-empty list of the values to compare")
        for i, level in enumerate(data):
            self.scalar(f"levels[{i}]", level)
            if data.index(level) != i:
                raise self.fail(f"levels[{i}]", f"{level!r} is listed twice")
            if compare == "regularizer":
                self.names(f"levels[{i}]", {"regularizer": level})
            else:
                self.config(f"levels[{i}]", {compare: level})
        return tuple(data)

    def workloads(self, data: Any) -> tuple[str, ...]:
        if not isinstance(data, list) or not data:
            raise self.fail("workloads", "expected a non-empty list of workload names (see `bench list workloads`)")
        for i, name in enumerate(data):
            self.scalar(f"workloads[{i}]", name)
            if data.index(name) != i:
                raise self.fail(f"workloads[{i}]", f"{name!r} is listed twice")
            self.names(f"workloads[{i}]", {"workload": name})
        return tuple(data)

    def tune(self, data: Any, compare: str, fixed: dict[str, Any]) -> dict[str, Range]:
        tune = self.keys(data, "tune", tuple(_config_types()))
        if "lr" not in tune and compare != "lr":
            raise self.fail("tune.lr", "missing: the learning rate is tuned for every level, give it a range "
                                       "such as {min: 1.0e-4, max: 1.0, scaling: log}")
        out = {}
        for k, spec in tune.items():
            key = f"tune.{k}"
            if k in MANAGED or k == compare or k in fixed:
                role = "the compared choice" if k == compare else "under fixed" if k in fixed else "set by the sweep"
                raise self.fail(key, f"{k} cannot be tuned: it is {role}")
            out[k] = self.range(key, k, spec)
        return out

    def range(self, key: str, name: str, spec: Any) -> Range:
        kind = _config_types()[name]
        if kind not in ("int", "float"):
            raise self.fail(key, f"only numeric fields can be tuned; {name} is {kind}")
        spec = self.keys(spec, key, RANGE_KEYS)
        for bound in ("min", "max"):
            value = spec.get(bound)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(f"{key}.{bound}", f"expected a number, got {_short(value)}{_yaml_hint(value)}")
            if not math.isfinite(value):
                raise self.fail(f"{key}.{bound}", f"expected a finite number, got {value}")
            if kind == "int" and not float(value).is_integer():
                raise self.fail(f"{key}.{bound}", f"{name} is an integer field, got {value!r}")
        scaling = spec.get("scaling", "linear")
        if scaling not in SCALINGS:
            raise self.fail(f"{key}.scaling", f"expected one of {', '.join(SCALINGS)}, got {scaling!r}")
        every = spec.get("every_level", False)
        if not isinstance(every, bool):
            raise self.fail(f"{key}.every_level", f"expected true or false, got {every!r}")
        lo, hi = spec["min"], spec["max"]
        if lo > hi:
            raise self.fail(key, f"min {lo} > max {hi}; swap them")
        if lo == hi:
            raise self.fail(key, f"empty range (min == max == {lo}); to hold {name} constant put it under fixed")
        if scaling == "log" and lo <= 0:
            raise self.fail(key, f"a log range must lie above 0, got min {lo}; raise min or use scaling: linear")
        if scaling == "log1m" and (hi >= 1 or kind == "int"):
            raise self.fail(key, f"a log1m range (log scale of 1 - {name}) must be of a float and lie below 1, got "
                                 f"max {hi}; lower max or use scaling: linear")
        for bound in (lo, hi):
            self.config(key, {name: bound})
        return Range(lo, hi, scaling, kind == "int", every)

    def budget(self, data: Any, workloads: tuple[str, ...]) -> Budget:
        names = SWEEP_BUDGET_KEYS
        budget = self.keys(data, "budget", names)
        quick = self.keys(budget.get("quick") or {}, "budget.quick", tuple(n for n in names if n != "quick"))
        self.budget_values("budget", budget, workloads)
        self.budget_values("budget.quick", quick, workloads)
        budget, quick = ({**b, **{k: tuple(b[k]) for k in ("tuned", "lrs") if k in b}} for b in (budget, quick))
        result = Budget(**{**budget, "quick": quick})
        quick_budget = result.quick_version()
        for key, b in (("budget", result), ("budget.quick", quick_budget)):
            for w in workloads if b.asha else ():
                if b.grace_for(w) > b.epochs_for(w):
                    raise self.fail(f"{key}.grace_epochs", f"{b.grace_for(w)} exceeds the {b.epochs_for(w)} epochs of {w}")
            if b.seed + max(b.seeds, CONFIRM_SEED_OFFSET) >= 2**32:
                raise self.fail(f"{key}.seed", f"seed + {CONFIRM_SEED_OFFSET} (the confirm seed) must stay below 2**32 "
                                                  f"(numpy's seed range), got {b.seed}")
        return result

    def epochs(self, key: str, value: Any, workloads: tuple[str, ...]) -> None:
        """epochs: an integer >= 1, or a mapping that gives one to every workload of the space."""
        if not isinstance(value, Mapping):
            return
        if set(value) != set(workloads):
            missing = sorted(set(workloads) - set(value)) or sorted(set(value) - set(workloads))
            raise self.fail(key, f"per-workload epochs must name exactly the workloads {', '.join(workloads)} "
                                 f"(check {', '.join(map(str, missing))})")
        for w, v in value.items():
            self.bounded(f"{key}.{w}", "epochs", v)

    def budget_values(self, key: str, values: dict[str, Any], workloads: tuple[str, ...]) -> None:
        for k, v in values.items():
            if k == "epochs" and isinstance(v, Mapping):
                self.epochs(f"{key}.epochs", v, workloads)
            elif k in ("asha", "refine"):
                if not isinstance(v, bool):
                    raise self.fail(f"{key}.{k}", f"expected true or false, got {_short(v)}")
            elif k == "lrs" and (not isinstance(v, list) or len(v) < 2 or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < math.inf for x in v)
                    or sorted(v) != v or len(set(v)) < len(v)):
                raise self.fail(f"{key}.lrs", f"expected an increasing list of 2 or more positive learning rates such "
                                              f"as [0.001, 0.01, 0.1, 1.0], got {_short(v)}")
            elif k == "tuned" and (not isinstance(v, list) or not all(isinstance(n, str) for n in v)):
                raise self.fail(f"{key}.tuned", f"expected a list of tuned parameter names such as [lr], got {_short(v)}")
            elif k in BUDGET_LIMITS:
                self.bounded(f"{key}.{k}", k, v)

    def bounded(self, key: str, field: str, v: Any) -> None:
        lo, hi = BUDGET_LIMITS[field]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise self.fail(key, f"expected an integer >= {lo}, got {_short(v)}")
        if v > hi:
            raise self.fail(key, f"{v:,} is beyond any sweep that could finish; at most {hi:,}")

    def combinations(self, space: SweepSpace) -> None:
        """Every (level, workload) must make a valid config, and every tuned range must be used by some level."""
        used: set[str] = set()
        for i, level in enumerate(space.levels):
            for workload in space.workloads:
                try:
                    space.base_config(level, workload)
                except ConfigError as e:
                    raise self.fail(f"levels[{i}]", f"with workload {workload}: {e}") from None
            used.update(space.tunable(level))
        for key, b in (("budget", space.budget), ("budget.quick", space.quick_version().budget)):
            if unknown := [k for k in b.tuned if k not in space.tune]:
                raise self.fail(f"{key}.tuned", f"{unknown[0]!r} has no range under tune; choose from "
                                                f"{', '.join(space.tune)}")
        for k in space.tune:
            if k not in used:
                raise self.fail(f"tune.{k}", "no level uses it (a level tunes lr, the ranges marked every_level and "
                                             "the hyperparameters of its optimizer, schedule and regularizer); remove it")


# Budget fields: (least, most). The upper bounds are far beyond any sweep that finishes; past them a typo (3000000
# trials) would make a plan of millions of trials before saying anything.
BUDGET_LIMITS = {"trials_per_level": (1, 10_000), "epochs": (1, 100_000), "seeds": (1, 1_000), "seed": (0, 2**32 - 1),
                 "concurrency": (1, 10_000), "grace_epochs": (1, 100_000), "reduction_factor": (2, 100),
                 "startup_trials": (1, 10_000), "confirm": (0, 1_000)}
MAX_TRIALS = 100_000  # every level x workload x (tuning trials + confirm trials + seeds) of one sweep


def _short(value: Any, limit: int = 60) -> str:
    """repr(value) cut to a length that fits in one line of an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _config_types() -> dict[str, str]:
    return {f.name: f.type for f in fields(TrialConfig)}


def _yaml_hint(value: Any) -> str:
    """YAML 1.1 reads 1e-4 (no dot) as text: say how to write it."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return f" (YAML reads {value} as text; write it with a dot, e.g. {float(value):.1e})"
    return ""
