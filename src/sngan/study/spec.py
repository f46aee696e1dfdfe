"""Study files: what a study compares, written as TOML and read with the standard library's tomllib.

A study is rows (a method, a loss, a train preset and any config overrides, each with a label) on
datasets, with seeds and a budget per dataset (CPU seconds of one core, turned into steps by each row's
measured cost, or steps). The shipped studies (``quick``, make run's; ``paper``; ``tiny``, the tests';
``lipschitz``; ``budget``) are files in ``sngan/study/studies/`` like any a user writes::

    name = "my-study"
    description = "one line for `sngan study --list`"
    datasets = ["mnist", "ring8"]
    eval_points = 6

    [seeds]
    mnist = 2
    ring8 = 3

    [budget]                       # per dataset; a dataset without one trains its preset's steps
    mnist = { cpu_seconds = 150 }
    ring8 = { steps = 500 }

    [[rows]]
    label = "sn-operator-hinge"    # the row's key in summary.json, its name in the report and figures
    method = "sn"
    loss = "hinge"
    preset = "tuned"
    set = { sn_mode = "operator" } # any config key, as --set takes it

A wrong file is one UserError naming the file, the key and (where TOML gives it) the line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sngan.errors import ConfigError, UserError
from sngan.train.config import DATASET_NAMES, LOSS_NAMES, METHODS, PRESETS, parse_value

STUDIES = Path(__file__).parent / "studies"
CLAIM_SETS = ("write-up", "lipschitz")
ROLES = ("clip", "gp", "sn", "sn_w")   # which rows the claim rules compare (see sngan.study.claims)
RUN_KEYS = ("method", "dataset", "loss", "seed", "preset", "steps")  # set by the study itself, not by `set`
_LABEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TOP = {"name", "description", "datasets", "eval_points", "seeds", "budget", "rows", "claims", "roles",
        "data_dir", "eval_samples", "diag_points", "sample_points", "ckpt_points"}
_ROW = {"label", "method", "loss", "preset", "set", "budget_scale"}


@dataclass(frozen=True)
class Row:
    """One compared setting: a method and loss under a train preset, with config overrides."""

    label: str
    method: str
    loss: str = "wasserstein"
    preset: str = "tuned"
    overrides: tuple[tuple[str, Any], ...] = ()
    budget_scale: float = 1.0   # this row's budget is the dataset's times this

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "method": self.method, "loss": self.loss, "preset": self.preset,
                "set": dict(self.overrides), "budget_scale": self.budget_scale}


@dataclass(frozen=True)
class StudySpec:
    name: str
    rows: tuple[Row, ...]
    datasets: tuple[str, ...]
    seeds: dict[str, int]
    budget: dict[str, dict[str, float]] = field(default_factory=dict)  # dataset -> {cpu_seconds|steps: x}
    description: str = ""
    eval_points: int = 6
    diag_points: int = 6
    sample_points: int = 3
    ckpt_points: int = 4
    eval_samples_along: dict[str, int] = field(default_factory=dict)  # dataset -> samples; default 2000/1000
    eval_samples_final: int | None = None   # None: the metrics' defaults (MNIST 5000, toys 2500)
    claims: str = "write-up"
    roles: dict[str, Any] = field(default_factory=dict)
    data_dir: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def row(self, label: str) -> Row:
        return next(r for r in self.rows if r.label == label)

    def cpu_budget(self, dataset: str) -> float | None:
        return self.budget.get(dataset, {}).get("cpu_seconds")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "datasets": list(self.datasets),
                "seeds": self.seeds, "budget": self.budget, "rows": [r.to_dict() for r in self.rows],
                "eval_points": self.eval_points, "claims": self.claims, "roles": self.roles}


def shipped() -> dict[str, Path]:
    """The studies that come with sngan, by name."""
    return {p.stem: p for p in sorted(STUDIES.glob("*.toml"))}


def load_study(name_or_path: str | Path) -> StudySpec:
    """A shipped study by name, or a study file (``*.toml``); one UserError for a wrong file."""
    text = str(name_or_path)
    path = Path(text)
    studies = shipped()
    if text in studies and not text.endswith(".toml"):
        path = studies[text]  # a shipped name, even where a directory of that name is at hand
    elif not (text.endswith(".toml") or path.is_file()):
        raise UserError(f"unknown study {text!r}: give a .toml file or one of {', '.join(studies)}")
    try:
        raw = path.read_text()
    except OSError as e:
        raise UserError(f"study file {path}: {e.strerror or e}") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"study file {path}: not valid TOML: {e}") from None
    try:
        return _parse(data, raw, path)
    except _Bad as e:
        line = _line_of(raw, e.key)
        raise UserError(f"study file {path}: {e.key}: {e.message}" + (f" (line {line})" if line else "")) from None


class _Bad(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


def _line_of(text: str, key: str) -> int | None:
    """The first line that sets or opens ``key`` (its last dotted part), where it can be found."""
    leaf = re.escape(key.split(".")[-1].split("[")[0])
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*(\[\[?\s*)?{leaf}\s*(=|\]|\.)", line) or re.search(rf"[{{,]\s*{leaf}\s*=", line):
            return i
    return None


def _need(cond: bool, key: str, message: str) -> None:
    if not cond:
        raise _Bad(key, message)


def _int(value: Any, key: str, low: int = 1) -> int:
    _need(isinstance(value, int) and not isinstance(value, bool) and value >= low, key,
          f"expected an integer >= {low}, got {value!r}")
    return value


def _parse(data: dict[str, Any], raw: str, path: Path) -> StudySpec:
    for key in data:
        _need(key in _TOP, key, f"unknown key; a study file has {', '.join(sorted(_TOP))}")
    name = data.get("name", path.stem)
    _need(isinstance(name, str) and bool(_LABEL.match(name)), "name", "expected a short lowercase name")
    datasets = data.get("datasets")
    _need(isinstance(datasets, list) and bool(datasets), "datasets", "expected a list such as [\"mnist\", \"ring8\"]")
    for ds in datasets:
        _need(ds in DATASET_NAMES, "datasets", f"unknown dataset {ds!r}; choose from {', '.join(DATASET_NAMES)}")
    seeds_raw = data.get("seeds", {})
    _need(isinstance(seeds_raw, dict), "seeds", "expected a table: dataset = number of seeds")
    for ds in seeds_raw:
        _need(ds in datasets, f"seeds.{ds}", "not one of the study's datasets")
    seeds = {ds: _int(seeds_raw.get(ds, 1), f"seeds.{ds}") for ds in datasets}
    budget: dict[str, dict[str, float]] = {}
    for ds, b in data.get("budget", {}).items():
        _need(ds in datasets, f"budget.{ds}", "not one of the study's datasets")
        _need(isinstance(b, dict) and len(b) == 1 and next(iter(b)) in ("cpu_seconds", "steps"), f"budget.{ds}",
              "expected { cpu_seconds = S } or { steps = N }")
        kind, value = next(iter(b.items()))
        if kind == "steps":
            budget[ds] = {"steps": _int(value, f"budget.{ds}.steps")}
        else:
            _need(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
                  f"budget.{ds}.cpu_seconds", f"expected a positive number, got {value!r}")
            budget[ds] = {"cpu_seconds": float(value)}
    rows_raw = data.get("rows")
    _need(isinstance(rows_raw, list) and bool(rows_raw), "rows", "expected at least one [[rows]] table")
    rows = tuple(_row(r, i) for i, r in enumerate(rows_raw))
    labels = [r.label for r in rows]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    _need(dup is None, "rows.label", f"label {dup!r} is used twice")
    claims = data.get("claims", "write-up")
    _need(claims in CLAIM_SETS, "claims", f"expected one of {', '.join(CLAIM_SETS)}")
    roles = data.get("roles", {})
    _need(isinstance(roles, dict), "roles", "expected a table such as { gp = \"gp-wasserstein\" }")
    for role, value in roles.items():
        _need(role in ROLES, f"roles.{role}", f"unknown role; the rules know {', '.join(ROLES)}")
        names = value if isinstance(value, list) else [value]
        for v in names:
            _need(v in labels, f"roles.{role}", f"{v!r} is not a row label")
    along = data.get("eval_samples", {})
    _need(isinstance(along, dict) and set(along) <= {"along", "final"}, "eval_samples",
          "expected { along = N, final = N }")
    data_dir = data.get("data_dir", {})
    _need(isinstance(data_dir, dict) and all(isinstance(v, str) for v in data_dir.values()), "data_dir",
          "expected a table: dataset = \"path\"")
    for ds in datasets:
        _need(ds not in ("folder", "cifar10") or ds in data_dir, "datasets",
              f"dataset {ds} needs its images: add data_dir = {{ {ds} = \"PATH\" }}")
    return StudySpec(
        name=name, rows=rows, datasets=tuple(datasets), seeds=seeds, budget=budget,
        description=str(data.get("description", "")),
        eval_points=_int(data.get("eval_points", 6), "eval_points"),
        diag_points=_int(data.get("diag_points", 6), "diag_points"),
        sample_points=_int(data.get("sample_points", 3), "sample_points"),
        ckpt_points=_int(data.get("ckpt_points", 4), "ckpt_points"),
        eval_samples_along=({ds: _int(along["along"], "eval_samples.along") for ds in datasets}
                            if "along" in along else {}),
        eval_samples_final=_int(along["final"], "eval_samples.final") if "final" in along else None,
        claims=claims, roles=roles, data_dir=data_dir, source=raw)


def _row(r: Any, i: int) -> Row:
    where = f"rows[{i}]"
    _need(isinstance(r, dict), where, "expected a table")
    for key in r:
        _need(key in _ROW, f"{where}.{key}", f"unknown key; a row has {', '.join(sorted(_ROW))}")
    label = r.get("label")
    _need(isinstance(label, str) and bool(_LABEL.match(label)), f"{where}.label",
          "expected a short lowercase label (letters, digits, - _ .)")
    method = r.get("method")
    _need(method in METHODS, f"{where}.method", f"expected one of {', '.join(METHODS)}, got {method!r}")
    loss = r.get("loss", "wasserstein")
    _need(loss in LOSS_NAMES, f"{where}.loss", f"expected one of {', '.join(LOSS_NAMES)}, got {loss!r}")
    preset = r.get("preset", "tuned")
    _need(preset in PRESETS, f"{where}.preset", f"expected one of {', '.join(PRESETS)}, got {preset!r}")
    sets = r.get("set", {})
    _need(isinstance(sets, dict), f"{where}.set", "expected a table of config keys, e.g. { sn_mode = \"operator\" }")
    overrides = []
    for key, value in sets.items():
        _need(key not in RUN_KEYS, f"{where}.set.{key}", "is set by the study (row, dataset, seed, budget)")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            overrides.append((key, parse_value(key, text)))
        except ConfigError as e:
            raise _Bad(f"{where}.set.{key}", str(e)) from None
    scale = r.get("budget_scale", 1.0)
    _need(isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0, f"{where}.budget_scale",
          "expected a positive number")
    return Row(label, method, loss, preset, tuple(overrides), float(scale))
