import re
import subprocess
import sys


def test_certify_demo_shows_matrix_sn_is_not_1_lipschitz_and_operator_sn_is():
    res = subprocess.run([sys.executable, "-m", "sngan", "certify", "--width", "0.125", "--ascent-steps", "2"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    bounds = dict(re.findall(r"spectral_norm\(mode='(\w+)'\)[\s\S]*?certified bound \(product of operator σ\): "
                             r"([\d.]+)", res.stdout))
    assert float(bounds["operator"]) <= 1.02
    assert float(bounds["matrix"]) > 2.0 and float(bounds["exact"]) > 2.0
    ratios = [float(r) for r in re.findall(r"Conv2d\s+\S+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", res.stdout)]
    assert ratios and min(ratios) >= 1.0 and max(ratios) > 2.0  # operator σ / reshaped-kernel σ per conv layer
