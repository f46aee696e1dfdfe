import re

from sngan.cli import main


def test_certify_demo_shows_matrix_sn_is_not_1_lipschitz_and_operator_sn_is(capsys):
    # in this process: the command's own code, without a second interpreter's start (`sngan certify | head -1`
    # in test_new_user runs it as a process)
    assert main(["certify", "--width", "0.125", "--ascent-steps", "2"]) == 0
    stdout = capsys.readouterr().out
    bounds = dict(re.findall(r"spectral_norm\(mode='(\w+)'\)[\s\S]*?certified bound \(product of operator σ\): "
                             r"([\d.]+)", stdout))
    assert float(bounds["operator"]) <= 1.02
    assert float(bounds["matrix"]) > 2.0 and float(bounds["exact"]) > 2.0
    ratios = [float(r) for r in re.findall(r"Conv2d\s+\S+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", stdout)]
    assert ratios and min(ratios) >= 1.0 and max(ratios) > 2.0  # operator σ / reshaped-kernel σ per conv layer
