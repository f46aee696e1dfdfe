"""Build a study's report from what is on disk: summary.json / summary.csv, figures, findings,
a self-contained report.html (figures embedded) and a one-page poster (poster.pdf, poster.png)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

from sngan.data.cache import atomic_write_bytes
from sngan.errors import UserError
from sngan.study import figures as F
from sngan.train.logging import json_safe

FIG = "figures"


def _fmt(cell: dict | None, digits: int = 3) -> str:
    if not cell or cell.get("n", 0) == 0 or cell["mean"] is None or not math.isfinite(cell["mean"]):
        return "–"
    mean, half = cell["mean"], cell["ci95"]
    if abs(mean) >= 100:
        return f"{mean:.1f} ± {half:.1f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def findings(table: dict, cost: dict | None, theory: dict) -> list[dict[str, str]]:
    """Statements generated from the numbers, each pointing at its figure or table."""
    out: list[dict[str, str]] = []

    def best(ds: str, key: str) -> tuple[str, float] | None:
        rows = {k: v[key]["mean"] for k, v in table.get(ds, {}).items() if key in v and v[key]["n"] > 0
                and math.isfinite(v[key]["mean"])}
        if not rows:
            return None
        pick = min(rows, key=rows.get) if key in F.LOWER_IS_BETTER else max(rows, key=rows.get)
        return pick, rows[pick]

    if "mnist" in table:
        b = best("mnist", "fid")
        if b:
            rest = ", ".join(f"{F.NAMES.get(k, k)} {v['fid']['mean']:.1f}" for k, v in table["mnist"].items()
                             if k != b[0] and v["fid"]["n"])
            out.append({"text": f"Lowest MNIST FID: {F.NAMES.get(b[0], b[0])} ({b[1]:.1f}); others: {rest}.",
                        "ref": "table-quality-mnist"})
    for ds in table:
        if ds == "mnist":
            continue
        b = best(ds, "w1_exact")
        if b:
            out.append({"text": f"{ds}: closest to the data in exact W1: {F.NAMES.get(b[0], b[0])} ({b[1]:.3f}).",
                        "ref": f"table-quality-{ds}"})
        b = best(ds, "modes_covered")
        if b:
            hq = table[ds][b[0]]["high_quality"]["mean"]
            out.append({"text": f"{ds}: most modes covered: {F.NAMES.get(b[0], b[0])} ({b[1]:.1f}, with "
                                f"{100 * hq:.1f}% of its samples of high quality).", "ref": f"table-quality-{ds}"})
    for ds, rows in table.items():
        rough = {k: v["roughness_loss_g"]["mean"] for k, v in rows.items()
                 if v["roughness_loss_g"]["n"] and math.isfinite(v["roughness_loss_g"]["mean"])}
        if rough:
            smooth = min(rough, key=rough.get)
            noisy = max(rough, key=rough.get)
            out.append({"text": f"{ds}: smoothest generator loss (std of step-to-step change / std of the loss): "
                                f"{F.NAMES.get(smooth, smooth)} ({rough[smooth]:.2f}); roughest: "
                                f"{F.NAMES.get(noisy, noisy)} ({rough[noisy]:.2f}).", "ref": f"fig-losses-{ds}"})
        under = [k for k, v in rows.items() if v["grad_norm_real_mean"]["n"] and v["grad_norm_real_mean"]["mean"] < 0.1]
        if under:
            out.append({"text": f"{ds}: critic gradient norms below 0.1 on real data (an underfitting critic, "
                                f"far from the 1-Lipschitz optimum): {', '.join(F.NAMES.get(k, k) for k in under)}.",
                        "ref": f"table-lipschitz-{ds}"})
        for k, v in rows.items():
            lo, hi = v["lipschitz_lower"], v["lipschitz_upper"]
            if lo["n"] and hi["n"]:
                held = all(a <= b + 1e-9 for a, b in zip(lo["values"], hi["values"]))
                cert = hi["mean"] <= 1.0 + 1e-3
                out.append({"text": f"{ds}, {F.NAMES.get(k, k)}: lower ≤ upper bound held in every run: "
                                    f"{'yes' if held else 'NO'}; certified upper bound {hi['mean']:.3g} "
                                    f"({'≤ 1: certified 1-Lipschitz' if cert else '> 1: not certified 1-Lipschitz'}).",
                            "ref": f"fig-bounds-{ds}"})
    if cost:
        for ds, rows in cost.get("datasets", {}).items():
            gp, sn = rows.get("gp-wasserstein"), rows.get("sn-wasserstein")
            if gp and sn:
                r = gp["ms_critic_step"] / sn["ms_critic_step"]
                verdict = "cheaper" if r > 1 else "not cheaper"
                out.append({"text": f"{ds}: a GP critic step costs {gp['ms_critic_step']:.1f} ms vs SN "
                                    f"{sn['ms_critic_step']:.1f} ms (GP/SN = {r:.2f}): SN is {verdict} than GP here.",
                            "ref": "table-cost"})
    p = theory.get("power", {})
    if p:
        out.append({"text": f"Power iteration: a persistent u keeps the σ error at {p['persistent_median']:.1e} with "
                            f"1 iteration per step while W drifts; a fresh u with 1 iteration is off by "
                            f"{p['fresh1_median']:.1e}.", "ref": "fig-theory-power"})
    return out


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def build_report(study_dir: str | Path) -> Path:
    """(Re)build summary.json, summary.csv, figures/, report.html and the poster from disk."""
    study_dir = Path(study_dir)
    runs = F.load_runs(study_dir)
    if not runs:
        raise UserError(f"{study_dir} holds no study runs (expected runs/DATASET/METHOD-LOSS/seedN/config.json)")
    meta = json.loads((study_dir / "study.json").read_text()) if (study_dir / "study.json").exists() else {}
    cost = json.loads((study_dir / "cost.json").read_text()) if (study_dir / "cost.json").exists() else None
    figdir = study_dir / FIG
    figdir.mkdir(exist_ok=True)
    table = F.quality_table(runs)
    datasets = list(table)
    for ds in datasets:
        F.plot_losses(runs, ds, figdir / f"losses_{ds}.png")
        F.plot_samples(runs, ds, figdir / f"samples_{ds}.png")
        F.plot_sigma(runs, ds, figdir / f"sigma_{ds}.png")
        F.plot_bounds(table, ds, figdir / f"bounds_{ds}.png")
    theory = F.plot_theory(figdir / "theory")
    facts = findings(table, cost, theory)
    summary = {"study": meta, "quality": table, "cost": cost, "theory": theory, "findings": facts,
               "runs": [{"dir": str(r.dir.relative_to(study_dir)), "dataset": r.dataset, "label": r.label,
                         "seed": r.seed, "status": r.status, "steps": len(r.log)} for r in runs]}
    text = json.dumps(json_safe(summary), indent=1, default=str, allow_nan=False)  # strict JSON: NaN -> null
    atomic_write_bytes(study_dir / "summary.json", text.encode())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["dataset", "method", "metric", "mean", "ci95", "n"])
    for ds, rows in table.items():
        for label, row in rows.items():
            for key, cell in row.items():
                w.writerow([ds, label, key, cell["mean"], cell["ci95"], cell["n"]])
    for ds, rows in (cost or {}).get("datasets", {}).items():
        for label, row in rows.items():
            for key, value in row.items():
                w.writerow([ds, label, f"cost_{key}", value, "", cost.get("repeats", "")])
    atomic_write_bytes(study_dir / "summary.csv", buf.getvalue().encode())
    page = _html(study_dir, meta, runs, table, cost, facts, datasets)
    atomic_write_bytes(study_dir / "report.html", page.encode())
    _poster(study_dir, table, cost, facts, datasets)
    return study_dir / "report.html"


def _table_html(table_id: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _html(study_dir: Path, meta: dict, runs, table, cost, facts, datasets) -> str:
    fig = study_dir / FIG
    parts = []
    n_runs = len(runs)
    statuses = {}
    for r in runs:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    status_txt = ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))
    parts.append(f"<h1>Spectral normalization vs gradient penalty vs weight clipping</h1>"
                 f"<p class=sub>study preset <b>{html.escape(str(meta.get('preset', '?')))}</b>, "
                 f"{meta.get('seeds', '?')} seed(s) per method, datasets {', '.join(datasets)}; {n_runs} runs "
                 f"({status_txt}). Every number below is computed from the runs in this directory.</p>")
    parts.append("<h2 id=findings>Findings</h2><ol>" + "".join(
        f'<li>{html.escape(f["text"])} <a href="#{f["ref"]}">[{f["ref"]}]</a></li>' for f in facts) + "</ol>")
    parts.append("<h2>1. Training curves</h2>")
    for ds in datasets:
        parts.append(f'<figure id="fig-losses-{ds}"><img src="{_img(fig / f"losses_{ds}.png")}" alt="losses {ds}">'
                     f"<figcaption>{ds}: generator loss, critic loss and the critic's W1 estimate.</figcaption>"
                     "</figure>")
    parts.append("<h2>2. Samples</h2>")
    for ds in datasets:
        if (fig / f"samples_{ds}.png").exists():
            what = "sample grids from a fixed z" if ds == "mnist" else "samples over the critic's contour"
            parts.append(f'<figure id="fig-samples-{ds}"><img src="{_img(fig / f"samples_{ds}.png")}" '
                         f'alt="samples {ds}"><figcaption>{ds}: {what}, at the start, middle and end of '
                         "training (seed 0).</figcaption></figure>")
    parts.append("<h2>3. Quality (mean ± 95% interval over seeds)</h2>")
    for ds in datasets:
        keys = F.QUALITY["mnist" if ds == "mnist" else "toy"]
        rows = [[F.NAMES.get(k, k)] + [_fmt(v.get(m)) for m in keys] + [str(int(v["diverged"]["mean"]))]
                for k, v in table[ds].items()]
        parts.append(f"<h3>{ds}</h3>" + _table_html(f"table-quality-{ds}", ["method"] + keys + ["diverged"], rows))
    parts.append("<p class=note>MNIST metrics use the features of the MNIST classifier shipped with sngan "
                 "(not Inception). Lower is better for FID, KID, W1 and class KL.</p>")
    parts.append("<h2>4. Cost</h2>")
    if cost:
        for ds, rows in cost["datasets"].items():
            body = [[F.NAMES.get(k, k), f"{v['ms_critic_step']:.2f}", f"{v['ms_generator_step']:.2f}",
                     f"{v['ms_iteration']:.1f}", f"{v['critic_step_ratio_to_sn']:.2f}"] for k, v in rows.items()]
            parts.append(f"<h3>{ds}</h3>" + _table_html(
                "table-cost" if ds == list(cost["datasets"])[0] else f"table-cost-{ds}",
                ["method", "ms / critic step", "ms / generator step", "ms / iteration", "critic step vs SN"], body))
        parts.append(f"<p class=note>Medians of {cost['repeats']} interleaved repeats in one process, "
                     f"{cost['threads']} thread(s), same batch and architecture for every method.</p>")
    else:
        parts.append("<p>No cost measurement in this study directory.</p>")
    parts.append("<h2>5. Lipschitz constants</h2>")
    for ds in datasets:
        rows = [[F.NAMES.get(k, k)] + [_fmt(v.get(m)) for m in F.LIPSCHITZ] for k, v in table[ds].items()]
        parts.append(f"<h3>{ds}</h3>" + _table_html(f"table-lipschitz-{ds}", ["method"] + F.LIPSCHITZ, rows))
        parts.append(f'<figure id="fig-bounds-{ds}"><img src="{_img(fig / f"bounds_{ds}.png")}" alt="bounds {ds}">'
                     "</figure>")
        parts.append(f'<figure id="fig-sigma-{ds}"><img src="{_img(fig / f"sigma_{ds}.png")}" alt="sigma {ds}">'
                     f"<figcaption>{ds}: σ of each critic layer's effective weight over training — true operator "
                     "norm (solid) vs σ of the reshaped kernel (dashed). For convolutions they differ.</figcaption>"
                     "</figure>")
    parts.append("<h2>6. Theory, computed</h2>")
    for key, cap in (("js_w1", "JS divergence vs W1 between P = (0, U[0,1]) and Q_θ = (θ, U[0,1]) "
                                "(Arjovsky et al. 2017, Example 1)."),
                     ("vanishing", "Optimal BCE discriminator vs 1-Lipschitz critic in 1-D: the saturating "
                                   "generator gradient vanishes where the fakes are."),
                     ("power", "Power-iteration σ error: fresh vs persistent u.")):
        parts.append(f'<figure id="fig-theory-{key}"><img src="{_img(fig / f"theory_{key}.png")}" '
                     f'alt="theory {key}"><figcaption>{cap}</figcaption></figure>')
    parts.append('<p class=note>Also in this directory: <a href="summary.json">summary.json</a>, '
                 '<a href="summary.csv">summary.csv</a>, <a href="poster.pdf">poster.pdf</a>.</p>')
    style = ("body{font-family:system-ui,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}"
             "h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}"
             "table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:.25em .5em;text-align:right}td:first-child,th:first-child{text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}"
             ".sub,.note{color:#555;font-size:.9em}")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>sngan study report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def _poster(study_dir: Path, table, cost, facts, datasets) -> None:
    """One page: the motivation, the main result, the key figures and table of this study."""
    plt = F._plt()
    from PIL import Image

    fig = plt.figure(figsize=(11.7, 16.5))  # A3 portrait
    fig.text(0.5, 0.975, "Spectral Normalization for GANs", ha="center", fontsize=26, weight="bold")
    fig.text(0.5, 0.955, "clipping vs gradient penalty vs spectral normalization — measured by sngan",
             ha="center", fontsize=12, color="#444")
    boxes = [
        ("1. GANs are unstable", "With disjoint supports the optimal BCE discriminator saturates:\n"
                                 "JS = log 2 whatever the distance, and the generator's gradient vanishes."),
        ("2. Switch to W1", "Kantorovich–Rubinstein: W1(P,Q) = sup over ‖f‖_Lip ≤ 1\nof E_P[f] − E_Q[f]; "
                            "W1 shrinks smoothly as the distributions meet."),
        ("3. Need a 1-Lipschitz critic", "Clipping underfits, a gradient penalty only acts on samples;\n"
                                         "spectral normalization bounds every layer."),
    ]
    for i, (title, body) in enumerate(boxes):
        x = 0.04 + i * 0.32
        fig.patches.append(plt.Rectangle((x, 0.86), 0.29, 0.08, transform=fig.transFigure, fc="#eef4f8",
                                         ec="#2e86ab"))
        fig.text(x + 0.01, 0.925, title, fontsize=12, weight="bold")
        fig.text(x + 0.01, 0.915, _wrap(" ".join(body.split()), 52).replace("\n  ", "\n"), fontsize=8.5, va="top")
    fig.patches.append(plt.Rectangle((0.04, 0.765), 0.92, 0.08, transform=fig.transFigure, fc="#f4f9f1", ec="#29a36a"))
    fig.text(0.05, 0.83, "Main result", fontsize=13, weight="bold")
    fig.text(0.05, 0.775, r"$\|f\|_{Lip} \leq \prod_l \|W_l\|_2$ for 1-Lipschitz activations;   "
                          r"SN: $W \leftarrow W/\sigma(W)$,  $\sigma \approx u^T W v$ by power iteration "
                          r"($u \leftarrow Wv/\|Wv\|,\ v \leftarrow W^T u/\|W^T u\|$), u kept between steps."
                          "\nCaveat: for a convolution σ of the reshaped kernel is not the operator norm — sngan "
                          "computes both.", fontsize=10)
    figdir = study_dir / FIG
    panels = [(f"losses_{datasets[0]}.png", (0.03, 0.57, 0.94, 0.18))]
    if (figdir / "samples_mnist.png").exists():
        panels.append(("samples_mnist.png", (0.03, 0.30, 0.45, 0.26)))
    other = next((d for d in datasets if d != "mnist"), None)
    if other and (figdir / f"samples_{other}.png").exists():
        panels.append((f"samples_{other}.png", (0.52, 0.30, 0.45, 0.26)))
    panels.append(("theory_js_w1.png", (0.03, 0.13, 0.30, 0.16)))
    panels.append((f"bounds_{datasets[0]}.png", (0.35, 0.13, 0.30, 0.16)))
    panels.append(("theory_power.png", (0.67, 0.13, 0.30, 0.16)))
    for name, rect in panels:
        if (figdir / name).exists():
            ax = fig.add_axes(rect)
            ax.imshow(Image.open(figdir / name))
            ax.axis("off")
    lines = [f"• {f['text']}" for f in facts[:7]]
    fig.text(0.04, 0.115, "Findings of this run", fontsize=12, weight="bold", va="top")
    fig.text(0.04, 0.09, "\n".join(_wrap(line, 150) for line in lines), fontsize=7.5, va="top")
    fig.savefig(study_dir / "poster.pdf")
    fig.savefig(study_dir / "poster.png", dpi=60)
    plt.close(fig)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n  ".join(textwrap.wrap(text, width))
