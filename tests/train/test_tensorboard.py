"""--set tensorboard=true: the event files hold the numbers of log.jsonl and the sample images, and a
resumed run's event stream equals an uninterrupted one's (steps past the checkpoint are purged)."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the dev extra has it

from sngan.train import Trainer, resolve
from sngan.train.tensorboard import scalars


def read_events(run_dir):
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_event_files_hold_the_logs_values_and_the_sample_grids(tmp_path, device):
    cfg = resolve("sn", "mnist", "tiny", {"tensorboard": True, "steps": 4, "device": device})
    Trainer(cfg, tmp_path / "run").fit()
    from sngan import Run

    log = Run(tmp_path / "run").log
    events = read_events(tmp_path / "run")
    expected = {}
    for row in log:
        for tag, value in scalars(row):
            expected.setdefault(tag, []).append((row["step"], value))
    assert {"loss_d", "loss_g", "w1_estimate", "penalty", "grad_norm_real_mean", "sigma/2/operator",
            "sigma/2/matrix", "sigma/2/estimate", "lipschitz_upper"} <= set(expected)
    assert set(events.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag
        for (_, a), (_, b) in zip(got, points):
            assert a == pytest.approx(b, rel=1e-6, abs=1e-30), tag  # event files store float32
    images = events.Images("samples")
    assert [im.step for im in images] == [0, 2, 4]  # sample_every=2, and the grid before training
    assert images[0].width == 8 * 30 + 2


def test_resumed_run_purges_the_steps_after_its_checkpoint(tmp_path, device):
    cfg = resolve("gp", "ring8", "tiny", {"tensorboard": True, "steps": 6, "ckpt_every": 3, "device": device})
    Trainer(cfg, tmp_path / "a").fit()
    # b: trained to step 5, which is after its last checkpoint (3), then resumed to 6
    t = Trainer(resolve("gp", "ring8", "tiny", {"tensorboard": True, "steps": 5, "ckpt_every": 3, "device": device}),
                tmp_path / "b")
    t.fit()
    import shutil

    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step-00000005")
    Trainer(cfg, tmp_path / "b", resume=True).fit()
    a, b = read_events(tmp_path / "a"), read_events(tmp_path / "b")
    for tag in ("loss_d", "w1_estimate"):
        assert [(e.step, e.value) for e in a.Scalars(tag)] == [(e.step, e.value) for e in b.Scalars(tag)]


def test_missing_tensorboard_package_is_one_clear_error_before_anything_is_written(tmp_path, monkeypatch):
    import builtins

    from sngan.errors import ConfigError

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ConfigError, match=r"pip install 'sngan\[tensorboard\]'"):
        Trainer(resolve("sn", "ring8", "tiny", {"tensorboard": True}), tmp_path / "run")
    assert not (tmp_path / "run").exists()
