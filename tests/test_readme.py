"""Every code block of README.md and docs/*.md, extracted from the documents themselves (not copied), runs
as written: shell lines run as commands, Python blocks run in order in one directory per document, study
files (toml blocks) load as studies, the command synopses name only subcommands and flags that exist, and
`make` lines name targets of the Makefile."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from conftest import sngan_process

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(document: Path | None = None) -> list[tuple[str, str]]:
    return [b for doc in ([document] if document else DOCUMENTS) for b in FENCE.findall(doc.read_text())]


def shell_lines(code: str) -> list[str]:
    lines = []
    for line in code.splitlines():
        line = re.split(r"\s+#", line, maxsplit=1)[0].strip()  # comments
        if line:
            lines.append(line)
    return lines


def subcommands() -> dict[str, argparse.ArgumentParser]:
    from sngan.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_the_readme_has_the_blocks_this_test_runs():
    langs = [lang for lang, _ in blocks(ROOT / "README.md")]
    assert langs.count("python") >= 2 and langs.count("bash") >= 2 and "" in langs
    assert len(DOCUMENTS) >= 7 and "toml" in [lang for lang, _ in blocks()]
    assert {d.name for d in DOCUMENTS if runnable(d)} >= {"README.md", "cli.md", "library.md"}


def test_study_files_in_the_docs_load(tmp_path):
    from sngan.study.runner import plan

    tomls = [code for lang, code in blocks() if lang == "toml"]
    assert tomls
    for i, code in enumerate(tomls):
        path = tmp_path / f"study{i}.toml"
        path.write_text(code)
        assert plan(path).runs


def test_synopsis_names_only_existing_subcommands_and_flags():
    commands = subcommands()
    for lang, code in blocks():
        if lang:
            continue
        for line in code.splitlines():
            words = line.split()
            if words and words[0] == "sngan":
                command = words[1]
                assert command in commands, line
            elif not words or not line.startswith(" "):
                continue
            options = {s for a in commands[command]._actions for s in a.option_strings}
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line.split("#")[0]):
                assert flag in options, f"sngan {command} has no {flag} (README: {line.strip()})"


def test_make_lines_name_makefile_targets():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    for lang, code in blocks():
        if lang == "bash":
            for line in shell_lines(code):
                if line.startswith("make "):
                    assert line.split()[1] in targets, line


def runnable(document: Path) -> bool:
    """Whether a document has a Python block or a shell line this test runs (not `make`, not torchrun)."""
    return any(lang == "python" or (lang == "bash" and any(line.startswith("sngan ") for line in shell_lines(code)))
               for lang, code in blocks(document))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("document", [d for d in DOCUMENTS if runnable(d)], ids=lambda p: p.name)
def test_shell_and_python_blocks_run_in_order(tmp_path, monkeypatch, document):
    monkeypatch.chdir(tmp_path)
    ran = 0
    for lang, code in blocks(document):
        if lang == "bash":
            for line in shell_lines(code):
                if line.startswith("make "):
                    continue  # the quick start: CI runs `make test`; `make run` is the 20-minute study
                words = shlex.split(line)
                assert words[0] in ("sngan", "torchrun"), f"{document.name} shell line this test cannot run: {line}"
                if words[0] == "torchrun":
                    continue  # covered by tests/train/test_distributed.py
                res = sngan_process(words[1:])
                assert res.returncode == 0, (line, res.stderr[-2000:])
                ran += 1
        elif lang == "python":
            exec(compile(code, document.name, "exec"), {"__name__": "__readme__"})  # noqa: S102
            ran += 1
    assert ran >= (5 if document.name == "README.md" else 1)
