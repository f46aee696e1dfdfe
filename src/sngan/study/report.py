"""Build a study's report from what is on disk: summary.json / summary.csv, figures, the claims
table, a self-contained report.html (figures embedded), and from summary.json the typeset write-up
(writeup.pdf, ``sngan.study.writeup``) and the A0 poster (poster.pdf / poster.png, ``sngan.study.poster``).

It reads whatever is there, so it can be (and is, by ``run_study``) rebuilt while runs still train.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from sngan.errors import UserError
from sngan.files import atomic_write_bytes
from sngan.study import claims as C
from sngan.study import figures as F
from sngan.study.poster import build_poster
from sngan.study.tuning import tuning_results
from sngan.study.typeset import TITLE, VERDICT_COLORS, num
from sngan.study.writeup import build_writeup
from sngan.train.logging import json_safe

FIG = "figures"
TABLE_KEYS = {"mnist": ["fid", "kid", "precision", "recall", "coverage", "class_kl_uniform", "digits_under_1pct"],
              "toy": ["modes_covered", "high_quality", "w1_exact", "w1_critic"]}


def _cell(cell: dict | None, digits: int = 3) -> str:
    """Every seed's value, then the min–max (few seeds: no t-interval)."""
    if not cell or not cell.get("n"):
        return "–"
    vals = cell["values"]
    text = " · ".join(num(v, digits) for v in vals)
    if len(vals) > 1:
        text += f"  [{num(cell['min'], digits)}–{num(cell['max'], digits)}]"
    return text


def evidence(table: dict, cost: dict | None, trends: dict, tuning: dict, study: dict | None = None) -> dict[str, Any]:
    """What the claim rules read: final values (means over seeds) per dataset and row, quality trends,
    per-step cost, the tuning's sensitivity numbers, and from the study file (``study``: study.json's
    "study") which rows each rule compares and each SN row's mode."""
    final: dict[str, Any] = {}
    for ds, rows in table.items():
        for label, row in rows.items():
            cell = {k: v["mean"] for k, v in row.items() if isinstance(v, dict) and "mean" in v}
            cell["lipschitz_upper_values"] = row["lipschitz_upper"]["values"]
            cell["lipschitz_lower_values"] = row["lipschitz_lower"]["values"]
            final.setdefault(ds, {})[label] = cell
    rows = (study or {}).get("rows")
    roles = C.infer_roles(rows, study.get("roles")) if rows else C.DEFAULT_ROLES
    modes = {r["label"]: {"mode": r.get("set", {}).get("sn_mode", "matrix"), "loss": r["loss"]}
             for r in rows or [] if r["method"] == "sn"}
    return {"final": final, "trend": trends, "cost": (cost or {}).get("datasets", {}),
            "tuning": C.tuning_evidence(tuning), "roles": roles, "sn_modes": modes}


def quality_trends(curves: dict) -> dict[str, dict[str, float]]:
    """Spearman correlation of FID (MNIST) / exact W1 (toys) with the step along training, mean over seeds."""
    out: dict[str, dict[str, float]] = {}
    for ds, by_label in curves.items():
        key = "fid" if ds == "mnist" else "w1_exact"
        for label, by_seed in by_label.items():
            rhos = [C.spearman([p["step"] for p in c], [p[key] for p in c]) for c in by_seed.values()
                    if len(c) >= 3 and all(p.get(key) is not None for p in c)]
            rhos = [r for r in rhos if math.isfinite(r)]
            out.setdefault(ds, {})[label] = sum(rhos) / len(rhos) if rhos else float("nan")
    return out


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _theory(figdir: Path) -> dict:
    """The computed theory figures; they do not depend on the runs, so they are made once per study
    directory, and copied from the cache when this code has drawn them before."""
    cache = figdir / "theory.json"
    files = [f"theory_{k}.{ext}" for k in ("js_w1", "vanishing", "power") for ext in ("png", "svg")]
    if cache.exists() and all((figdir / f).exists() for f in files):
        try:
            return json.loads(cache.read_text())
        except ValueError:
            pass
    shared = _theory_cache()
    try:
        raw = (shared / "theory.json").read_bytes()
        theory = json.loads(raw)
        for f in files:
            atomic_write_bytes(figdir / f, (shared / f).read_bytes())
        atomic_write_bytes(cache, raw)
        return theory
    except (OSError, ValueError):  # not drawn yet by this code (or the cache was damaged): draw them
        pass
    theory = json_safe(F.plot_theory(figdir / "theory"))
    atomic_write_bytes(cache, json.dumps(theory, default=float).encode())
    _share(figdir, ["theory.json", *files], shared)
    return theory


def _theory_cache() -> Path:
    """The theory figures' folder in the data cache, named for the code and matplotlib that draw them."""
    import hashlib

    import matplotlib

    from sngan.data.cache import cache_dir
    from sngan.study import theory

    key = hashlib.sha256(Path(theory.__file__).read_bytes() + Path(F.__file__).read_bytes()
                         + matplotlib.__version__.encode()).hexdigest()[:16]
    return cache_dir() / "theory" / key


def _share(figdir: Path, files: list[str], shared: Path) -> None:
    """Copy the drawn figures to the cache, all or nothing, in place of what was there (called only when
    reading the cache failed: nothing, or a damaged copy). An unwritable cache only costs the next study
    the drawing."""
    import shutil
    import tempfile

    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=shared.parent, prefix=".tmp-"))
        for f in files:
            shutil.copyfile(figdir / f, tmp / f)
        shutil.rmtree(shared, ignore_errors=True)
        try:
            tmp.rename(shared)
        except OSError:  # another process shared them in between: theirs stays
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass


def build_report(study_dir: str | Path) -> Path:
    """(Re)build summary.json, summary.csv, figures/, report.html, the write-up and the poster from disk."""
    study_dir = Path(study_dir)
    runs = F.load_runs(study_dir)
    if not runs:
        raise UserError(f"{study_dir} holds no study runs (expected runs/DATASET/METHOD-LOSS/seedN/config.json)")
    meta = _read_json(study_dir / "study.json")
    spec = meta.get("study") or {}
    cost = _read_json(study_dir / "cost.json") or None
    figdir = study_dir / FIG
    figdir.mkdir(exist_ok=True)
    table = F.quality_table(runs)
    curves = F.curves(runs)
    datasets = list(table)
    for ds in datasets:
        F.plot_quality_curves(runs, ds, figdir / f"quality_{ds}.png")
        F.plot_final_samples(runs, ds, figdir / f"final_samples_{ds}.png", spec.get("rows"))
        F.plot_losses(runs, ds, figdir / f"losses_{ds}.png", spec.get("rows"))
        F.plot_samples(runs, ds, figdir / f"samples_{ds}.png")
        F.plot_sigma(runs, ds, figdir / f"sigma_{ds}.png")
        F.plot_bounds(table, ds, figdir / f"bounds_{ds}.png")
    theory = _theory(figdir)
    tuning = tuning_results()
    trends = quality_trends(curves)
    ev = evidence(table, cost, trends, tuning, spec)
    by_budget = claims_by_budget(spec, table, cost, trends, tuning)
    # the main verdicts: the largest budget's (the last) where rows repeat at several (every budget's are in
    # the summary)
    verdicts = list(by_budget.values())[-1] if by_budget else C.verdicts(ev, spec.get("claims", "write-up"))
    if by_budget:
        for ds in datasets:
            F.plot_budget(table, spec["rows"], ds, figdir / f"budget_{ds}.png", (spec.get("budget") or {}).get(ds))
    planned = len(meta.get("runs", [])) or len(runs)
    finished = sum(r.status in ("finished", "diverged") and (r.status == "diverged" or bool(r.metrics)) for r in runs)
    summary = {"claims": verdicts, "claims_by_budget": by_budget,
               "progress": {"runs_planned": planned, "runs_done": finished},
               "study": meta, "quality": table, "curves": curves, "cost": cost, "evidence": ev,
               "tuning": {"budget_cpu_seconds": tuning.get("budget_cpu_seconds"), "best": tuning.get("best")},
               "theory": theory, "setup": setup(runs), "layer_sigma": layer_sigma(runs),
               "runs": [{"dir": str(r.dir.relative_to(study_dir)), "dataset": r.dataset, "label": r.label,
                         "seed": r.seed, "status": r.status, "steps": r.config.get("steps"),
                         "steps_logged": len(r.log)} for r in runs]}
    text = json.dumps(json_safe(summary), indent=1, default=str, allow_nan=False)  # strict JSON: NaN -> null
    atomic_write_bytes(study_dir / "summary.json", text.encode())
    atomic_write_bytes(study_dir / "summary.csv", _csv(table, cost).encode())
    page = _html(study_dir, meta, runs, table, cost, verdicts, datasets, tuning, (finished, planned), by_budget)
    atomic_write_bytes(study_dir / "report.html", page.encode())
    build_writeup(study_dir)
    build_poster(study_dir)
    return study_dir / "report.html"


def claims_by_budget(spec: dict, table: dict, cost: dict | None, trends: dict, tuning: dict
                     ) -> dict[str, list[dict[str, str]]]:
    """A study whose rows train the same settings at several budgets (``budget_scale``): the claims once
    per budget, each over that budget's rows under their method-loss names, smallest budget first. Empty
    for other studies."""
    from sngan.train.config import row_label

    rows = spec.get("rows", [])
    scales = sorted({r.get("budget_scale", 1.0) for r in rows})
    if len(scales) < 2:
        return {}
    out = {}
    for scale in scales:
        names = {r["label"]: row_label(r["method"], r["loss"]) for r in rows if r.get("budget_scale", 1.0) == scale}

        def keep(by_label: dict, names: dict = names) -> dict:
            return {names[k]: v for k, v in by_label.items() if k in names}

        sub_rows = [r | {"label": names[r["label"]]} for r in rows if r["label"] in names]
        sub_cost = {"datasets": {ds: keep(v) for ds, v in (cost or {}).get("datasets", {}).items()}}
        ev = evidence({ds: keep(v) for ds, v in table.items()}, sub_cost,
                      {ds: keep(v) for ds, v in trends.items()}, tuning, {"rows": sub_rows})
        out[f"{scale:g}x"] = C.verdicts(ev, spec.get("claims", "write-up"))
    return out


def layer_sigma(runs: list[F.StudyRun]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per dataset and SN row: each critic layer's σ of the reshaped kernel and true operator norm at the
    last diagnostic step of its first seed (what ``sngan certify`` shows, measured in the run itself)."""
    out: dict[str, dict[str, Any]] = {}
    for ds, by_label in F.groups(runs).items():
        for label, rs in by_label.items():
            run = min(rs, key=lambda r: r.seed)
            if run.config.get("method") != "sn":
                continue
            last = next((line for line in reversed(run.log) if line.get("sigma")), None)
            if last is None:
                continue
            kinds = _layer_kinds(run.config)
            out.setdefault(ds, {})[label] = {
                "seed": run.seed, "step": last["step"],
                "layers": [{"name": name, "kind": kinds.get(name, "?"), "matrix": s["matrix"],
                            "operator": s["operator"]} for name, s in last["sigma"].items()]}
    return out


def _layer_kinds(config: dict) -> dict[str, str]:
    """The critic's layers by name: "conv 3x3/1 1→16", "linear 3136→1"."""
    from torch import nn

    from sngan.train.build import build_models
    from sngan.train.config import from_dict

    try:
        _, critic, _ = build_models(from_dict(config))
    except Exception:  # a config from another version: the table shows "?" for the kinds
        return {}
    kinds = {}
    for name, m in critic.named_modules():
        if isinstance(m, nn.Conv2d):
            kinds[name] = (f"conv {m.kernel_size[0]}x{m.kernel_size[1]}/{m.stride[0]} "
                           f"{m.in_channels}→{m.out_channels}")
        elif isinstance(m, nn.Linear):
            kinds[name] = f"linear {m.in_features}→{m.out_features}"
    return kinds


def setup(runs: list[F.StudyRun]) -> dict[str, dict[str, Any]]:
    """Per dataset: the critic and generator (class, first docstring line, parameters) and per row the
    settings its first seed trained with."""
    from sngan.train.build import build_models
    from sngan.train.config import from_dict

    keys = ("method", "loss", "steps", "batch_size", "n_critic", "lr_d", "lr_g", "beta1", "beta2", "optimizer",
            "clip_value", "gp_weight", "n_power_iterations", "sn_mode", "width", "ema", "precision", "preset")
    out: dict[str, dict[str, Any]] = {}
    for ds, by_label in F.groups(runs).items():
        first = min(next(iter(by_label.values())), key=lambda r: r.seed)
        entry: dict[str, Any] = {"rows": {}}
        try:
            generator, critic, shape = build_models(from_dict(first.config))
            for role, model in (("critic", critic), ("generator", generator)):
                doc = (type(model).__doc__ or "").strip().split("\n")[0]
                entry[role] = {"class": type(model).__name__, "doc": doc,
                               "parameters": sum(p.numel() for p in model.parameters())}
            entry["input_shape"] = list(shape)
        except Exception:  # a config from another version: the setup table says less
            pass
        for label, rs in by_label.items():
            cfg = min(rs, key=lambda r: r.seed).config
            entry["rows"][label] = {k: cfg.get(k) for k in keys}
        out[ds] = entry
    return out


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _csv(table: dict, cost: dict | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["dataset", "method", "metric", "mean", "min", "max", "n", "values"])
    for ds, rows in table.items():
        for label, row in rows.items():
            for key, cell in row.items():
                w.writerow([ds, label, key, cell["mean"], cell.get("min", ""), cell.get("max", ""), cell["n"],
                            " ".join(str(v) for v in cell.get("values", []))])
    for ds, rows in (cost or {}).get("datasets", {}).items():
        for label, row in rows.items():
            for key, value in row.items():
                w.writerow([ds, label, f"cost_{key}", value, "", "", cost.get("repeats", ""), ""])
    return buf.getvalue()


def _table_html(table_id: str, header: list[str], rows: list[list[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(fig: Path, name: str, fig_id: str, caption: str) -> str:
    if not (fig / name).exists():
        return ""
    return (f'<figure id="{fig_id}"><img src="{_img(fig / name)}" alt="{html.escape(fig_id)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _claims_html(verdicts: list[dict]) -> str:
    rows = []
    for v in verdicts:
        color = VERDICT_COLORS[v["verdict"]]
        rows.append([html.escape(v["claim"]), f'<b style="color:{color}">{html.escape(v["verdict"])}</b>',
                     html.escape(v["evidence"]), f'<a href="#{v["ref"]}">figure</a>',
                     f'<details><summary>rule</summary>{html.escape(v["rule"])}</details>'])
    return _table_html("claims", ["claim of the write-up", "verdict", "measured evidence", "see", "how decided"],
                       rows, raw=True)


def _html(study_dir: Path, meta: dict, runs, table, cost, verdicts, datasets, tuning, progress,
          by_budget: dict | None = None) -> str:
    fig = study_dir / FIG
    done, planned = progress
    budget = meta.get("budget_cpu_seconds") or {}
    budget_txt = (", equal CPU budget per run: " + ", ".join(f"{ds} {s:g} s" for ds, s in budget.items())
                  if budget else "")
    parts = [f"<h1>{html.escape(TITLE)}</h1>"
             '<p class=docs><a href="writeup.pdf">The write-up (writeup.pdf)</a> · <a href="poster.pdf">the poster '
             '(poster.pdf)</a> · <a href="summary.json">summary.json</a></p>'
             "<p class=sub>Spectral normalization vs gradient penalty vs weight clipping. Study preset "
             f"<b>{html.escape(str(meta.get('preset', '?')))}</b>, seeds per method "
             f"{html.escape(json.dumps(meta.get('seeds', '?')))}{budget_txt}. <b>{done} of {planned} runs done</b>"
             f"{' — this report is refreshed as the rest finish' if done < planned else ''}. Every number below is "
             "computed from the runs in this directory.</p>"]
    parts.append("<h2 id=claims-h>The write-up's claims, measured</h2>" + _claims_html(verdicts)
                 + "<p class=note>Verdicts come from the stated rules (sngan/study/claims.py) applied to the numbers "
                   "of this study and of the committed equal-effort tuning; nothing is written by hand.</p>")
    parts.append(_budget_html(fig, by_budget, datasets))
    parts.append("<h2 id=fig-quality>1. Quality against CPU seconds and generator steps</h2>")
    for ds in datasets:
        parts.append(_figure(fig, f"quality_{ds}.png", f"fig-quality-{ds}",
                             f"{ds}: quality measured along training, against the CPU seconds of training (one core; "
                             "every method had the same budget) and against generator steps."))
    parts.append("<h2 id=fig-final-samples>2. Final samples</h2>")
    for ds in datasets:
        what = "64 samples from a fixed z (EMA generator)" if ds == "mnist" else "generated points over the critic"
        parts.append(_figure(fig, f"final_samples_{ds}.png", f"fig-final-samples-{ds}",
                             f"{ds}: {what} at the end of training, seed 0 of every method."))
    parts.append("<h2>3. Final quality (every seed, then [min–max])</h2>")
    for ds in datasets:
        keys = TABLE_KEYS["mnist" if ds == "mnist" else "toy"]
        rows = [[F.NAMES.get(k, k), _cell(v["steps"], 6)] + [_cell(v.get(m)) for m in keys]
                + [str(int(v["diverged"]["mean"]))] for k, v in table[ds].items()]
        parts.append(f"<h3>{ds}</h3>" + _table_html(f"table-quality-{ds}", ["method", "steps"] + keys + ["diverged"],
                                                    rows))
    parts.append("<p class=note>MNIST metrics use the features of the MNIST classifier shipped with sngan (not "
                 "Inception), on 5000 samples; toys: 2500 samples (VEEGAN/PacGAN protocol). Lower is better for FID, "
                 "KID, W1 and class KL.</p>")
    parts.append("<h2 id=fig-losses>4. Training curves (the write-up's loss figures)</h2>")
    for ds in datasets:
        parts.append(_figure(fig, f"losses_{ds}.png", f"fig-losses-{ds}",
                             f"{ds}: generator loss, critic loss and the critic's W1 estimate, one column per method, "
                             "each panel on its own scale."))
        parts.append(_figure(fig, f"samples_{ds}.png", f"fig-samples-{ds}",
                             f"{ds}: samples at the start, middle and end of training (seed 0)."))
    parts.append("<h2 id=table-cost>5. Cost</h2>")
    if cost:
        for ds, rows in cost["datasets"].items():
            body = [[F.NAMES.get(k, k), f"{v['ms_critic_step']:.2f}", f"{v['ms_generator_step']:.2f}",
                     str(v.get("n_critic", "")), f"{v['ms_iteration']:.1f}", f"{v['critic_step_ratio_to_sn']:.2f}",
                     _cell(table.get(ds, {}).get(k, {}).get("steps"), 6)] for k, v in rows.items()]
            parts.append(f"<h3>{ds}</h3>" + _table_html(
                f"table-cost-{ds}", ["method", "ms / critic step", "ms / generator step", "n_critic", "ms / iteration",
                                     "critic step vs SN", "steps in the budget"], body))
        parts.append(f"<p class=note>Medians of {cost['repeats']} interleaved repeats in one process, "
                     f"{cost['threads']} thread(s), each method with its tuned settings; the steps each run trained "
                     "are its CPU budget divided by its cost per iteration.</p>")
    else:
        parts.append("<p>No cost measurement in this study directory.</p>")
    parts.append("<h2 id=fig-bounds>6. Lipschitz constants</h2>")
    for ds in datasets:
        rows = [[F.NAMES.get(k, k)] + [_cell(v.get(m)) for m in F.LIPSCHITZ] for k, v in table[ds].items()]
        parts.append(f"<h3>{ds}</h3>" + _table_html(f"table-lipschitz-{ds}", ["method"] + F.LIPSCHITZ, rows))
        parts.append(_figure(fig, f"bounds_{ds}.png", f"fig-bounds-{ds}",
                             f"{ds}: empirical lower bound ≤ Lip(D) ≤ certified upper bound (product of exact layer "
                             "operator norms) of each final critic."))
        parts.append(_figure(fig, f"sigma_{ds}.png", f"fig-sigma-{ds}",
                             f"{ds}: σ of each critic layer's effective weight over training — true operator norm "
                             "(solid) vs σ of the reshaped kernel (dashed). For convolutions they differ."))
    parts.append("<h2 id=table-tuning>7. Equal-effort tuning</h2>" + _tuning_html(tuning))
    parts.append("<h2>8. Theory, computed</h2>")
    for key, cap in (("js_w1", "JS divergence vs W1 between P = (0, U[0,1]) and Q_θ = (θ, U[0,1]) "
                                "(Arjovsky et al. 2017, Example 1)."),
                     ("vanishing", "Optimal BCE discriminator vs 1-Lipschitz critic in 1-D: the saturating "
                                   "generator gradient vanishes where the fakes are."),
                     ("power", "Power-iteration σ error: fresh vs persistent u.")):
        parts.append(_figure(fig, f"theory_{key}.png", f"fig-theory-{key}", cap))
    parts.append('<p class=note>Also in this directory: <a href="summary.json">summary.json</a>, '
                 '<a href="summary.csv">summary.csv</a>, <a href="writeup.pdf">writeup.pdf</a> (source writeup.typ), '
                 '<a href="poster.pdf">poster.pdf</a> (source poster.typ).</p>')
    style = ("body{font-family:system-ui,sans-serif;max-width:1280px;margin:2em auto;padding:0 1em;color:#222}"
             "h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}"
             "table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:.25em .5em;text-align:right;vertical-align:top}td:first-child,th:first-child{text-align:left}"
             "#claims td{text-align:left}th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}"
             "figcaption{font-size:.85em;color:#555}.sub,.note{color:#555;font-size:.9em}details{font-size:.85em}"
             ".docs{font-size:1.05em}")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(TITLE)}: study report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def _budget_html(fig: Path, by_budget: dict | None, datasets: list[str]) -> str:
    """The claims at each budget (a study whose rows repeat at several budgets) and final quality against budget."""
    if not by_budget:
        return ""
    budgets = list(by_budget)
    rows = [[html.escape(claim["claim"])]
            + [f'<b style="color:{VERDICT_COLORS[v["verdict"]]}" title="{html.escape(v["evidence"])}">'
               f'{html.escape(v["verdict"])}</b>' for v in at]
            for claim, at in C.at_each_budget(by_budget)]
    figures = "".join(_figure(fig, f"budget_{ds}.png", f"fig-budget-{ds}",
                              f"{ds}: final quality of every method against its training budget (every seed).")
                      for ds in datasets)
    return ("<h2 id=claims-budget>The claims at each budget</h2>"
            + _table_html("claims-by-budget", ["claim"] + [f"budget {b}" for b in budgets], rows, raw=True)
            + "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in C.budget_changes(by_budget)) + "</ul>"
            + "<p class=note>The table above (and summary.json's \"claims\") gives the largest budget's verdicts; "
              "hover a verdict for its evidence. " + html.escape(C.budget_free_note(by_budget)) + "</p>" + figures)


def _tuning_html(tuning: dict) -> str:
    if not tuning.get("best"):
        return "<p>No tuning results shipped with this package (benchmarks/tune.py writes them).</p>"
    sens = C.tuning_evidence(tuning)
    rows = []
    for ds, best in tuning["best"].items():
        for label, b in best.items():
            cfg = ", ".join(f"{k} {v:g}" for k, v in b["config"].items() if k != "lr_g")
            s = sens.get(ds, {}).get(label, {})
            rows.append([ds, F.NAMES.get(label, label), cfg, str(b.get("steps", "")),
                         num(C.quality_loss(ds, b["final"])), num(s.get("default_regret", float("nan"))),
                         num(s.get("spread", float("nan")))])
    budget = tuning.get("budget_cpu_seconds", {})
    return (_table_html("table-tuning-best", ["dataset", "method", "tuned setting (lr = both nets)", "steps",
                                              "FID / W1 at the best", "default point / best", "median point / best"],
                        rows)
            + "<p class=note>Every method got the same coordinate search (learning rate, n_critic, Adam β1, then one "
              "knob of its own: clipping c, GP λ, SN power iterations), 6 points, each trained for the same CPU "
              f"budget ({', '.join(f'{k} {v:g} s' for k, v in budget.items())}); every point is in "
              "benchmarks/results/tune.md.</p>")

