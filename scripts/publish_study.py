"""Copy what a reader needs of a finished study into the repository (no run directories, no checkpoints).

    python scripts/publish_study.py runs/study-lipschitz docs/results/lipschitz
    python scripts/publish_study.py runs/study-quick docs/example --documents-only

Copies report.html, writeup.pdf (with its Typst source), poster.pdf / poster.png, summary.json /
summary.csv, the study file and its plan (study.toml, study.json, cost.json) and the PNG figures, and
renders the write-up's first page as writeup-page1.png (for a README). ``--documents-only``: the write-up,
the poster and the first-page picture only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

DOCUMENTS = ("writeup.pdf", "poster.pdf", "poster.png")
EVERYTHING = DOCUMENTS + ("report.html", "writeup.typ", "writeup-refs.yml", "poster.typ", "summary.json",
                          "summary.csv", "study.toml", "study.json", "cost.json")


def first_page_png(study: Path, out: Path, ppi: float = 60) -> None:
    from sngan.study.typeset import compile_pdf

    compile_pdf(study / "writeup.typ", out, root=study, fmt="png", ppi=ppi)  # PNG: the first page


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--documents-only", action="store_true")
    args = ap.parse_args(argv)
    names = DOCUMENTS if args.documents_only else EVERYTHING
    missing = [n for n in names if not (args.study / n).exists()]
    if missing:
        print(f"publish_study: {args.study} lacks {', '.join(missing)}: build the report first "
              f"(sngan report {args.study})", file=sys.stderr)
        return 2
    args.dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(args.study / name, args.dest / name)
    if not args.documents_only:
        figures = args.dest / "figures"
        figures.mkdir(exist_ok=True)
        for png in sorted((args.study / "figures").glob("*.png")):
            shutil.copy2(png, figures / png.name)
    first_page_png(args.study, args.dest / "writeup-page1.png")
    print(f"published {args.study} -> {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
