"""Typesetting with Typst (the compiler ships inside the ``typst`` wheel: no system packages).

The write-up and the poster are Typst sources generated from a study's summary.json; this module
holds what both need: escaping text into Typst markup, number formatting, and the compiler call
with fonts fixed (Typst's own embedded fonts plus matplotlib's DejaVu, never the system's), so the
same summary gives the same PDF on every machine.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from sngan.errors import UserError
from sngan.files import atomic_write_bytes
from sngan.study import claims as C

TITLE = "Stabilizing GANs: A Case for Spectral Normalization"
SUBTITLE = "Weight clipping, gradient penalty and spectral normalization, measured side by side with sngan"


def roles(summary: dict) -> dict[str, Any]:
    """Which rows are the clipping, GP, SN and SN (W loss) rows: the roles the claim rules used."""
    return (summary.get("evidence") or {}).get("roles") or C.DEFAULT_ROLES


def subtitle(summary: dict) -> str:
    """The write-up's subtitle for the write-up's own claims; another study's one-line description."""
    import re

    spec = (summary.get("study") or {}).get("study") or {}
    if spec.get("claims", "write-up") == "write-up" or not spec.get("description"):
        return SUBTITLE
    return re.sub(r"\s*\(~?[^)]*\)$", "", spec["description"])  # without its "(~40 min)"

# A verdict's colour, in the HTML report and (as Typst's rgb) in the write-up and poster.
VERDICT_COLORS = {C.SUPPORTED: "#1a7f37", C.NOT_SUPPORTED: "#b42318", C.MIXED: "#9a6700", C.NO_DATA: "#666666"}


def verdict_color(verdict: str) -> str:
    """The Typst colour of a verdict."""
    return f'rgb("{VERDICT_COLORS.get(verdict, "#000000")}")'


# Characters with a meaning in Typst markup; a backslash before any of them inserts it literally.
_SPECIAL = frozenset("\\*_`$#[]<>@=-+/~'\".:")


def esc(text: Any) -> str:
    """``text`` as Typst markup that shows exactly these characters (each run of whitespace, newlines
    included, becomes one space; a space at either end is kept: ``esc(" · built ...")``)."""
    return "".join("\\" + c if c in _SPECIAL else c for c in re.sub(r"\s+", " ", str(text)))


def budget_scales(study: dict) -> list[float]:
    """The budget multiples of a summary's study rows (the budget study: [1.0, 4.0, 16.0]); [] where every
    row trains at the dataset's budget itself (most studies)."""
    scales = sorted({r.get("budget_scale", 1.0) for r in (study.get("study") or {}).get("rows", [])})
    return [] if scales == [1.0] else scales


def num(x: Any, digits: int = 3) -> str:
    """A measured number as the report shows it: a count whole (46,961), a real 1 decimal from 100 up,
    else ``digits`` significant."""
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x):
        return "–"
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.{digits}g}"


def fonts() -> list[str]:
    """matplotlib's DejaVu fonts (installed with sngan); Typst adds its own embedded serif and math fonts."""
    import matplotlib

    return [str(Path(matplotlib.get_data_path()) / "fonts" / "ttf")]


def render(source: Path, root: Path, fmt: str = "pdf", ppi: float | None = None) -> list[bytes]:
    """Compile ``source`` (a .typ file under ``root``): the PDF as one item, or one PNG/SVG per page. A Typst
    error is one UserError line."""
    try:
        import typst
    except ImportError:
        raise UserError("typesetting needs the `typst` package: pip install typst") from None
    kwargs: dict[str, Any] = {"root": str(root), "font_paths": fonts(), "ignore_system_fonts": True, "format": fmt}
    if ppi is not None:
        kwargs["ppi"] = ppi
    try:
        data = typst.compile(str(source), **kwargs)
    except Exception as err:  # typst.TypstError: the message names the line of the generated source
        raise UserError(f"typesetting {source} failed: {' '.join(str(err).split())[:400]}") from None
    return data if isinstance(data, list) else [data]


def compile_pdf(source: Path, output: Path, root: Path, fmt: str = "pdf", ppi: float | None = None) -> None:
    """Compile ``source`` to ``output`` (for PNG: the first page)."""
    atomic_write_bytes(output, render(source, root, fmt, ppi)[0])


def load_summary(study_dir: Path) -> dict[str, Any]:
    path = Path(study_dir) / "summary.json"
    try:
        return json.loads(path.read_text())
    except OSError:
        raise UserError(f"{path} is missing: build the report first (sngan report {study_dir})") from None
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON ({err})") from None


def figure_file(study_dir: Path, name: str) -> str | None:
    """figures/NAME.svg (vector) if the study drew it, else figures/NAME.png, else None; relative to the study."""
    for ext in (".svg", ".png"):
        if (Path(study_dir) / "figures" / (name + ext)).exists():
            return f"figures/{name}{ext}"
    return None
