"""The study's poster: one A0 portrait page typeset with Typst from a study directory (poster.typ,
poster.pdf, and poster.png for a screen).

Laid out as the study's poster: a title block; a three-part introduction (GAN training is unstable,
switch to the Wasserstein distance, the critic must be 1-Lipschitz); a "Main result" pane (the
duality, the product bound, spectral normalization by power iteration, the convolution caveat with
its measured number); the results (claims with verdicts, every method's samples, quality against CPU
time, the loss curves); and the conclusion written from the verdicts. Body text is 26 pt at A0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sngan.files import atomic_write_bytes
from sngan.study import claims as C
from sngan.study.typeset import (
    TITLE,
    budget_scales,
    compile_pdf,
    esc,
    figure_file,
    load_summary,
    num,
    render,
    roles,
    subtitle,
    verdict_color,
)

PANES = ("GAN training is unstable", "Switch to the Wasserstein distance", "The critic must be 1-Lipschitz",
         "Main result", "Results", "Conclusion")
PAGE = (841, 1189)          # A0 portrait, mm
BODY_PT = 24                # body text at A0 (the floor for reading at a metre)
PNG_PPI = 36                # poster.png: about 1190 x 1685 pixels, for a screen
LIGHT, GREEN = 'rgb("#f4f8fb")', 'rgb("#eef5ea")'
FIGURE_SCALES = (1.0, 0.92, 0.84, 0.76, 0.68, 0.6, 0.52)  # tried in turn until the poster is one page


def build_poster(study_dir: str | Path) -> Path:
    """Write STUDY/poster.typ from STUDY/summary.json; typeset STUDY/poster.pdf and STUDY/poster.png."""
    study_dir = Path(study_dir)
    typ = study_dir / "poster.typ"
    summary = load_summary(study_dir)
    for scale in FIGURE_SCALES:  # the results' figures as large as one page allows
        atomic_write_bytes(typ, poster_source(summary, study_dir, scale).encode())
        png = render(typ, study_dir, "png", PNG_PPI)  # one image per page
        if len(png) == 1:
            break
    atomic_write_bytes(study_dir / "poster.png", png[0])
    compile_pdf(typ, study_dir / "poster.pdf", root=study_dir)
    return study_dir / "poster.pdf"


def _image(study_dir: Path, name: str, width: str = "100%", height: str | None = None) -> str:
    path = figure_file(study_dir, name)
    size = f"height: {height}" if height else f"width: {width}"
    return f'#align(center, image("{path}", {size}))' if path else "#text(fill: gray)[(not drawn yet)]"


def _pane(title: str, body: str, fill: str = "white") -> str:
    return (f"#block(width: 100%, fill: {fill}, stroke: 2pt + rgb(\"#1f4e79\"), radius: 8mm, inset: 10mm)["
            f"#text(size: 40pt, weight: \"bold\", fill: rgb(\"#1f4e79\"))[{esc(title)}]\n\n{body}]")


def _caveat(s: dict) -> str:
    """The convolution caveat's measured numbers: the MNIST SN critic's product of operator norms over the
    product of reshaped-kernel σ, and the certified bounds of the final SN critics."""
    role = roles(s)
    parts = []
    for ds, by_label in s.get("layer_sigma", {}).items():
        entry = by_label.get(role["sn_w"]) or next(iter(by_label.values()))
        pm = math.prod(layer["matrix"] for layer in entry["layers"])
        po = math.prod(layer["operator"] for layer in entry["layers"])
        worst = max(entry["layers"], key=lambda layer: layer["operator"] / layer["matrix"])
        parts.append(f"{ds}: every layer's reshaped σ is {num(pm ** (1 / len(entry['layers'])), 3)} on average, but "
                     f"the product of the true operator norms is {num(po, 3)} ({num(po / pm, 3)}x the product of the "
                     f"reshaped σ; worst layer {worst['kind']}: {num(worst['operator'] / worst['matrix'], 3)}x)")
    mnist = s.get("quality", {}).get("mnist", {})
    uppers = [u for label in role["sn"] for u in mnist.get(label, {}).get("lipschitz_upper", {}).get("values") or []]
    if uppers:
        parts.append(f"certified Lipschitz bound of the final MNIST SN critics: {num(min(uppers), 3)} to "
                     f"{num(max(uppers), 3)}")
    return "; ".join(parts)


def poster_source(s: dict[str, Any], study_dir: Path, scale: float = 1.0) -> str:
    study = s.get("study", {})
    src = study.get("source") or {}
    host = study.get("host") or {}
    progress = s.get("progress", {})
    done, planned = progress.get("runs_done", 0), progress.get("runs_planned", 0)
    verdicts = s.get("claims", [])
    datasets = list(s.get("quality", {}))
    main_ds = "mnist" if "mnist" in datasets else (datasets[0] if datasets else "mnist")
    budgets = study.get("budget_cpu_seconds") or {}
    version = f"sngan {src.get('version', '?')}" + (f" · commit {src['commit'][:10]}" if src.get("commit") else "")
    where = host.get("cpu", "")
    run_note = (f" · built while the study ran: {done} of {planned} runs done" if planned and done < planned else "")
    seeds = study.get("seeds") or {}
    scales = budget_scales(study)
    times = f" × {'/'.join(f'{x:g}' for x in scales)}" if scales else ""
    setup_line = ("; ".join(f"{ds}: {seeds.get(ds, '?')} seeds" + (f", {budgets[ds]:g} CPU-s{times} per run"
                                                                    if budgets.get(ds) else "")
                            for ds in datasets))

    title = (f"#block(width: 100%, fill: rgb(\"#1f4e79\"), radius: 8mm, inset: (x: 18mm, y: 14mm))["
             f"#text(size: 84pt, weight: \"bold\", fill: white)[{esc(TITLE)}]\n\n"
             f"#text(size: 32pt, fill: white)[{esc(subtitle(s))}]\n\n"
             f"#text(size: 26pt, fill: rgb(\"#d0e1f2\"))[{esc(version)} · {esc(where)} · {esc(setup_line)}"
             f"{esc(run_note)} · every number on this poster is computed from the study's runs]]")

    intro1 = ("A GAN's discriminator with the cross-entropy loss makes the generator minimise the Jensen–Shannon "
              "divergence. Real and generated data start on disjoint supports, where the optimal discriminator "
              "saturates and the generator's gradient vanishes.\n\n"
              + _image(study_dir, "theory_vanishing", height="68mm"))
    intro2 = ("Between disjoint supports JS is stuck at $log 2$, while the Wasserstein-1 distance "
              "$W_1(P, Q_theta) = |theta|$ still says how far the generator is from the data, and in which "
              "direction.\n\n" + _image(study_dir, "theory_js_w1", height="68mm"))
    intro3 = ("A WGAN critic estimates $W_1$ by Kantorovich–Rubinstein duality only if it is 1-Lipschitz. "
              "Three constraints are in use:\n\n"
              "- *weight clipping*: $w <- op(\"clip\")(w, -c, c)$\n"
              "- *gradient penalty*: $+ lambda EE (||nabla D(hat(x))|| - 1)^2$\n"
              "- *spectral normalization*: $W <- W \\/ sigma(W)$\n\n"
              "Which one trains best, at what cost, and is the constraint real?")
    panes = ", ".join(f"[{_pane(title, body, LIGHT)}]" for title, body in zip(PANES[:3], (intro1, intro2, intro3)))
    intro = f"#grid(columns: (1fr, 1fr, 1fr), gutter: 14mm, {panes})"

    caveat = _caveat(s)
    main_left = ("*Kantorovich–Rubinstein duality*\n"
                 "$ W_1(P, Q) = sup_(||f||_\"Lip\" <= 1) EE_P [f] - EE_Q [f] $\n"
                 "*The product bound* (1-Lipschitz activations)\n"
                 "$ ||D||_\"Lip\" <= product_l sigma(W_l) $\n")
    main_right = ("*Spectral normalization* divides each weight by $sigma(W)$, estimated by one power iteration per "
                  "step with $u$ kept between steps:\n"
                  "$ v <- (W^top u) / (||W^top u||), quad u <- (W v) / (||W v||), quad sigma approx u^top W v $\n"
                  "*The convolution caveat.* For a convolution, $sigma$ of the reshaped kernel is not the layer's "
                  "operator norm. Measured here: " + esc(caveat or "no SN run has logged its layers yet") + ".")
    main = _pane(PANES[3], f"#grid(columns: (1fr, 1.5fr), gutter: 16mm, [{main_left}], [{main_right}])",
                 GREEN)

    by_budget = s.get("claims_by_budget") or {}  # a study at several budgets: a verdict per budget

    def cell(verdict: str) -> str:
        return f"[#text(fill: {verdict_color(verdict)}, weight: \"bold\")[{esc(verdict)}]]"

    if by_budget:
        claim_rows = ", ".join(f"[{esc(claim['claim'])}], " + ", ".join(cell(v["verdict"]) for v in at)
                               for claim, at in C.at_each_budget(by_budget))
        head = "[*claim*], " + ", ".join(f"[*{esc(b)}*]" for b in by_budget)
    else:
        claim_rows = ", ".join(f"[{esc(v['claim'])}], {cell(v['verdict'])}" for v in verdicts)
        head = "[*claim*], [*verdict*]"
    claims = (f"#table(columns: (1fr, {', '.join(['auto'] * (len(by_budget) or 1))}), stroke: 1pt + luma(190), "
              f"inset: {5 if by_budget else 7}mm, {head}, {claim_rows})")  # a column per budget: denser
    def heading(text: str) -> str:
        return f"#text(size: 30pt, weight: \"bold\")[{esc(text)}]\n\n"

    toys = [ds for ds in datasets if ds != main_ds]
    width = f"{100 * scale:.0f}%"
    toy = (heading(f"{toys[0]}: generated points over the critic")
           + _image(study_dir, f"final_samples_{toys[0]}", width)) if toys else ""
    samples = (heading(f"{main_ds}: final samples of every method (first seed)")
               + _image(study_dir, f"final_samples_{main_ds}", width) + "\n\n")
    quality = (heading(f"{main_ds}: final quality against the training budget")
               + _image(study_dir, f"budget_{main_ds}", width) + "\n\n" if by_budget else
               heading(f"{main_ds}: quality against CPU seconds")
               + _image(study_dir, f"quality_{main_ds}", width) + "\n\n")
    losses = (heading(f"{main_ds}: generator loss, critic loss, W1 estimate")
              + _image(study_dir, f"losses_{main_ds}", width) + "\n\n")
    many = len(s.get("quality", {}).get(main_ds, {})) > 4 and not by_budget  # the samples get the page's width
    if by_budget:  # the samples are a grid, one budget per row; the losses (a band per budget) and the toy's
        # samples are in the write-up, the toy's quality against budget here
        toy_budget = (heading(f"{toys[0]}: final quality against the training budget")
                      + _image(study_dir, f"budget_{toys[0]}", width)) if toys else ""
        left, right = heading("The claims, measured") + claims + "\n\n" + quality, samples + toy_budget
    elif many:  # and the (wide) loss figure goes under the claims
        left, right = heading("The claims, measured") + claims + "\n\n" + losses, quality + toy
    else:
        left, right = heading("The claims, measured") + claims + "\n\n" + samples + toy, quality + losses
    results = _pane(PANES[4], (samples if many else "")
                    + f"#grid(columns: (1.2fr, 1fr), gutter: 14mm, [{left}], [{right}])")
    sentences = C.conclusion(verdicts, measured=False)
    largest = f" at the largest budget ({esc(list(by_budget)[-1])})" if by_budget else ""
    changes = ("\n\n*With the budget:*\n" + "\n".join(f"- {esc(x)}" for x in C.budget_changes(by_budget))
               if by_budget else "")
    conclusion = _pane(PANES[5], f"Of the {len(verdicts)} claims{largest}, {esc(C.tally(verdicts))}.\n\n"
                                 + "\n".join(f"- {esc(x)}" for x in sentences) + changes
                                 + "\n\n#text(size: 24pt, fill: luma(80))[The write-up (writeup.pdf) gives every "
                                   "rule, number and limitation.]", LIGHT)
    preamble = (f"#set document(title: \"{TITLE} (poster)\", author: \"sngan\")\n"
                f"#set page(width: {PAGE[0]}mm, height: {PAGE[1]}mm, margin: 22mm)\n"
                f"#set text(font: \"DejaVu Sans\", size: {BODY_PT}pt, hyphenate: false)\n"
                "#set par(justify: false, leading: 0.55em)\n"
                "#set block(spacing: 8mm)\n")
    return preamble + "\n\n".join((title, intro, main, results, conclusion)) + "\n"

