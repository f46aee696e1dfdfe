"""Hostile and careless input: the CLI answers with exit code 2 and one line, never a traceback."""

import math
import os
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sngan.cli import main
from sngan.errors import ConfigError
from sngan.train.config import TrainConfig, parse_overrides, resolve

FIELDS = list(TrainConfig.__dataclass_fields__)
NUMERIC = ["lr_d", "lr_g", "beta1", "beta2", "ema", "clip_value", "gp_weight", "steps", "n_critic", "batch_size",
           "width", "hidden", "seed", "n_power_iterations"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=12)),
       value=st.one_of(st.text(max_size=20), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.integers(min_value=-10**30, max_value=10**30).map(str),
                       st.sampled_from(["nan", "inf", "-inf", "1e308", "1e999", "", "true", "None", "-0"])))
def test_config_accepts_or_raises_config_error_only(key, value):
    try:
        cfg = resolve("gp", "ring8", "tiny", parse_overrides([f"{key}={value}"]))
    except ConfigError as e:
        assert "\n" not in str(e) and str(e)
        return
    # whatever was accepted is a valid, finite config
    for name in NUMERIC:
        v = getattr(cfg, name)
        assert math.isfinite(v)
    assert cfg.steps >= 1 and cfg.batch_size >= 1 and 0 <= cfg.ema < 1 and cfg.lr_d > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.one_of(
    st.sampled_from(["train", "eval", "study", "report", "data", "certify", "--method", "gp", "sn", "clip", "none",
                     "--dataset", "ring8", "mnist", "--steps", "-1", "0", "nan", "--set", "lr_d=-1", "x=1",
                     "--preset", "paper", "weird", "--resume", "--seeds", "0", "--width", "inf", "--out",
                     "/nonexistent/dir/run", "--dry-run", "--loss", "l2"]),
    st.text(min_size=1, max_size=8)), max_size=7))
def test_random_command_lines_never_traceback(argv, tmp_path_factory, capsys):
    argv = [a for a in argv if a not in ("study", "certify", "data")]  # keep each example fast, no side effects
    if "train" in argv and "--dry-run" not in argv:
        argv.append("--dry-run")  # never start real training from random input
    if "eval" in argv or "report" in argv:
        argv = [a if a != "/nonexistent/dir/run" else str(tmp_path_factory.mktemp("x") / "missing") for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse --help / --version only
        code = e.code
    out = capsys.readouterr()  # consumes what this example printed (capsys is shared across examples)
    assert code in (0, 2), (argv, out.err)
    if code == 2:
        assert out.err.count("\n") == 1 and out.err.startswith("sngan: error: "), (argv, out.err)
        assert "Traceback" not in out.err


def test_bad_inputs_end_to_end_exit_2_without_leftovers(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cases = [
        ["train", "--method", "gp", "--dataset", "ring8", "--set", "batch_size=1e999", "--out", str(tmp_path / "a")],
        ["train", "--method", "gp", "--dataset", "ring8", "--set", "lr_d=inf", "--out", str(tmp_path / "b")],
        ["train", "--method", "gp", "--dataset", "ring8", "--steps", "-5", "--out", str(tmp_path / "c")],
        ["train", "--method", "gp", "--dataset", "folder", "--set", "data_dir=/nonexistent", "--out",
         str(tmp_path / "d")],
        ["eval", str(tmp_path / "nothing")],
        ["report", str(tmp_path)],
        ["study", "--seeds", "0", "--out", str(tmp_path / "e")],
    ]
    for argv in cases:
        res = subprocess.run([sys.executable, "-m", "sngan", *argv], capture_output=True, text=True, env=env)
        assert res.returncode == 2, (argv, res.stderr)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, (argv, res.stderr)
    for name in "abcde":
        assert not (tmp_path / name).exists(), name


def test_only_working_subcommands_are_exposed():
    from sngan.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {"train", "eval", "sample", "study", "report", "data", "certify"}


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_exits_zero(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0


def test_train_offers_every_preset():
    # The parser lists presets itself (importing sngan.train would import torch for `--help`).
    import argparse

    from sngan.cli import build_parser
    from sngan.train.config import PRESETS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    preset = next(a for a in sub.choices["train"]._actions if a.dest == "preset")
    assert list(preset.choices) == list(PRESETS)


# -- every command, every flag: generated bad values -------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from sngan.train import Trainer

    run = tmp_path_factory.mktemp("bad-input") / "run"
    Trainer(resolve("gp", "ring8", "tiny"), run).fit()
    return run


def _snapshot(directory):
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


_words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                 max_size=10).filter(lambda t: not _is_number(t))
_negative = st.integers(max_value=-1).map(str)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip().lower() in ("true", "false", "yes", "no", "on", "off", "none", "")


_NUMERIC_KEYS = [k for k, f in TrainConfig.__dataclass_fields__.items()
                 if f.type in ("int", "float", "bool") and k not in ("threads",)]
# Every value below is invalid by construction, so a train command must be refused for its value — never
# reach the check of the (existing) run directory. preset and data_dir accept any string: left out.
_CHOICES = {"paper", "same-budget", "tuned", "sn-ndis5", "sn-fast", "quick", "tiny", "wasserstein", "hinge", "bce",
            "clip", "gp", "sn", "none", "mnist", "ring8", "grid25", "swissroll", "cifar10", "folder", "adam",
            "rmsprop", "sgd", "constant", "linear", "matrix", "operator", "exact", "fp32", "bf16", "auto", "cpu",
            "cuda", "mps"}
_bad_words = _words.filter(lambda w: w not in _CHOICES and w.strip().replace("-", "_") not in FIELDS
                           and not re.fullmatch(r"cuda:\d+", w))
_SET_KEYS = [k for k in FIELDS if k not in ("preset", "data_dir")]
_BAD_ARGS = {
    "train": st.one_of(
        st.tuples(st.just("--steps"), st.one_of(st.integers(max_value=0).map(str), _bad_words)),
        st.tuples(st.just("--seed"), st.one_of(_negative, _bad_words)),
        st.tuples(st.sampled_from(["--preset", "--loss", "--method", "--dataset", "--device"]), _bad_words),
        st.tuples(st.just("--set"), st.builds("{}={}".format, st.sampled_from(_SET_KEYS), st.one_of(
            _bad_words, _negative, st.sampled_from(["nan", "inf", "-inf", "1e999"])))),
        st.tuples(st.just("--set"), st.builds("{}={}".format, _bad_words, st.text(max_size=5)))),
    "resume": st.tuples(st.just("--set"), st.builds("{}={}".format, st.sampled_from(_NUMERIC_KEYS), _words)),
    "eval": st.one_of(
        st.tuples(st.just("--samples"), st.one_of(st.integers(max_value=49).map(str),
                                                   st.integers(min_value=10**6 + 1).map(str), _words)),
        st.tuples(st.just("--seed"), st.one_of(_negative, _words))),
    "sample": st.one_of(
        st.tuples(st.just("--n"), st.one_of(st.integers(max_value=0).map(str),
                                            st.integers(min_value=10**7 + 1).map(str), _words)),
        st.tuples(st.just("--seed"), st.one_of(_negative, _words)),
        st.tuples(st.just("--step"), st.one_of(st.integers().filter(lambda s: s not in (2, 4)).map(str), _words)),
        st.tuples(st.just("--out"), st.builds("{}.{}".format, st.just("x"), st.sampled_from(
            ["jpg", "txt", "gif", "pt", "pdf"])))),
    "certify": st.one_of(
        st.tuples(st.just("--width"), st.one_of(
            st.floats().filter(lambda w: not 1 / 64 <= w <= 8).map(repr), _words)),
        st.tuples(st.just("--seed"), st.one_of(_negative, _words)),
        st.tuples(st.just("--ascent-steps"), st.one_of(_negative, st.integers(min_value=10_001).map(str), _words))),
    "report": st.sampled_from(["{run}", "{missing}", "{file}"]),
}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(list(_BAD_ARGS)), data=st.data())
def test_generated_bad_values_for_every_command_are_one_line_and_touch_nothing(command, data, finished_run,
                                                                              tmp_path_factory, capsys):
    run = finished_run
    scratch = tmp_path_factory.mktemp("scratch")
    (scratch / "file").write_text("x")
    bad = data.draw(_BAD_ARGS[command])
    if command == "train":
        argv = ["train", "--method", "gp", "--dataset", "ring8", "--preset", "tiny", "--out", str(run), *bad]
    elif command == "resume":
        argv = ["train", "--resume", "--out", str(run), *bad]
    elif command == "eval":
        argv = ["eval", str(run), *bad]
    elif command == "sample":
        argv = ["sample", str(run), "--out", str(scratch / "x.png"), *bad]
        if bad[0] == "--out":
            argv = ["sample", str(run), "--out", str(scratch / bad[1])]
    elif command == "certify":
        argv = ["certify", "--ascent-steps", "0", *bad]
    else:
        argv = ["report", bad.format(run=run, missing=scratch / "missing", file=scratch / "file")]
    before = _snapshot(run)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert err.count("\n") == 1 and err.startswith("sngan: error: ") and "Traceback" not in err, (argv, err)
    assert "already holds a run" not in err, argv  # refused for its value, not for the directory
    assert _snapshot(run) == before, argv
    assert sorted(p.name for p in scratch.iterdir()) == ["file"], argv


def _stderr_of_fresh_python(code: str, cwd=None) -> list[str]:
    """Run ``code`` in a fresh interpreter (torch not yet imported); it must exit 0; its stderr lines."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return res.stderr.splitlines()


def test_help_and_import_sngan_do_not_wait_for_torch():
    # the package imports what it names on first use: `sngan --help` answers at once
    code = ("import sys, sngan\nfrom sngan.cli import main\ntry:\n    main(['train', '--help'])\nexcept SystemExit:\n"
            "    pass\nassert 'torch' not in sys.modules, 'torch imported'\n"
            "from sngan import spectral_norm, Run\nassert 'torch' in sys.modules and callable(spectral_norm)\n")
    _stderr_of_fresh_python(code)


def test_a_missing_run_or_study_directory_is_refused_before_torch_loads(tmp_path):
    # eval, sample and report name a directory: a wrong one is answered at once, not after torch's import
    (tmp_path / "file").write_text("x")
    code = ("import sys\nfrom sngan.cli import main\n"
            f"missing, file = {str(tmp_path / 'missing')!r}, {str(tmp_path / 'file')!r}\n"
            "for argv in (['eval', missing], ['sample', missing, '--out', 'x.png'], ['report', missing],\n"
            "             ['eval', file], ['sample', file, '--out', 'x.png'], ['report', file]):\n"
            "    assert main(argv) == 2, argv\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    lines = _stderr_of_fresh_python(code, tmp_path)
    assert lines == [f"sngan: error: {tmp_path / 'missing'}: no such run directory"] * 2 + [
        f"sngan: error: {tmp_path / 'missing'}: no such study directory"] + [
        f"sngan: error: {tmp_path / 'file'} is a file, not a run directory"] * 2 + [
        f"sngan: error: {tmp_path / 'file'} is a file, not a study directory"], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_wrong_config_value_is_refused_before_torch_loads(tmp_path):
    # the config checks its values before resolving device=auto (which asks torch for CUDA)
    code = ("import sys\nfrom sngan.cli import main\n"
            "for extra in (['--steps', '0'], ['--set', 'sn_mode=spectral'], ['--set', 'device=gpu'],\n"
            "              ['--set', 'precision=fp16'], ['--set', 'sn_solver=qr']):\n"
            "    assert main(['train', '--method', 'sn', '--dataset', 'ring8', '--out', 'r', *extra]) == 2, extra\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    lines = _stderr_of_fresh_python(code, tmp_path)
    assert lines == [
        "sngan: error: steps=0: must be >= 1",
        "sngan: error: sn_mode='spectral': choose matrix, operator, exact or certified",
        "sngan: error: device='gpu': choose auto, cpu, cuda, cuda:N or mps",
        "sngan: error: precision='fp16': choose fp32, bf16 or auto",
        "sngan: error: sn_solver='qr': choose power or lanczos"], lines
    assert not (tmp_path / "r").exists()
