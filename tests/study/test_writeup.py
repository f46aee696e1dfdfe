"""The typeset write-up and poster of a study: their text read back from the PDFs."""

import json
import re
import shutil

import pytest
from pypdf import PdfReader

from sngan.errors import UserError
from sngan.study import claims as C
from sngan.study.poster import PAGE, PANES, build_poster
from sngan.study.typeset import TITLE, compile_pdf, esc, num
from sngan.study.writeup import SECTIONS, build_writeup

MM = 72 / 25.4  # PDF points per millimetre


def pdf_text(path) -> str:
    """The PDF's text, pages joined, page footers ("3 / 11") dropped, whitespace collapsed."""
    text = " ".join(page.extract_text() for page in PdfReader(path).pages)
    return " ".join(re.sub(r"\b\d+ / \d+\b", " ", text).split())


def test_writeup_holds_every_section_claim_verdict_and_fid(tiny_study):
    out, _, _ = tiny_study
    summary = json.loads((out / "summary.json").read_text())
    reader = PdfReader(out / "writeup.pdf")
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / MM), round(float(box.height) / MM)) == (210, 297)  # A4
    assert len(reader.pages) >= 6
    text = pdf_text(out / "writeup.pdf")
    assert text.startswith(TITLE)
    for title in SECTIONS:
        assert title in text, title
    assert len(summary["claims"]) == 6
    for claim in summary["claims"]:
        assert f"{claim['claim']} {claim['verdict']}" in text, claim["claim"]  # the verdict table's row
        assert f"{claim['claim']} — {claim['verdict']}." in text  # and the list with evidence and rule
    for label, row in summary["quality"]["mnist"].items():
        assert row["fid"]["values"], label
        for fid in row["fid"]["values"]:
            assert num(fid) in text, (label, fid)
    for sentence in C.conclusion(summary["claims"]):
        assert " ".join(sentence.split()) in text
    assert "seed study" not in text
    assert "critics under each of them on real MNIST and on a ring of eight Gaussians, with every method tuned by " \
           "the same search and given the same CPU budget, and test 6 claims" in text  # the abstract: its datasets
    for entry in summary["setup"].values():  # counts whole: "46,961 parameters", never "46961.0"
        assert f"{entry['critic']['parameters']:,} parameters" in text
    assert (out / "writeup.typ").exists() and (out / "writeup-refs.yml").exists()  # the source beside it


def test_writeup_follows_summary_json_and_says_when_the_study_is_still_running(tiny_study, tmp_path):
    out, _, _ = tiny_study
    study = tmp_path / "s"
    shutil.copytree(out, study)
    summary = json.loads((study / "summary.json").read_text())
    fid = summary["quality"]["mnist"]["sn-hinge"]["fid"]
    assert num(fid["values"][0]) != "123.4"
    fid["values"][0] = fid["mean"] = fid["min"] = fid["max"] = 123.4375
    summary["progress"]["runs_done"] = 5
    (study / "summary.json").write_text(json.dumps(summary))
    build_writeup(study)
    text = pdf_text(study / "writeup.pdf")
    assert "123.4" in text and "123.4" not in pdf_text(out / "writeup.pdf")
    assert "built while the study was running: 5 of 8 runs done" in text


def test_poster_is_one_a0_page_with_its_panes(tiny_study):
    out, _, _ = tiny_study
    reader = PdfReader(out / "poster.pdf")
    assert len(reader.pages) == 1  # nothing spills onto a second page
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / MM), round(float(box.height) / MM)) == PAGE == (841, 1189)
    text = pdf_text(out / "poster.pdf")
    assert TITLE in text
    for pane in PANES:
        assert pane in text, pane
    summary = json.loads((out / "summary.json").read_text())
    for claim in summary["claims"]:
        assert claim["claim"] in text and claim["verdict"] in text
    from PIL import Image

    with Image.open(out / "poster.png") as png:
        width, height = png.size
    assert abs(width / height - 841 / 1189) < 0.01 and width >= 1000


def test_poster_reads_whatever_rows_a_study_has(tiny_study, tmp_path):
    # a study with only some rows (here: no clipping) still gets a one-page poster
    out, _, _ = tiny_study
    study = tmp_path / "s"
    shutil.copytree(out, study)
    summary = json.loads((study / "summary.json").read_text())
    for ds in summary["quality"]:
        summary["quality"][ds].pop("clip-wasserstein")
    (study / "summary.json").write_text(json.dumps(summary))
    build_poster(study)
    assert len(PdfReader(study / "poster.pdf").pages) == 1


def test_typst_escaping_shows_text_exactly(tmp_path):
    text = 'a*b_c `d` $e$ #f [g] <h> @i =j -k +l /m ~n // x /* y */ ‖∇D‖ 1e-3 "q" it\'s #"s".len()'
    (tmp_path / "e.typ").write_text("#set text(hyphenate: false)\n" + esc(text) + "\n")
    compile_pdf(tmp_path / "e.typ", tmp_path / "e.pdf", root=tmp_path)
    assert pdf_text(tmp_path / "e.pdf") == " ".join(text.split())
    assert esc(" · built\n  while [x] ") == " · built while \\[x\\] "  # a space at either end is kept


def test_a_typst_error_is_one_line(tmp_path):
    (tmp_path / "bad.typ").write_text("#image(\"missing.png\")\n")
    with pytest.raises(UserError, match=r"typesetting .*bad\.typ failed") as err:
        compile_pdf(tmp_path / "bad.typ", tmp_path / "bad.pdf", root=tmp_path)
    assert "\n" not in str(err.value) and not (tmp_path / "bad.pdf").exists()


def test_writeup_without_summary_is_one_error(tmp_path):
    with pytest.raises(UserError, match="summary.json is missing"):
        build_writeup(tmp_path)
