"""sngan's training steps compute what the plain reference script (benchmarks/reference.py) computes, so
the speed comparison in benchmarks/bench_train.py compares equal work. Same weights, same random
stream, same batch: the losses and the updated weights agree to float rounding. (SGD here: Adam's
first step divides by |g|, which turns rounding-level gradient differences into ±lr.)"""

import copy
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.utils import parametrize

from sngan.models import ToyCritic
from sngan.train import Trainer, resolve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reference import ReferenceWGAN  # noqa: E402


def _pair(method, tmp_path, device="cpu"):
    cfg = resolve(method, "ring8", "same-budget", {"hidden": 32, "batch_size": 32, "n_critic": 1,
                                                   "optimizer": "sgd", "lr_d": 0.05, "lr_g": 0.05, "device": device,
                                                   "sample_every": 0, "diag_every": 0, "ckpt_every": 0})
    tr = Trainer(cfg, tmp_path / method)
    D = ToyCritic(cfg.hidden).to(tr.device)  # the same weights, without sngan's parametrization
    D.load_state_dict({k.replace("parametrizations.weight.original", "weight"): v
                       for k, v in tr.critic.state_dict().items() if ".parametrizations.weight.0." not in k})
    ref = ReferenceWGAN(method, copy.deepcopy(tr.generator), D, cfg.latent_dim, cfg.batch_size,
                        clip_value=cfg.clip_value, gp_weight=cfg.gp_weight, data=tr.data)
    ref.opt_d = torch.optim.SGD(ref.D.parameters(), lr=cfg.lr_d)
    ref.opt_g = torch.optim.SGD(ref.G.parameters(), lr=cfg.lr_g)
    if method == "sn":  # torch's parametrization starts from its own u, v: give it sngan's
        for ours, theirs in zip(tr.critic, ref.D):
            if parametrize.is_parametrized(theirs, "weight"):
                theirs.parametrizations.weight[0]._u.copy_(ours.parametrizations.weight[0].u)
                theirs.parametrizations.weight[0]._v.copy_(ours.parametrizations.weight[0].v)
    return tr, ref


def _critic_weights(D):
    return [m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            for m in D if hasattr(m, "weight")]


@pytest.mark.parametrize("method", ["clip", "gp", "sn"])
def test_critic_and_generator_steps_match_the_reference(tmp_path, method, device):
    tr, ref = _pair(method, tmp_path, device)
    assert next(ref.D.parameters()).device == tr.device == ref.device
    real = next(tr.sampler)
    torch.manual_seed(123)  # seeds the CPU and every CUDA generator
    ours = tr.critic_step(real)
    torch.manual_seed(123)
    if method == "sn":
        # The reference recomputes W/σ (one power iteration) on every forward; sngan once per critic
        # step. Under parametrize.cached() the reference does the latter, and the two agree.
        with parametrize.cached():
            theirs = ref.critic_step(real)
    else:
        theirs = ref.critic_step(real)
    assert ours["loss_d"] + ours["penalty"] == pytest.approx(theirs, rel=1e-5, abs=1e-6)
    if method == "gp":
        assert ours["penalty"] > 0
    for a, b in zip(_critic_weights(tr.critic), _critic_weights(ref.D)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    if method == "clip":
        assert max(p.abs().max().item() for p in tr.critic.parameters()) <= tr.cfg.clip_value
    if method == "sn":
        return  # the generator step differs on purpose: sngan moves u only in critic steps
    torch.manual_seed(7)
    g_ours = tr.generator_step()
    torch.manual_seed(7)
    g_theirs = ref.generator_step()
    assert g_ours == pytest.approx(g_theirs, rel=1e-5, abs=1e-6)
    for a, b in zip(tr.generator.parameters(), ref.G.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
