"""benchmarks/status.py: the performance goals read from result files — a goal is met only on the numbers that meet
it, and a missing file reads "not measured", never "met"."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import status  # noqa: E402

from sngan.train import resolve  # noqa: E402


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


def _quality(seed: int, minutes_3x: float | None, minutes_2x: float | None, best: float = 4.0, **recipe) -> dict:
    floor = 2.0
    config = {**resolve("sn", "mnist", "sn-fast").to_dict(), "seed": seed, "eval_every": 3000, **recipe}

    def goal(factor, budget, minutes):
        reached = None if minutes is None else {"step": 1000, "train_s": 60 * minutes, "fid": factor * floor}
        return {"factor": factor, "minutes": budget, "target_fid": factor * floor, "reached": reached,
                "met": minutes is not None and minutes <= budget}

    return {"floor_fid": floor, "config": config, "best": {"fid": best},
            "goals": [goal(2.0, 30.0, minutes_2x), goal(3.0, 10.0, minutes_3x)]}


def _spectral(matrix: float, operator: float, certified: float) -> dict:
    def row(r):
        return {"ratio_to_none": r, "paired_ratio_to_none": r}

    return {"width": 1.0, "results": {"none": row(1.0), "none-control": row(0.998),
                                      "sngan-matrix-cached": row(matrix), "sngan-operator-cached": row(operator),
                                      "sngan-certified-cached": row(certified)}}


def _drift(operator_max: float, certified_max: float, certified_last: float = 0.97) -> list[dict]:
    last = [{"step": 40, "sigma": {"0": 0.99, "2": certified_last}}]
    return [{"mode": "operator", "solver": "power", "iterations": 1, "steps": 40, "width": 0.25,
             "max_sigma": operator_max, "rows": last},
            {"mode": "certified", "solver": "power", "iterations": 1, "steps": 40, "width": 0.25,
             "max_sigma": certified_max, "rows": last}]


def _verdicts(results: Path, quality: list[str]) -> dict[str, str]:
    return {r.goal: r.verdict for r in status.status(results, [results / q for q in quality])}


def test_certified_sn_is_met_on_cost_at_both_widths_and_on_a_tight_bound_that_holds(tmp_path):
    wide, narrow = _spectral(1.01, 1.04, 1.14), {**_spectral(1.01, 1.04, 1.24), "width": 0.25}
    spectral = [(wide, tmp_path / "spectral.json"), (narrow, tmp_path / "spectral-w025.json")]
    path = tmp_path / "sn-drift.json"
    assert [r.verdict for r in status.certified_rows(spectral, _drift(1.17, 0.9999), path)] == ["met"] * 3
    costly = [(_spectral(1.01, 1.04, 1.41), spectral[0][1]), spectral[1]]
    assert [r.verdict for r in status.certified_rows(costly, _drift(1.17, 0.9999), path)][0] == "missed"
    # a bound that failed to hold, or one so loose that a layer sits at 0.93
    assert status.certified_rows(spectral, _drift(1.17, 1.0001), path)[2].verdict == "missed"
    assert status.certified_rows(spectral, _drift(1.17, 0.9999, certified_last=0.93), path)[2].verdict == "missed"
    # the narrow width not measured: that row says so, never "met"
    assert status.certified_rows([spectral[0], (None, spectral[1][1])], _drift(1.17, 0.9999), path)[1].verdict == \
        "not measured"


def test_missing_files_are_not_measured(tmp_path):
    verdicts = _verdicts(tmp_path, ["quality.json"])
    assert set(verdicts.values()) == {"not measured"}
    # quality, matrix, operator, σ in training, certified at widths 1 and 0.25 and its drift, never slower,
    # bf16 gp, bf16 clip
    assert len(verdicts) == 10


def test_time_to_quality_is_met_only_on_every_seed(tmp_path):
    _write(tmp_path / "q0.json", _quality(0, minutes_3x=7.0, minutes_2x=22.0))
    _write(tmp_path / "q1.json", _quality(1, minutes_3x=11.2, minutes_2x=None, best=4.77))
    rows = status.quality_rows([tmp_path / "q0.json", tmp_path / "q1.json"])
    assert [r.goal for r in rows] == ["FID <= 3x the floor in <= 10 min (sn-fast)",
                                      "FID <= 2x the floor in <= 30 min (sn-fast)"]
    assert [r.verdict for r in rows] == ["missed", "missed"]
    assert "seed 1: 11.2 min" in rows[0].measured
    assert "seed 1: not reached (best 4.77 = 2.38x)" in rows[1].measured
    assert [r.verdict for r in status.quality_rows([tmp_path / "q0.json"])] == ["met", "met"]


def test_a_run_of_another_recipe_is_not_counted(tmp_path):
    _write(tmp_path / "q0.json", _quality(0, minutes_3x=7.0, minutes_2x=22.0))
    _write(tmp_path / "old.json", _quality(1, minutes_3x=7.0, minutes_2x=22.0, lr_d=2e-3, steps=33000))
    (row,) = status.quality_rows([tmp_path / "q0.json", tmp_path / "old.json"])
    assert row.verdict == "not measured"
    assert row.measured == "old.json trained another recipe: steps 33000 (now 75000), lr_d 0.002 (now 0.003)"


@pytest.mark.parametrize("matrix, operator, expected", [(1.02, 1.05, ["met", "met"]),
                                                        (1.0201, 1.0501, ["missed", "missed"])])
def test_sn_overhead_goals_are_inclusive_bounds_on_the_paired_ratio(tmp_path, matrix, operator, expected):
    rows = status.overhead_rows(_spectral(matrix, operator, 1.5), tmp_path / "spectral.json")
    assert [r.verdict for r in rows] == expected
    assert "A/A control 0.998" in rows[0].measured


def test_sigma_while_training_needs_both_the_bound_and_the_cost(tmp_path):
    path = tmp_path / "sn-drift.json"
    # certified holds σ <= 1 but costs 1.5x; operator is cheap but drifts: missed
    assert status.sigma_row(_drift(1.17, 0.9999), _spectral(1.01, 1.04, 1.5), None, path).verdict == "missed"
    # a mode that holds σ <= 1.01 within the overhead goal meets it
    assert status.sigma_row(_drift(1.17, 0.9999), _spectral(1.01, 1.04, 1.05), None, path).verdict == "met"
    assert status.sigma_row(_drift(1.0099, 1.0), _spectral(1.01, 1.04, 1.5), None, path).verdict == "met"
    # without a timing for the mode the cost is unknown, so the goal is not met
    assert status.sigma_row(_drift(1.17, 0.9999), None, None, path).verdict == "missed"


def test_never_slower_reports_the_worst_row(tmp_path):
    train = {"rows": [{"model": "mnist", "method": "sn", "ratio_iter5_s": 0.80},
                      {"model": "toy", "method": "gp", "ratio_iter5_s": 1.004}]}
    row = status.never_slower_row(train, tmp_path / "train.json")
    assert (row.verdict, row.measured) == ("missed", "largest 1.004 (toy gp; 2 rows)")


def test_main_writes_the_table(tmp_path, capsys):
    _write(tmp_path / "spectral.json", _spectral(1.01, 1.04, 1.5))
    status.main(["--results", str(tmp_path)])
    text = (tmp_path / "status.md").read_text()
    assert "| matrix-mode SN <= 1.02x an unconstrained step (width 1) | paired 1.010" in text
    assert capsys.readouterr().out.endswith("2 of 10 goals met, 7 not measured\n")


def _precision(equal: bool) -> dict:
    def run(high_quality):
        return {"curve": [{"step": 3000, "modes_covered": 8, "high_quality": high_quality, "w1_exact": 0.05}]}

    return {"fp32": {"0": run(0.60), "1": run(0.62)}, "bf16": {"0": run(0.54), "1": run(0.52)}, "equal": equal}


def test_bf16_goal_checks_that_the_presets_follow_the_measurement(tmp_path):
    # the comparison presets are fp32: right when bf16 was not equal, wrong when it was
    for equal, verdict in ((False, "met"), (True, "missed")):
        for method in ("gp", "clip"):
            _write(tmp_path / f"precision-{method}-ring8.json", _precision(equal))
        rows = status.bf16_rows(tmp_path)
        assert [r.verdict for r in rows] == [verdict, verdict]
    assert rows[1].measured == ("high-quality share fp32 vs bf16 0.600/0.620 vs 0.540/0.520; equal; "
                                "tuned presets: mnist fp32, ring8 fp32")


def test_a_corrupt_result_file_is_one_clear_error(tmp_path):
    (tmp_path / "spectral.json").write_text('{"width": 1.0, "resu')
    with pytest.raises(SystemExit, match=r"spectral.json is not a benchmark's JSON .*re-run the benchmark"):
        status.main(["--results", str(tmp_path)])
