import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from torch.nn.utils import parametrize

from sngan.errors import CheckpointError, TrainingDiverged, UserError
from sngan.train import Trainer, resolve
from sngan.train.checkpoint import list_checkpoints
from sngan.train.logging import read_log_lines


def tiny(method, dataset="ring8", **kw):
    return resolve(method, dataset, "tiny", overrides=kw)


@pytest.mark.parametrize("dataset", ["ring8", "grid25", "swissroll", "mnist"])
@pytest.mark.parametrize("method", ["clip", "gp", "sn", "none"])
def test_two_step_smoke(tmp_path, method, dataset, device):
    cfg = tiny(method, dataset, steps=2, n_critic=2, device=device)
    last = Trainer(cfg, tmp_path / "run").fit()
    log = read_log_lines(tmp_path / "run" / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2] and last["step"] == 2
    for key in ("loss_d", "loss_g", "w1_estimate", "penalty", "sec_critic_step", "sec_gen_step"):
        assert key in log[0]
    assert log[1]["w1_estimate"] == pytest.approx(-log[1]["loss_d"]) if cfg.loss == "wasserstein" else True
    diag = log[1]
    assert set(diag["sigma"]) and all({"matrix", "operator"} <= set(v) for v in diag["sigma"].values())
    if method == "sn":
        assert all("estimate" in v for v in diag["sigma"].values())
    if method == "gp":
        assert log[0]["penalty"] > 0
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "finished"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method"] == method
    assert (tmp_path / "run" / "samples" / "step-00000002.png").exists()


def _weights(run):
    return load_file(str(list_checkpoints(run)[-1] / "tensors.safetensors"))


@pytest.mark.parametrize("method", ["gp", "sn", "clip"])
def test_resume_equals_uninterrupted(tmp_path, method, device):
    full = tiny(method, steps=8, ema=0.9, ckpt_every=3, device=device)
    Trainer(full, tmp_path / "a").fit()
    Trainer(tiny(method, steps=5, ema=0.9, ckpt_every=3, device=device), tmp_path / "b").fit()
    Trainer(full, tmp_path / "b", resume=True).fit()
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert set(wa) == set(wb)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)
    la, lb = read_log_lines(tmp_path / "a" / "log.jsonl"), read_log_lines(tmp_path / "b" / "log.jsonl")
    assert [r["step"] for r in lb] == list(range(1, 9))
    for ra, rb in zip(la, lb):
        for key in ("loss_d", "loss_g", "w1_estimate", "penalty"):
            assert ra[key] == rb[key], (ra["step"], key)


def test_resume_truncates_log_after_the_checkpoint(tmp_path):
    run = tmp_path / "r"
    Trainer(tiny("sn", steps=4, ckpt_every=2), run).fit()
    # pretend the run died after step 4's checkpoint... but wrote two more log lines
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 5}) + "\n" + '{"step": 6, "loss')
    Trainer(tiny("sn", steps=6, ckpt_every=2), run, resume=True).fit()
    assert [r["step"] for r in read_log_lines(run / "log.jsonl")] == [1, 2, 3, 4, 5, 6]


def test_never_overwrites_and_resume_needs_a_checkpoint(tmp_path):
    run = tmp_path / "r"
    Trainer(tiny("gp", steps=2), run).fit()
    with pytest.raises(UserError, match="--resume"):
        Trainer(tiny("gp", steps=2), run)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        Trainer(tiny("gp", steps=2), tmp_path / "empty", resume=True)
    with pytest.raises(UserError, match="lr_d"):
        Trainer(tiny("gp", steps=2, lr_d=1e-3), run, resume=True)


def test_keeps_the_last_two_checkpoints(tmp_path):
    run = tmp_path / "r"
    Trainer(tiny("sn", steps=8, ckpt_every=2), run).fit()
    assert [p.name for p in list_checkpoints(run)] == ["step-00000006", "step-00000008"]


def test_nan_guard_names_step_and_term_and_keeps_checkpoint(tmp_path, device):
    run = tmp_path / "r"
    cfg = tiny("gp", steps=50, ckpt_every=1, n_critic=1, device=device)
    trainer = Trainer(cfg, run)
    # corrupt data arrives after step 3: the guard must stop at step 3 and keep the checkpoint
    stop = trainer.critic_step

    def poisoned(real, **kw):
        if trainer.step == 3:
            real = real.clone()
            real[0, 0] = float("nan")
        return stop(real, **kw)

    trainer.critic_step = poisoned
    with pytest.raises(TrainingDiverged, match=r"step 4: the critic loss \(wasserstein\) is nan"):
        trainer.fit()
    assert json.loads((run / "status.json").read_text())["status"] == "diverged"
    assert [p.name for p in list_checkpoints(run)] == ["step-00000002", "step-00000003"]
    for v in _weights(run).values():
        assert torch.isfinite(v.float()).all()


@pytest.mark.slow
def test_sigint_writes_a_checkpoint_and_resume_matches(tmp_path):
    args = [sys.executable, "-m", "sngan", "train", "--method", "gp", "--dataset", "ring8", "--preset", "tiny",
            "--set", "threads=1", "--set", "ckpt_every=1000", "--set", "sample_every=0", "--set", "diag_every=0"]
    straight = subprocess.run(args + ["--steps", "400", "--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    proc = subprocess.Popen(args + ["--steps", "400", "--out", str(tmp_path / "b")], stderr=subprocess.PIPE, text=True)
    log = tmp_path / "b" / "log.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and len(read_log_lines(log)) < 20:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130  # signalled after step 20 of 400: the run cannot have finished
    assert "--resume" in err and "Traceback" not in err
    assert json.loads((tmp_path / "b" / "status.json").read_text())["status"] == "interrupted"
    resumed = subprocess.run(args + ["--steps", "400", "--out", str(tmp_path / "b"), "--resume"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)


def test_cli_errors_are_one_line(tmp_path, capsys):
    # the command's own code in this process (test_cli's end-to-end test runs such errors as processes)
    from sngan.cli import main

    for extra, needle in [
        (("--method", "gp", "--dataset", "ring8", "--set", "lr=1"), "unknown config key"),
        (("--method", "gp", "--dataset", "ring8", "--set", "lr_d=x"), "expected float"),
        (("--method", "wgan", "--dataset", "ring8"), "invalid choice"),
        (("--method", "gp", "--dataset", "ring8", "--resume", "--out", str(tmp_path / "none")), "nothing to resume"),
    ]:
        assert main(["train", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err


def test_dry_run_prints_resolved_config(tmp_path, capsys):
    from sngan.cli import main

    assert main(["train", "--method", "clip", "--dataset", "mnist", "--dry-run", "--set", "clip_value=0.02"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["clip_value"] == 0.02 and cfg["optimizer"] == "rmsprop" and cfg["method"] == "clip"


def test_metrics_during_training_from_the_registry(tmp_path):
    from sngan.metrics import training_evaluator

    cfg = tiny("sn", steps=4, eval_every=2, eval_samples=200)
    Trainer(cfg, tmp_path / "r", evaluate=training_evaluator(cfg)).fit()
    log = read_log_lines(tmp_path / "r" / "log.jsonl")
    evaluated = [r for r in log if "metrics" in r]
    assert [r["step"] for r in evaluated] == [2, 4]
    m = evaluated[-1]["metrics"]
    assert 0 <= m["modes_covered"] <= 8 and 0 <= m["high_quality"] <= 1 and m["w1_exact"] > 0


def test_diagnostics_do_not_change_the_run(tmp_path, device):
    """‖∇D‖ on fakes runs the generator as in training (BatchNorm on the batch's statistics); its running
    statistics must not move, or diag_every (and where a run was interrupted) would change the result."""
    for every in (0, 1):
        Trainer(tiny("sn", "mnist", steps=4, diag_every=every, sample_every=0, device=device),
                tmp_path / f"diag{every}").fit()
    plain, measured = _weights(tmp_path / "diag0"), _weights(tmp_path / "diag1")
    assert any("running_mean" in k for k in plain)
    for k in plain:
        torch.testing.assert_close(measured[k], plain[k], rtol=0, atol=0, msg=k)
    assert sum("sigma" in r for r in read_log_lines(tmp_path / "diag1" / "log.jsonl")) == 4


def test_measuring_a_run_does_not_change_it(tmp_path, device):
    """Quality measured along a run must not move the run: an evaluation hook that builds a network (its
    random init: the MNIST evaluator's did) and draws from the global and the device's generators leaves
    the weights and losses bit-identical to those of a run that was never measured."""
    from sngan.metrics import training_evaluator

    cfg = tiny("sn", "mnist", steps=6, eval_every=2, eval_samples=64, device=device)
    measure = training_evaluator(cfg)

    def hook(trainer):
        torch.randn(3, device=trainer.device)
        torch.nn.Linear(4, 4)
        return measure(trainer)

    Trainer(cfg, tmp_path / "plain").fit()
    Trainer(cfg, tmp_path / "measured", evaluate=hook).fit()
    plain, measured = _weights(tmp_path / "plain"), _weights(tmp_path / "measured")
    for k in plain:
        torch.testing.assert_close(measured[k], plain[k], rtol=0, atol=0, msg=k)
    log_plain, log_measured = (read_log_lines(tmp_path / r / "log.jsonl") for r in ("plain", "measured"))
    assert [r["step"] for r in log_measured if "metrics" in r] == [2, 4, 6]
    assert [r["loss_d"] for r in log_measured] == [r["loss_d"] for r in log_plain]


def test_load_run_for_evaluation_touches_nothing(tmp_path):
    from sngan.train import load_run
    from sngan.train.checkpoint import CKPT_DIR

    run = tmp_path / "r"
    Trainer(tiny("sn", steps=4, ckpt_every=2), run).fit()
    # as if training were still going on: a checkpoint being written and log lines past the checkpoint
    in_progress = run / CKPT_DIR / ".step-00000005.tmp"
    in_progress.mkdir()
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 5}) + "\n")
    before = {p: p.read_bytes() for p in (run / "log.jsonl", run / "config.json")}
    t = load_run(run)
    assert t.step == 4 and in_progress.exists()
    assert {p: p.read_bytes() for p in before} == before
    with pytest.raises(RuntimeError, match="read-only"):
        t.fit()


def test_ema_warms_up_then_uses_the_configured_decay(tmp_path):
    t = Trainer(tiny("sn", "mnist", steps=3, ema=0.999), tmp_path / "run")
    before = [p.detach().clone() for p in t.generator_ema.parameters()]
    t.critic_step(next(t.sampler))
    t.step = 1
    t.generator_step()
    decay = 2.0 / 11.0  # min(0.999, (1 + step) / (10 + step)) at step 1
    for e, b, p in zip(t.generator_ema.parameters(), before, t.generator.parameters()):
        torch.testing.assert_close(e, decay * b + (1 - decay) * p, rtol=1e-6, atol=1e-7)
    t.step = 10**6  # late in training the configured decay rules
    snapshot = [p.detach().clone() for p in t.generator_ema.parameters()]
    t.generator_step()
    for e, b, p in zip(t.generator_ema.parameters(), snapshot, t.generator.parameters()):
        torch.testing.assert_close(e, 0.999 * b + 0.001 * p, rtol=1e-6, atol=1e-7)


def test_ema_samples_use_batchnorm_statistics_of_the_averaged_weights(tmp_path, device):
    t = Trainer(tiny("sn", "mnist", steps=3, ema=0.5, batch_size=16, device=device), tmp_path / "run")
    Gt, Ge = t.generator, t.generator_ema
    with torch.no_grad():
        for p in Ge.parameters():
            p.mul_(1.5)  # averaged weights differ from the training generator's
    train_stats = {k: v.clone() for k, v in Gt.state_dict().items()}
    rng_before = torch.get_rng_state()
    t.sample(8)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the training random stream is untouched
    for k, v in Gt.state_dict().items():
        assert torch.equal(v, train_stats[k]), k
    # The first BatchNorm's running mean is the exact mean of Ge.fc over the calibration noise
    # (a cumulative average of equal batches), not the training generator's statistics.
    rng = torch.Generator().manual_seed(t.cfg.seed * 7 + t.step + 31337)
    with torch.no_grad():
        h = torch.cat([Ge.fc(torch.randn(64, t.cfg.latent_dim, generator=rng).to(t.device)) for _ in range(16)])
    bn = Ge.net[0]
    expected = h.view(len(h), Ge.c1, 7, 7).mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(bn.running_mean, Gt.net[0].running_mean)
    assert bn.momentum == Gt.net[0].momentum and not Ge.training


def test_bf16_keeps_the_power_iteration_and_sigma_in_fp32(tmp_path):
    runs = {}
    for precision in ("fp32", "bf16"):
        t = Trainer(tiny("sn", "mnist", precision=precision), tmp_path / precision)
        stats = t.critic_step(next(t.sampler))
        runs[precision] = (t, stats)
    (t32, s32), (t16, s16) = runs["fp32"], runs["bf16"]
    for a, b in zip(t32.critic.modules(), t16.critic.modules()):
        if parametrize.is_parametrized(a, "weight"):
            pa, pb = a.parametrizations.weight[0], b.parametrizations.weight[0]
            for name in ("u", "v", "sigma"):
                x, y = getattr(pa, name), getattr(pb, name)
                assert y.dtype == torch.float32
                torch.testing.assert_close(y, x, rtol=0, atol=0)  # computed from the same weights, in fp32
    # the networks did run in bf16 (autocast active on the CPU), and close to fp32
    assert s16["loss_d"] != s32["loss_d"]
    assert s16["loss_d"] == pytest.approx(s32["loss_d"], rel=5e-2, abs=1e-2)


def test_bf16_gradient_penalty_is_fp32_and_close(tmp_path, device):
    out = {}
    for precision in ("fp32", "bf16"):
        t = Trainer(tiny("gp", "mnist", precision=precision, device=device), tmp_path / precision)
        real = next(t.sampler)
        torch.manual_seed(5)
        fake = t.generator(torch.randn(len(real), t.cfg.latent_dim).to(t.device)).detach()
        with t._amp():
            out[precision] = t.constraint.penalty(t.critic, real, fake)
    assert out["bf16"].dtype == torch.float32
    assert out["bf16"].item() == pytest.approx(out["fp32"].item(), rel=5e-2)


def test_linear_learning_rate_schedule_is_a_function_of_the_step(tmp_path):
    t = Trainer(tiny("sn", steps=8, lr_schedule="linear", lr_d=4e-4, lr_g=2e-4), tmp_path / "run")
    t.fit()  # runs the schedule end to end; at the last iteration (step 7 done) the scale was 1/8
    assert t.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4 / 8)
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 / 8)
    t2 = Trainer(tiny("sn", steps=8, lr_schedule="linear", lr_d=4e-4, lr_g=2e-4), tmp_path / "run2")
    t2.step = 2
    t2._set_learning_rates()
    assert t2.opt_d.param_groups[0]["lr"] == pytest.approx(3e-4)
    late = Trainer(tiny("sn", steps=8, lr_schedule="linear", lr_decay_start=4, lr_d=4e-4), tmp_path / "run4")
    for step, scale in ((0, 1.0), (4, 1.0), (5, 0.75), (7, 0.25)):
        late.step = step
        late._set_learning_rates()
        assert late.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4 * scale)
    floor = Trainer(tiny("sn", steps=8, lr_schedule="linear", lr_decay_start=4, lr_decay_floor=0.2, lr_d=4e-4),
                    tmp_path / "run5")
    for step, scale in ((3, 1.0), (4, 1.0), (6, 0.6), (8, 0.2)):
        floor.step = step
        floor._set_learning_rates()
        assert floor.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4 * scale)
    # a decay that would start at or after the end (the sn-fast preset run for fewer steps): constant
    short = Trainer(tiny("sn", steps=8, lr_schedule="linear", lr_decay_start=8, lr_d=4e-4), tmp_path / "run6")
    for step in (0, 7, 8):
        short.step = step
        short._set_learning_rates()
        assert short.opt_d.param_groups[0]["lr"] == 4e-4
    constant = Trainer(tiny("sn", steps=8, lr_d=4e-4), tmp_path / "run3")
    constant.fit()
    assert constant.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4)


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_generator_width_is_its_own_knob(dataset):
    """width_g sets the generator's channels and leaves the critic's at `width`; 0 means width for both."""
    from sngan.models import MnistCritic, MnistGenerator, ResNetCritic32, ResNetGenerator32
    from sngan.train.build import build_models

    def shapes(module):
        return [tuple(p.shape) for p in module.parameters()]

    G, D, _ = build_models(resolve("sn", dataset, "tiny", {"width": 0.25, "width_g": 0.5}))
    if dataset == "mnist":
        assert shapes(G) == shapes(MnistGenerator(128, 0.5)) and shapes(D) == shapes(MnistCritic(0.25))
    else:
        assert shapes(G) == shapes(ResNetGenerator32(128, 128, 3)) and shapes(D) == shapes(ResNetCritic32(32, 3))
    G0, _, _ = build_models(resolve("sn", dataset, "tiny", {"width": 0.25}))
    assert shapes(G0) == shapes(MnistGenerator(128, 0.25) if dataset == "mnist" else ResNetGenerator32(128, 64, 3))


@pytest.mark.parametrize("dataset", ["ring8", "mnist"])
@pytest.mark.parametrize("method", ["sn", "gp"])
def test_reuse_fakes_trains_the_generator_on_the_critic_steps_fakes(tmp_path, method, dataset, device):
    """reuse_fakes: the generator step trains on the fakes of the critic step (their graph kept), which is
    exactly the plain generator step given the critic step's noise — and one generator forward fewer."""
    def trainer(name, reuse):
        return Trainer(tiny(method, dataset, n_critic=1, reuse_fakes=reuse, device=device), tmp_path / name)

    kept, fresh = trainer("kept", True), trainer("fresh", False)
    for _ in range(3):
        real = next(kept.sampler)
        assert torch.equal(real, next(fresh.sampler))
        torch.manual_seed(11)
        kept.critic_step(real, keep_fakes=True)
        loss_kept = kept.generator_step()
        torch.manual_seed(11)
        fresh.critic_step(real)
        torch.manual_seed(11)  # the generator step draws the critic step's noise again
        loss_fresh = fresh.generator_step()
        assert loss_kept == pytest.approx(loss_fresh, rel=1e-6, abs=1e-7)
        for net in ("critic", "generator"):
            for (name, a), b in zip(getattr(kept, net).named_parameters(), getattr(fresh, net).parameters()):
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=f"{net}.{name}")

    calls = []
    for t in (kept, fresh):
        t.generator.register_forward_hook(lambda module, args, out: calls.append(module))
        t._iteration()
    assert calls.count(kept.generator) == 1 and calls.count(fresh.generator) == 2
    assert kept._kept_fakes is None  # the graph is not held past the generator step
