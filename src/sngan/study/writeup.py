"""The study's write-up, "Stabilizing GANs: A Case for Spectral Normalization", typeset with Typst
from a study directory: writeup.typ (the source) and writeup.pdf beside report.html.

Every number and figure comes from the study directory (summary.json, which ``report.build_report``
writes, and figures/); none is typed into the text here. The prose around them is fixed, and the
conclusion is written from the verdicts by the rules in ``sngan.study.claims``. The sections follow
the study's write-up: motivation; Wasserstein-1 and Kantorovich–Rubinstein duality; Lipschitz
critics; power iteration; experiments; the claims, measured; conclusion and limitations.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sngan.files import atomic_write_bytes
from sngan.study import claims as C
from sngan.study.figures import NAMES  # the names the figures' legends use
from sngan.study.typeset import (
    TITLE,
    budget_scales,
    compile_pdf,
    esc,
    figure_file,
    load_summary,
    num,
    roles,
    subtitle,
    verdict_color,
)

SECTIONS = ("Motivation: why GAN training fails", "Wasserstein-1 and Kantorovich–Rubinstein duality",
            "Lipschitz critics", "Power iteration", "Experiments", "The claims, measured",
            "Conclusion", "Limitations", "References")
# (key, authors, title, venue, year): cited in the text as @key, typeset by Typst's bibliography.
REFERENCES = (
    ("goodfellow", ["Goodfellow, Ian", "Pouget-Abadie, Jean", "Mirza, Mehdi", "Xu, Bing", "Warde-Farley, David",
                    "Ozair, Sherjil", "Courville, Aaron", "Bengio, Yoshua"], "Generative adversarial nets",
     "Advances in Neural Information Processing Systems", 2014),
    ("arjovsky-principled", ["Arjovsky, Martin", "Bottou, Léon"],
     "Towards principled methods for training generative adversarial networks",
     "International Conference on Learning Representations", 2017),
    ("arjovsky", ["Arjovsky, Martin", "Chintala, Soumith", "Bottou, Léon"], "Wasserstein generative adversarial "
     "networks", "International Conference on Machine Learning", 2017),
    ("gulrajani", ["Gulrajani, Ishaan", "Ahmed, Faruk", "Arjovsky, Martin", "Dumoulin, Vincent", "Courville, Aaron"],
     "Improved training of Wasserstein GANs", "Advances in Neural Information Processing Systems", 2017),
    ("miyato", ["Miyato, Takeru", "Kataoka, Toshiki", "Koyama, Masanori", "Yoshida, Yuichi"],
     "Spectral normalization for generative adversarial networks",
     "International Conference on Learning Representations", 2018),
    ("monge", ["Monge, Gaspard"], "Mémoire sur la théorie des déblais et des remblais",
     "Histoire de l'Académie Royale des Sciences de Paris", 1781),
    ("kantorovich", ["Kantorovich, Leonid"], "On the translocation of masses",
     "Doklady Akademii Nauk SSSR", 1942),
    ("villani", ["Villani, Cédric"], "Optimal transport: old and new", "Springer", 2009),
    ("sedghi", ["Sedghi, Hanie", "Gupta, Vineet", "Long, Philip"], "The singular values of convolutional layers",
     "International Conference on Learning Representations", 2019),
    ("delattre", ["Delattre, Blaise", "Barthélemy, Quentin", "Araujo, Alexandre", "Allauzen, Alexandre"],
     "Efficient bound of Lipschitz constant for convolutional layers by Gram iteration",
     "International Conference on Machine Learning", 2023),
    ("golub", ["Golub, Gene", "Van Loan, Charles"], "Matrix computations (4th ed.)", "Johns Hopkins University Press",
     2013),
    ("heusel", ["Heusel, Martin", "Ramsauer, Hubert", "Unterthiner, Thomas", "Nessler, Bernhard",
                "Hochreiter, Sepp"], "GANs trained by a two time-scale update rule converge to a local Nash "
     "equilibrium", "Advances in Neural Information Processing Systems", 2017),
    ("srivastava", ["Srivastava, Akash", "Valkov, Lazar", "Russell, Chris", "Gutmann, Michael", "Sutton, Charles"],
     "VEEGAN: reducing mode collapse in GANs using implicit variational learning",
     "Advances in Neural Information Processing Systems", 2017),
)
BIBLIOGRAPHY = "writeup-refs.yml"


def bibliography() -> str:
    """The references in Hayagriva's YAML (JSON is YAML), the format Typst's bibliography reads."""
    entries = {key: {"type": "article", "title": title, "author": authors, "date": year,
                     "parent": {"type": "proceedings", "title": venue}}
               for key, authors, title, venue, year in REFERENCES}
    return json.dumps(entries, indent=1, ensure_ascii=False)


def build_writeup(study_dir: str | Path) -> Path:
    """Write STUDY/writeup.typ from STUDY/summary.json and typeset it to STUDY/writeup.pdf."""
    study_dir = Path(study_dir)
    source = writeup_source(load_summary(study_dir), study_dir)
    typ = study_dir / "writeup.typ"
    atomic_write_bytes(typ, source.encode())
    atomic_write_bytes(study_dir / BIBLIOGRAPHY, bibliography().encode())
    compile_pdf(typ, study_dir / "writeup.pdf", root=study_dir)
    return study_dir / "writeup.pdf"


# -- helpers ------------------------------------------------------------------------------------

def _name(label: str) -> str:
    return NAMES.get(label, label)


def _fig(study_dir: Path, name: str, caption: str, width: str = "100%", label: str = "",
         height: str | None = None) -> str:
    """A figure from figures/ (the SVG where there is one), or nothing if the study has not drawn it yet;
    ``height`` (a tall figure: its height, its width follows) in place of ``width``."""
    path = figure_file(study_dir, name)
    if path is None:
        return ""
    tag = f" <{label}>" if label else ""
    size = f"height: {height}" if height else f"width: {width}"
    return f'#figure(image("{path}", {size}), caption: [{caption}]){tag}\n\n'


def _table(header: list[str], rows: list[list[str]]) -> str:
    """A Typst table expression; ``header`` and ``rows`` are already markup."""
    cells = ", ".join(f"[*{h}*]" for h in header)
    body = ", ".join(f"[{c}]" for r in rows for c in r)
    return f"table(columns: {len(header)}, align: left, stroke: 0.4pt + luma(180), inset: 4pt, {cells}, {body})"


def _table_figure(header: list[str], rows: list[list[str]], caption: str, label: str = "") -> str:
    tag = f" <{label}>" if label else ""
    return f"#figure({_table(header, rows)}, caption: [{caption}], kind: table){tag}\n\n"


def _values(cell: dict | None, digits: int = 3) -> str:
    """Every seed's value (the table shows all of them, not a mean ± interval)."""
    if not cell or not cell.get("values"):
        return "–"
    return " · ".join(num(v, digits) for v in cell["values"])


def _mean(cell: dict | None) -> float:
    if not cell or not cell.get("n"):
        return float("nan")
    return cell["mean"]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if math.isfinite(x) else "–"


# -- sections -----------------------------------------------------------------------------------

_DATASET_NAMES = {"mnist": "real MNIST", "ring8": "a ring of eight Gaussians", "grid25": "a 5×5 grid of Gaussians",
                  "swissroll": "a Swiss roll", "cifar10": "CIFAR-10", "folder": "an image folder"}


def _datasets_txt(s: dict) -> str:
    names = [_DATASET_NAMES.get(ds, ds) for ds in (s.get("study", {}).get("datasets") or s.get("quality") or [])]
    if not names:
        return "its datasets"
    return names[0] + "".join(f", on {n}" for n in names[1:-1]) + (f" and on {names[-1]}" if len(names) > 1 else "")


def _scales_txt(study: dict) -> str:
    """The budget study's multiples as prose ("1x, 4x, 16x"), or "" for a study at one budget."""
    return ", ".join(f"{x:g}x" for x in budget_scales(study))


def _front(s: dict) -> str:
    study = s.get("study", {})
    src = study.get("source") or {}
    progress = s.get("progress", {})
    done, planned = progress.get("runs_done", 0), progress.get("runs_planned", 0)
    version = f"sngan {src.get('version', '?')}" + (f", commit {src['commit'][:10]}" if src.get("commit") else "")
    if src.get("dirty"):
        version += " with uncommitted changes"
    lines = [f"#align(center)[#text(19pt, weight: \"bold\")[{esc(TITLE)}]]",
             f"#align(center)[#text(11pt)[{esc(subtitle(s))}]]",
             f"#align(center)[#text(9pt, fill: luma(90))[study preset {esc(study.get('preset', '?'))} · {esc(version)} "
             "· every number and figure below is computed from the study directory]]", ""]
    if planned and done < planned:
        lines.append(f"#block(fill: rgb(\"#fff4d6\"), inset: 8pt, radius: 3pt, width: 100%)[*This write-up was "
                     f"built while the study was running: {done} of {planned} runs done.* Tables and verdicts cover "
                     "the finished runs only and change as the rest finish.]")
    verdicts = s.get("claims", [])
    held = [v["claim"] for v in verdicts if v["verdict"] == C.SUPPORTED]
    at_scales = f" {esc(f'(here at {scales} of it)')}" if (scales := _scales_txt(study)) else ""
    lines.append("#block(inset: (x: 1.5em))[#text(size: 9.5pt)[*Abstract.* A generative adversarial network trains "
                 "a generator against a discriminator; when the discriminator is replaced by a critic that estimates "
                 "the Wasserstein-1 distance, the critic must be 1-Lipschitz. Three constraints are in use: weight "
                 "clipping, a gradient penalty and spectral normalization. We train critics under each of them on "
                 f"{esc(_datasets_txt(s))}, with every method tuned by the same search and given the same CPU "
                 f"budget{at_scales}, and test {len(verdicts)} claims made for spectral normalization "
                 f"against the numbers. Of the {len(verdicts)} claims, {esc(C.tally(verdicts))}"
                 + (f"; supported: {esc('; '.join(held))}." if held else ".")
                 + " Section 6 gives every verdict with its rule and Section 7 what was measured instead where a "
                 "claim did not hold.]]")
    return "\n".join(lines) + "\n\n"


def _motivation(s: dict, d: Path) -> str:
    theory = s.get("theory") or {}
    lines = theory.get("js_w1") or {}
    van = theory.get("vanishing") or {}
    js_far = [j for t, j in zip(lines.get("theta", []), lines.get("js", [])) if abs(t) >= 0.1]
    js_txt = (f"the computed JS divergence stays between {num(min(js_far), 4)} and {num(max(js_far), 4)} nats for "
              f"every |θ| ≥ 0.1 (log 2 = {num(lines.get('log2'), 4)})") if js_far else "JS stays at log 2"
    return (f"= {SECTIONS[0]}\n\n"
            "A GAN @goodfellow trains a generator $G$ that maps noise $z$ to samples against a discriminator $D$ "
            "that tells real samples from generated ones. With the binary cross-entropy (BCE) loss, the best "
            "discriminator for a fixed generator is $D^*(x) = p(x) \\/ (p(x) + q(x))$, and the generator then "
            "minimises $2 op(\"JS\")(P, Q) - log 4$: the Jensen–Shannon divergence between the data distribution "
            "$P$ and the generated one $Q$.\n\n"
            "Early in training $P$ and $Q$ typically live on disjoint low-dimensional supports @arjovsky-principled. "
            "Then JS is constant at $log 2$ whatever the distance between the supports, and its gradient with "
            "respect to the generator is zero. The standard example @arjovsky takes $P$ uniform on the segment "
            "$\\{0\\} times [0, 1]$ and $Q_theta$ uniform on $\\{theta\\} times [0, 1]$: for every $theta != 0$, "
            "$op(\"JS\")(P, Q_theta) = log 2$ while $W_1(P, Q_theta) = |theta|$. "
            f"@fig-js computes both from samples: {esc(js_txt)}, while the exact $W_1$ grows linearly with "
            "$|theta|$ and so tells the generator which way to move.\n\n"
            + _fig(d, "theory_js_w1", "JS divergence and W1 between two parallel segments as they move apart "
                                      "(Arjovsky et al. 2017, Example 1), computed from 400 samples.", "62%",
                   "fig-js")
            + "The same happens to the gradient the generator receives. With the saturating loss "
            "$log(1 - D(G(z)))$, the gradient at a generated point is the slope of $log(1 - D^*)$ there; where the "
            "optimal discriminator is confident it is numerically zero. "
            f"In @fig-vanishing (real data $cal(N)(0, 0.5^2)$, generated data $cal(N)(4, 0.5^2)$) it is "
            f"{esc(num(van.get('grad_bce_at_fake'), 3))} at the generated mean, while a 1-Lipschitz critic keeps a "
            f"gradient of norm {esc(num(van.get('grad_critic_at_fake'), 3))} everywhere between the two "
            "distributions.\n\n"
            + _fig(d, "theory_vanishing", "Left: the optimal BCE discriminator and the optimal 1-Lipschitz critic "
                                          "in one dimension. Right: the gradient each gives the generator.",
                   label="fig-vanishing")
            )


def _wasserstein(s: dict) -> str:
    rows = []
    for ds, by_label in s.get("quality", {}).items():
        if ds == "mnist":
            continue
        for label, row in by_label.items():
            crit, exact = _mean(row.get("w1_critic")), _mean(row.get("w1_exact"))
            ratio = crit / exact if math.isfinite(crit) and math.isfinite(exact) and exact > 0 else float("nan")
            rows.append([esc(ds), esc(_name(label)), esc(_values(row.get("w1_critic"))),
                         esc(_values(row.get("w1_exact"))), esc(num(ratio, 3))])
    evidence = ("The study's own toy runs show how well each critic estimates it. At the end of every run on the "
                "ring of Gaussians, the critic's estimate $EE_P [D] - EE_Q [D]$ on fresh samples is compared with "
                "the exact $W_1$ between the same real and generated samples, computed by optimal matching "
                "(the table below). A critic that is 1-Lipschitz can only under-estimate $W_1$ (ratio ≤ 1); a ratio "
                "above 1 is a critic steeper than 1 somewhere, a ratio far below 1 a critic that uses little of "
                "its budget.\n\n")
    table = (_table_figure(["data", "method", "critic estimate (per seed)", "exact W1 (per seed)", "ratio of means"],
                           rows, "The critic's estimate of $W_1$ against the exact $W_1$ of its samples, end of "
                                 "training.")
             if rows else "_No toy runs have finished yet: the comparison with the exact $W_1$ appears when they "
                          "do._\n\n")
    return (f"= {SECTIONS[1]}\n\n"
            "Monge @monge asked for the cheapest way to move a pile of earth $P$ into a hole $Q$: a map $T$ with "
            "$T_\\# P = Q$ minimising $integral c(x, T(x)) dif P(x)$. A map need not exist (one point cannot be "
            "split in two), so Kantorovich @kantorovich relaxed it to couplings: joint distributions $gamma$ "
            "whose marginals are $P$ and $Q$. With the cost $c(x, y) = ||x - y||$ the optimal cost is the "
            "Wasserstein-1 (earth mover's) distance @villani\n\n"
            "$ W_1(P, Q) = inf_(gamma in Pi(P, Q)) EE_((x, y) tilde gamma) ||x - y||. $\n\n"
            "It is a metric on distributions, it metrizes weak convergence, and, unlike JS, it is continuous in "
            "the generator's parameters and differentiable almost everywhere under mild conditions @arjovsky. The "
            "infimum over couplings is intractable in high dimension, but Kantorovich–Rubinstein duality turns it "
            "into a supremum over functions:\n\n"
            "$ W_1(P, Q) = sup_(||f||_\"Lip\" <= 1) EE_(x tilde P) [f(x)] - EE_(x tilde Q) [f(x)]. $\n\n"
            "A WGAN @arjovsky replaces the discriminator with a critic $D$ that maximises "
            "$EE_P [D] - EE_(Q_theta) [D]$ and a generator that minimises it. The estimate is $W_1$ only if "
            "$D$ is 1-Lipschitz; a $K$-Lipschitz critic estimates up to $K dot W_1$, and an unconstrained critic "
            "grows without bound. Everything that follows is about keeping $D$ 1-Lipschitz.\n\n"
            + evidence + table)


def _lipschitz(s: dict) -> str:
    cost = (s.get("cost") or {}).get("datasets", {})
    ms = {label: row.get("ms_critic_step") for rows in list(cost.values())[:1] for label, row in rows.items()}
    ds_cost = next(iter(cost), "")

    role = roles(s)

    def c(label: str | None) -> str:
        return f"{num(ms.get(label), 3)} ms" if ms.get(label) is not None else "–"

    constraints = _table_figure(
        ["constraint", "what it does", "what it bounds", f"critic step ({esc(ds_cost) or '–'})"],
        [["weight clipping @arjovsky", "$w <- op(\"clip\")(w, -c, c)$ after each step",
          "every entry; $||W||_2 <= c sqrt(m n)$, a loose bound that also limits capacity", esc(c(role["clip"]))],
         ["gradient penalty @gulrajani", "adds $lambda EE_(hat(x)) (||nabla D(hat(x))||_2 - 1)^2$ on random "
          "interpolates $hat(x)$", "the gradient norm where it is sampled, softly; no global guarantee",
          esc(c(role["gp"]))],
         ["spectral normalization @miyato", "$W <- W \\/ sigma(W)$, $sigma$ by power iteration",
          "each layer's σ, hence $||D||_\"Lip\" <= 1$ for dense layers; for convolutions see below",
          esc(c(role["sn_w"]))]], "The three Lipschitz constraints.", "tab-constraints")
    sigma = s.get("layer_sigma", {})
    layer_tables = []
    for ds, by_label in sigma.items():
        for label, entry in by_label.items():
            if label != role["sn_w"] and role["sn_w"] in by_label:
                continue  # one SN critic per dataset is enough to show the gap (the W-loss one where there is one)
            rows, pm, po = [], 1.0, 1.0
            for layer in entry["layers"]:
                pm *= layer["matrix"]
                po *= layer["operator"]
                rows.append([esc(layer["name"]), esc(layer["kind"]), esc(num(layer["matrix"], 4)),
                             esc(num(layer["operator"], 4)), esc(num(layer["operator"] / layer["matrix"], 3))])
            rows.append(["*product*", "", esc(num(pm, 4)), esc(num(po, 4)), esc(num(po / pm, 3))])
            layer_tables.append(
                _table_figure(["layer", "kind", "σ of reshaped kernel", "operator norm", "ratio"], rows,
                              f"{esc(ds)}, {esc(_name(label))}, seed {entry['seed']}, step {entry['step']}: each "
                              "layer of the normalized critic. Spectral normalization makes the first column 1; the "
                              "second is what the layer actually does to its input."))
    bounds = []
    for ds, by_label in s.get("quality", {}).items():
        for label in role["sn"]:
            row = by_label.get(label)
            if row:
                bounds.append(f"{ds}, {_name(label)}: certified upper bound {_values(row.get('lipschitz_upper'))}, "
                              f"empirical lower bound {_values(row.get('lipschitz_lower'))}")
    bound_txt = ("The final SN critics of this study measured (per seed) — " + esc("; ".join(bounds)) + ". "
                 if bounds else "")
    return (f"= {SECTIONS[2]}\n\n"
            "A function $f$ is $K$-Lipschitz if $|f(x) - f(y)| <= K ||x - y||$ for all $x, y$; the smallest such "
            "$K$ is $||f||_\"Lip\"$. For a composition, $||g compose h||_\"Lip\" <= ||g||_\"Lip\" ||h||_\"Lip\"$; a "
            "linear map $x |-> W x$ has $||W||_\"Lip\" = sigma(W)$, its largest singular value; and ReLU and "
            "LeakyReLU (slope below 1) are 1-Lipschitz. A critic with activations $phi$, "
            "$D = W_L compose phi compose W_(L-1) compose dots "
            "compose phi compose W_1$ therefore satisfies\n\n"
            "$ ||D||_\"Lip\" <= product_(l=1)^L sigma(W_l), $\n\n"
            "so bounding every layer's spectral norm by 1 bounds the whole critic by 1. @tab-constraints compares "
            "the three constraints in use (critic-step times measured in one process by this study).\n\n"
            + constraints
            + "*The convolution caveat.* Spectral normalization as published computes $sigma$ of a convolution's "
            "kernel reshaped to a matrix of shape (out channels, in channels × kernel height × kernel width). "
            "That is not the operator norm of the convolution, which applies the kernel at every position of the "
            "feature map: each input pixel enters up to $k_h k_w$ outputs, and the operator norm can exceed "
            "the reshaped σ by up to a factor $sqrt(k_h k_w)$ @sedghi. sngan computes the true operator norm by "
            "power iteration through the layer and its adjoint, at the layer's real input size, and certifies a "
            "network's bound as the product of these norms @delattre. "
            + bound_txt + "\n\n" + "".join(layer_tables))


def _power(s: dict, d: Path) -> str:
    power = (s.get("theory") or {}).get("power") or {}
    cost = (s.get("cost") or {}).get("datasets", {})
    role = roles(s)
    parts, with_clip = [], False
    for ds, rows in cost.items():
        sn, clip, gp = (rows.get(role[k], {}).get("ms_critic_step") if role[k] else None
                        for k in ("sn_w", "clip", "gp"))
        if sn:
            with_clip = with_clip or bool(clip)
            parts.append(f"{ds}: SN {num(sn)} ms"
                         + (f", clipping {num(clip)} ms (SN/clipping {sn / clip:.2f})" if clip else "")
                         + (f", GP {num(gp)} ms (GP/SN {gp / sn:.2f})" if gp else ""))
    cost_txt = ("Per critic step, measured in one process with interleaved repeats: " + esc("; ".join(parts)) + ". "
                + ("Clipping's step is the unconstrained step plus a clamp, so SN/clipping is close to what one "
                   "power iteration and the division cost." if with_clip else "")
                if parts else "")
    return (f"= {SECTIONS[3]}\n\n"
            "$sigma(W)$ is the square root of the largest eigenvalue of $W^top W$, and power iteration @golub "
            "finds it with matrix–vector products only. From a unit vector $u$:\n\n"
            "$ v <- (W^top u) / (||W^top u||), quad u <- (W v) / (||W v||), quad tilde(sigma) = u^top W v. $\n\n"
            "Each iteration multiplies the error by $(sigma_2 \\/ sigma_1)^2$, so from a fresh random $u$ it needs "
            "many iterations when the top two singular values are close. Spectral normalization @miyato runs one "
            "iteration per training step and keeps $u$ between steps: the weights move little per step, so the "
            "kept $u$ stays near the top singular vector and one iteration refines it. "
            f"On a {esc('×'.join(str(x) for x in power.get('shape', []) or ['?']))} matrix (@fig-power), a fresh "
            f"$u$ leaves a relative error of {esc(num(power.get('fresh_after_1'), 3))} after one iteration and "
            f"{esc(num(power.get('fresh_after_all'), 3))} after {esc(power.get('iterations', '?'))}; while the "
            "matrix drifts as in training, one iteration per step from the kept $u$ has a median error of "
            f"{esc(num(power.get('persistent_median'), 3))}, against {esc(num(power.get('fresh1_median'), 3))} "
            "from a fresh $u$ each step.\n\n"
            + _fig(d, "theory_power", "Power iteration: the σ error from a fresh u against iterations (left), and "
                                      "with one iteration per step while W drifts, kept u against fresh u (right).",
                   label="fig-power")
            + cost_txt + "\n\n")


def _experiments(s: dict, d: Path) -> str:
    study = s.get("study", {})
    host = study.get("host") or {}
    src = study.get("source") or {}
    setup = s.get("setup", {})
    budgets = study.get("budget_cpu_seconds") or {}
    seeds = study.get("seeds") or {}
    out = [f"= {SECTIONS[4]}\n\n== Setup\n\n"]
    data_txt = {"mnist": "real MNIST digits (28×28, scaled to [−1, 1])",
                "ring8": "a ring of eight Gaussians (radius 1, standard deviation 0.01)",
                "grid25": "a 5×5 grid of Gaussians (standard deviation 0.05)"}
    items = []
    for ds, entry in setup.items():
        crit, gen = entry.get("critic", {}), entry.get("generator", {})
        budget = (f"{budgets[ds]:g} CPU-seconds of one core per run{_scaled(study)}, turned into each "
                  "method's steps by its measured cost per step" if budgets.get(ds)
                  else f"each preset's steps{_scaled(study)}")
        items.append(f"- *{esc(ds)}*: {esc(data_txt.get(ds, ds))}; critic {esc(crit.get('class', '?'))} "
                     f"({esc(num(crit.get('parameters'), 6))} parameters: {esc(crit.get('doc', ''))}); generator "
                     f"{esc(gen.get('class', '?'))} ({esc(num(gen.get('parameters'), 6))} parameters); "
                     f"{esc(seeds.get(ds, '?'))} seeds per method; budget: {esc(budget)}.")
    out.append("\n".join(items) + "\n\n")
    machine = (f"{host.get('cpu', 'an unrecorded CPU')}, {host.get('cores', '?')} cores"
               + (", AVX-512" if host.get("avx512") else "") + (f", GPU {host['gpu']}" if host.get("gpu") else "")
               + f"; Python {host.get('python', '?')}, torch {host.get('torch', '?')}")
    code = f"sngan {src.get('version', '?')}" + (f" at commit {src['commit']}" if src.get("commit") else "")
    out.append(f"Every run is an ordinary, resumable `sngan train` run with one thread; the runs of a study share "
               f"the machine two at a time. Machine: {esc(machine)}. Code: {esc(code)}. Quality is measured in the "
               "feature space of the MNIST classifier shipped with sngan (FID @heusel, KID, precision/recall and "
               "class coverage on 5000 samples) and on the toy data by the exact $W_1$ to the data, modes covered "
               "and the share of high-quality samples on 2500 samples @srivastava.\n\n")
    rows = []
    for ds, entry in setup.items():
        for label, cfg in entry.get("rows", {}).items():
            own = {"clip": f"c = {num(cfg.get('clip_value'))}", "gp": f"λ = {num(cfg.get('gp_weight'))}",
                   "sn": f"{cfg.get('n_power_iterations')} power iteration(s), {cfg.get('sn_mode')} mode"}.get(
                cfg.get("method"), "–")
            rows.append([esc(ds), esc(_name(label)), esc(f"{cfg.get('optimizer')} {num(cfg.get('lr_d'))}"),
                         esc(f"{num(cfg.get('beta1'))}, {num(cfg.get('beta2'))}"), esc(cfg.get("n_critic")), esc(own),
                         esc(cfg.get("batch_size")), esc(cfg.get("steps"))])
    out.append("Each method trained with the setting an equal-effort search chose for it: the same coordinate "
               "search (learning rate, $n_\"critic\"$, Adam $beta_1$, then one knob of its own) with the same CPU "
               "budget per point for every method (@tab-setting).\n\n")
    out.append(_table_figure(["data", "method", "optimizer, lr", "β1, β2", "n critic", "own knob", "batch", "steps"],
                             rows, "Each method's tuned setting and the generator steps its CPU budget bought.",
                             "tab-setting"))
    out.append("== Training curves\n\n"
               "The study's central figures are the generator and critic losses along training, one column per "
               "method (each panel on its own scale: the losses of different constraints live on different "
               "scales), with the critic's estimate of $W_1$ below them.\n\n")
    scales = budget_scales(study)
    per_budget = (" One row of panels per budget in each band (the budget study's rows), the same setting in a "
                  "column." if len(scales) > 1 else "")
    for ds in s.get("quality", {}):  # with several budgets: a band of rows per budget, as tall as a page allows
        out.append(_fig(d, f"losses_{ds}", f"{esc(ds)}: generator loss (top), critic loss (middle) and the critic's "
                                           f"W1 estimate (bottom), mean over seeds with the min–max band.{per_budget}",
                        height="20cm" if len(scales) > 1 else None))
    out.append("== Samples\n\n")
    for ds in s.get("quality", {}):
        what = ("64 samples from a fixed noise batch (EMA generator)" if ds == "mnist"
                else "generated points over the critic")
        out.append(_fig(d, f"final_samples_{ds}", f"{esc(ds)}: {what}, end of training, first seed of every method"
                                                  + ("; one row per budget." if len(scales) > 1 else ".")))
    out.append("== Quality against CPU time\n\n")
    for ds in s.get("quality", {}):
        out.append(_fig(d, f"quality_{ds}", f"{esc(ds)}: quality along training against the CPU seconds of "
                                            "training (left) and generator steps (right), mean over seeds with the "
                                            "min–max band."))
    out.append("== Final results\n\nEvery seed's value is shown (a mean ± interval over two or three seeds would "
               "claim more than the runs show).\n\n")
    for ds, by_label in s.get("quality", {}).items():
        if ds == "mnist":
            keys = (("fid", "FID"), ("kid", "KID"), ("precision", "precision"), ("recall", "recall"),
                    ("class_kl_uniform", "class KL"))
        else:
            keys = (("w1_exact", "exact W1"), ("modes_covered", "modes"), ("high_quality", "high quality"))
        rows = [[esc(_name(label))] + [esc(_values(row.get(k))) for k, _ in keys]
                + [esc(int(row.get("diverged", {}).get("mean", 0)))] for label, row in by_label.items()]
        out.append(_table_figure(["method"] + [h for _, h in keys] + ["diverged"], rows,
                                 f"{esc(ds)}: final quality of every seed (lower is better for FID, KID, class KL "
                                 "and W1)."))
    return "".join(out)


def _claims(s: dict, d: Path) -> str:
    rows, items = [], []
    for v in s.get("claims", []):
        verdict = f"#text(fill: {verdict_color(v['verdict'])}, weight: \"bold\")[{esc(v['verdict'])}]"
        rows.append([esc(v["claim"]), verdict])
        items.append(f"+ *{esc(v['claim'])}* — {verdict}. _Measured:_ {esc(v['evidence'])}. "
                     f"#text(fill: luma(70))[_Rule:_ {esc(v['rule'])}]")
    claim_set = (s.get("study", {}).get("study") or {}).get("claims", "write-up")
    intro = ("The study's write-up concludes that spectral normalization trains stably and smoothly, that the "
             "gradient penalty over-corrects with noisy gradients, that clipping underfits, that SN is cheaper "
             "than GP, needs no tuning and enforces global Lipschitz-1. " if claim_set == "write-up" else
             "This study asks whether an exactly 1-Lipschitz critic helps: spectral normalization of each "
             "layer's reshaped kernel (matrix), of its true operator norm by power iteration (operator), and by a "
             "guaranteed upper bound (certified), beside the gradient penalty, at an equal CPU budget. ")
    return (f"= {SECTIONS[5]}\n\n" + intro
            + "Each claim is decided here by a rule "
            "stated before the runs, applied to the numbers above (and, for tuning, to the committed "
            "equal-effort search); no verdict is written by hand. @tab-verdicts lists the verdicts; below it "
            "each claim has its measured evidence and its rule.\n\n"
            + _table_figure(["claim", "verdict"], rows, "The claims and their verdicts.", "tab-verdicts")
            + "\n".join(items) + "\n\n" + _claims_by_budget(s, d))


def _claims_by_budget(s: dict, d: Path) -> str:
    """A study of the same rows at several budgets: each claim's verdict at each budget, and quality against budget."""
    by_budget = s.get("claims_by_budget") or {}
    if not by_budget:
        return ""
    budgets = list(by_budget)
    rows = [[esc(claim["claim"])] + [f"#text(fill: {verdict_color(v['verdict'])})[{esc(v['verdict'])}]" for v in at]
            for claim, at in C.at_each_budget(by_budget)]
    figures = "".join(_fig(d, f"budget_{ds}", f"{esc(ds)}: final quality against the training budget.")
                      for ds in s.get("quality", {}))
    return ("== The claims at each budget\n\nThe verdicts above are the largest budget's; the same rules at every "
            "budget:\n\n" + _table_figure(["claim"] + [f"budget {esc(b)}" for b in budgets], rows,
                                            "Each claim's verdict at each training budget.")
            + "".join(f"- {esc(x)}\n" for x in C.budget_changes(by_budget)) + "\n"
            + (esc(note) + "\n\n" if (note := C.budget_free_note(by_budget)) else "") + figures)


def _conclusion(s: dict) -> str:
    verdicts = s.get("claims", [])
    sentences = C.conclusion(verdicts)
    body = "\n\n".join(esc(x) for x in sentences)
    return (f"= {SECTIONS[6]}\n\n"
            f"Of the {len(verdicts)} claims, {esc(C.tally(verdicts))}.\n\n" + body + "\n\n")


def _scaled(study: dict) -> str:
    """How a study whose rows train at several budgets (the budget study) scales its per-run budget."""
    scales = _scales_txt(study)
    return f" times its row's budget scale ({scales})" if scales else ""


def _limitations(s: dict) -> str:
    study = s.get("study", {})
    host = study.get("host") or {}
    budgets = study.get("budget_cpu_seconds") or {}
    seeds = study.get("seeds") or {}
    still = []
    for ds, by_label in (s.get("curves") or {}).items():
        key = "fid" if ds == "mnist" else "w1_exact"
        for label, by_seed in by_label.items():
            improving = []
            for points in by_seed.values():
                vals = [p.get(key) for p in points if p.get(key) is not None]
                if len(vals) >= 2:
                    improving.append(vals[-1] <= min(vals))
            if improving and all(improving):
                still.append(f"{ds} {_name(label)}")
    budget_txt = (", ".join(f"{ds} {b:g} CPU-seconds" for ds, b in budgets.items()) if budgets
                  else "each preset's steps")
    budget_txt += _scaled(study)
    lines = [f"- *Budget.* Every run trained for {esc(budget_txt)}. "
             + (f"Quality was still at its best at the last evaluation of every seed for: {esc('; '.join(still))}, "
                "so longer training may change a ranking-based verdict (clipping underfits, SN stable)."
                if still else "No method was still improving at its last evaluation on every seed."),
             f"- *Seeds.* {esc(', '.join(f'{ds} {n}' for ds, n in seeds.items()) or '?')} seeds per method: enough "
             "to see the spread of each number (every seed is shown), not to put confidence intervals on small "
             "differences. A verdict that rests on a close comparison (a roughness or a cost ratio near its "
             "threshold) could flip with more seeds.",
             f"- *Machine.* Costs and the CPU budget were measured on {esc(host.get('cpu', 'an unrecorded CPU'))}; "
             "the cost ratios between methods move with the CPU (the gradient penalty's double backward pass most), "
             "so the equal-CPU step counts would differ on another machine or a GPU.",
             "- *Architecture.* The MNIST critic is the SN-GAN standard CNN at the width the tuning chose; the "
             "Lipschitz verdict depends on convolutions, and a study with operator-mode or certified SN "
             "(sngan's `sn_mode`) would answer the Lipschitz claim differently."]
    return f"= {SECTIONS[7]}\n\n" + "\n".join(lines) + "\n\n"


def _references() -> str:
    return f"#bibliography(\"{BIBLIOGRAPHY}\", title: \"{SECTIONS[8]}\", style: \"ieee\")\n"


def writeup_source(summary: dict[str, Any], study_dir: Path) -> str:
    """The write-up as Typst source (figures referenced relative to the study directory)."""
    preamble = (f"#set document(title: \"{TITLE}\", author: \"sngan\")\n"
                "#set page(paper: \"a4\", margin: (x: 2.1cm, y: 2.2cm), numbering: \"1 / 1\")\n"
                "#set text(font: \"Libertinus Serif\", size: 10.5pt, hyphenate: false)\n"
                "#set par(justify: true)\n"
                "#set heading(numbering: \"1.1\")\n"
                "#show heading: set block(above: 1.3em, below: 0.8em)\n"
                "#show figure.caption: set text(size: 9pt)\n"
                "#show table: set text(size: 9pt)\n"
                "#show table: set par(justify: false)\n"
                "#show ref: it => text(fill: rgb(\"#1f4e79\"), it)\n\n")
    return (preamble + _front(summary) + _motivation(summary, study_dir) + _wasserstein(summary)
            + _lipschitz(summary) + _power(summary, study_dir) + _experiments(summary, study_dir)
            + _claims(summary, study_dir) + _conclusion(summary) + _limitations(summary) + _references())
