import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from sngan.metrics.evaluator import META, WEIGHTS, weights_meta

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_training_script_reproduces_the_shipped_weights(tmp_path):
    """scripts/train_evaluator.py (seed 0, 1 thread, 4 epochs) rebuilds the shipped file bit for bit."""
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_evaluator.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-2000:]
    digest = hashlib.sha256((tmp_path / WEIGHTS).read_bytes()).hexdigest()
    assert digest == weights_meta()["sha256"]
    assert (tmp_path / META).exists()
