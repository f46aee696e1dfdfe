"""sngan.Run, load_generator, load_critic: a trained run opened from its directory gives exactly what
the trainer had (same samples for the same noise, same critic scores), and reading changes nothing."""

import json

import pytest
import torch

import sngan
from conftest import DEVICES
from sngan.errors import CheckpointError, UserError
from sngan.train import Trainer, resolve, sampling


@pytest.fixture(scope="module", params=DEVICES)
def mnist_run(tmp_path_factory, request):
    """A tiny MNIST run with an EMA generator (BatchNorm re-estimated) and SN in operator mode, trained on
    each device present; the tests load it onto the same device."""
    cfg = resolve("sn", "mnist", "tiny", {"ema": 0.99, "sn_mode": "operator", "steps": 4, "ckpt_every": 2,
                                          "device": request.param})
    run_dir = tmp_path_factory.mktemp("runs") / "sn"
    trainer = Trainer(cfg, run_dir)
    trainer.fit()
    return trainer, run_dir


def test_load_generator_equals_the_trainers_own_sampling(mnist_run):
    trainer, run_dir = mnist_run
    z = sampling.eval_noise(trainer.cfg, 32).to(trainer.device)
    G = sngan.load_generator(run_dir, device=trainer.device)
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    torch.testing.assert_close(G(z), trainer.sample(32), rtol=0, atol=0)  # EMA generator, same BatchNorm
    raw = sngan.load_generator(run_dir, ema=False, device=trainer.device)
    torch.testing.assert_close(raw(z), sampling.generate(trainer.generator, z), rtol=0, atol=0)
    assert not torch.equal(G(z), raw(z))  # the EMA copy is a different generator


def test_load_critic_scores_as_the_trainers_critic(mnist_run):
    trainer, run_dir = mnist_run
    x = (torch.rand(8, 1, 28, 28) * 2 - 1).to(trainer.device)
    D = sngan.load_critic(run_dir, device=trainer.device)
    trainer.critic.eval()
    with torch.no_grad():
        torch.testing.assert_close(D(x), trainer.critic(x), rtol=0, atol=0)
    # operator-mode SN: the loaded critic's layers know their input shapes (certify works on it)
    assert sngan.lipschitz.upper_bound(D, (1, 28, 28)) > 0


def test_run_gives_config_log_status_checkpoints_and_metrics(mnist_run):
    trainer, run_dir = mnist_run
    run = sngan.Run(run_dir)
    assert run.config == trainer.cfg
    assert run.status == {"status": "finished", "step": 4, "steps": 4}
    assert [row["step"] for row in run.log] == [1, 2, 3, 4]
    assert run.checkpoints == [2, 4] and run.step == 4
    assert run.metrics is None
    (run_dir / "metrics.json").write_text(json.dumps({"metrics": {"fid": 12.5}}))
    assert run.metrics == {"metrics": {"fid": 12.5}}
    (run_dir / "metrics.json").unlink()
    older = run.generator(step=2)
    assert not torch.equal(older(sampling.noise(4, 128, 0)), run.generator()(sampling.noise(4, 128, 0)))


def test_reading_a_run_writes_nothing(mnist_run):
    _, run_dir = mnist_run
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    run = sngan.Run(run_dir)
    run.generator(), run.critic(), run.log, run.status
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


def test_bad_run_directories_are_one_clear_error(tmp_path, mnist_run):
    with pytest.raises(UserError, match="no such run directory"):
        sngan.Run(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a run directory"):
        sngan.Run(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a run directory"):
        sngan.Run(tmp_path / "empty")
    bad = tmp_path / "garbage"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        sngan.Run(bad)
    (bad / "config.json").write_text('{"method": "sn"}')
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        sngan.Run(bad).generator()
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 3 \(checkpoints: 2, 4\)"):
        sngan.Run(mnist_run[1]).generator(step=3)
