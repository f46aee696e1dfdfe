"""The device is decided in one place and passed down: no sngan code relies on torch's default device
(the usual way GPU support breaks: a tensor made on the CPU by default meets one on the GPU). CI has no
GPU, so this is checked on the CPU by watching every tensor factory sngan calls; the same training,
resume and evaluation tests run on CUDA wherever ``torch.cuda.is_available()``."""

import inspect
import json
import os
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

import sngan
from conftest import DEVICES
from sngan.train import Trainer, resolve

SRC = str(Path(sngan.__file__).parent)
FACTORIES = {torch.randn, torch.rand, torch.randint, torch.randperm, torch.zeros, torch.ones, torch.empty,
             torch.full, torch.arange, torch.linspace, torch.eye, torch.tensor, torch.normal}


class DefaultDeviceWatch(TorchFunctionMode):
    """Records every tensor factory called from sngan's own code without an explicit ``device=``."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        caller = inspect.currentframe().f_back.f_code.co_filename
        if func in FACTORIES and "device" not in kwargs and "/torch/optim/" not in caller:
            # (torch's optimizers place their own step counters: a CPU scalar unless fused, by design)
            frame = inspect.currentframe().f_back
            while frame is not None and not frame.f_code.co_filename.startswith(SRC):
                if "/torch/" not in frame.f_code.co_filename and "tests" in frame.f_code.co_filename:
                    break  # the test's own calls
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(SRC):
                self.calls.append(f"{func.__name__} at {os.path.relpath(frame.f_code.co_filename, SRC)}:"
                                  f"{frame.f_lineno}")
        return func(*args, **kwargs)


def test_training_evaluation_and_sampling_never_use_the_default_device(tmp_path):
    from sngan.metrics import training_evaluator
    from sngan.metrics.run import evaluate_run
    from sngan.train.run import Run, export_samples

    overrides = {"ema": 0.99, "eval_every": 2, "eval_samples": 64, "sn_mode": "operator"}
    method = "sn"  # MNIST: SN's buffers, the EMA generator's BatchNorm, the evaluator; toys: GP's interpolates
    cfg = resolve(method, "mnist", "tiny", overrides)
    watch = DefaultDeviceWatch()
    with watch:
        Trainer(cfg, tmp_path / "run", evaluate=training_evaluator(cfg)).fit()
        Trainer(resolve(method, "mnist", "tiny", overrides, steps=6), tmp_path / "run", resume=True).fit()
        evaluate_run(tmp_path / "run", n_samples=64)
        export_samples(Run(tmp_path / "run"), tmp_path / "s.npz", 16)
        toy = resolve("gp", "ring8", "tiny", {"eval_every": 2, "eval_samples": 64})
        Trainer(toy, tmp_path / "toy", evaluate=training_evaluator(toy)).fit()
        evaluate_run(tmp_path / "toy", n_samples=64)
    assert watch.calls == [], sorted(set(watch.calls))


def test_config_records_the_device_that_ran(tmp_path):
    cfg = resolve("sn", "ring8", "tiny")
    assert cfg.device == ("cuda" if torch.cuda.is_available() else "cpu")  # auto, resolved
    Trainer(cfg, tmp_path / "run").fit()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["device"] == cfg.device


@pytest.mark.parametrize("device", [d for d in ("cuda", "cuda:3", "mps") if d not in sngan.device.available()]
                         + ["gpu", "cuda:x"])
def test_a_device_that_does_not_exist_is_one_line_and_writes_nothing(tmp_path, capsys, device):
    from sngan.cli import main

    run = tmp_path / "trained"
    Trainer(resolve("sn", "ring8", "tiny"), run).fit()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for argv in (["train", "--method", "sn", "--dataset", "ring8", "--preset", "tiny", "--out", str(tmp_path / "r")],
                 ["train", "--resume", "--out", str(run)], ["eval", str(run)],
                 ["sample", str(run), "--out", str(tmp_path / "s.png")], ["certify"],
                 ["study", "--preset", "tiny", "--out", str(tmp_path / "st")]):
        assert main([*argv, "--device", device]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("sngan: error: "), err
        assert "cpu" in err  # names the devices that exist (or the accepted forms)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_resume_is_bit_exact_on_each_device(tmp_path, device):
    from safetensors.torch import load_file

    from sngan.train.checkpoint import list_checkpoints

    cfg = resolve("gp", "ring8", "tiny", {"device": device}, steps=6)
    Trainer(cfg, tmp_path / "a").fit()
    Trainer(resolve("gp", "ring8", "tiny", {"device": device}, steps=3), tmp_path / "b").fit()
    Trainer(cfg, tmp_path / "b", resume=True).fit()
    a, b = (load_file(str(list_checkpoints(tmp_path / r)[-1] / "tensors.safetensors")) for r in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert ("rng.cuda" in a) == (device == "cuda")  # the device generator's state travels with the run


def test_resumed_optimizer_moments_take_their_parameters_layout(tmp_path, device):
    """Checkpoints store contiguous tensors; the channels-last conv weights' Adam moments must come back
    channels-last (CUDA's fused Adam refuses moments whose strides differ from the parameter's)."""
    Trainer(resolve("sn", "mnist", "tiny", {"device": device}, steps=2), tmp_path / "run").fit()
    t = Trainer(resolve("sn", "mnist", "tiny", {"device": device}, steps=4), tmp_path / "run", resume=True)
    convs = [p for p in t.critic.parameters() if p.ndim == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert any(not p.is_contiguous() for p in convs)  # (a 1-channel kernel is both)
    for opt in (t.opt_d, t.opt_g):
        for p in (q for group in opt.param_groups for q in group["params"]):
            state = opt.state[p]
            assert state["exp_avg"].stride() == state["exp_avg_sq"].stride() == p.stride()
            assert state["exp_avg"].device == p.device and state["exp_avg"].dtype == p.dtype
    t.fit()
    assert t.step == 4


@pytest.mark.parametrize("first,second", [(a, b) for a in DEVICES for b in DEVICES])
def test_a_run_trained_on_one_device_resumes_on_each(tmp_path, first, second):
    """Every pair of the devices present (on a CPU-only machine: cpu -> cpu). The same device: bit-identical
    to the uninterrupted run. Another device: a warning, the run finishes there, config.json says so."""
    from safetensors.torch import load_file

    from sngan.train.checkpoint import list_checkpoints

    def cfg(device, steps):
        return resolve("sn", "mnist", "tiny", {"device": device, "ema": 0.9}, steps=steps)

    Trainer(cfg(first, 6), tmp_path / "whole").fit()
    Trainer(cfg(first, 3), tmp_path / "moved").fit()
    if first == second:
        Trainer(cfg(second, 6), tmp_path / "moved", resume=True).fit()
    else:
        with pytest.warns(UserWarning, match=f"checkpointed on {first} and resumes on {second}"):
            Trainer(cfg(second, 6), tmp_path / "moved", resume=True).fit()
    assert json.loads((tmp_path / "moved" / "config.json").read_text())["device"] == second
    a, b = (load_file(str(list_checkpoints(tmp_path / r)[-1] / "tensors.safetensors")) for r in ("whole", "moved"))
    assert all(v.device.type == "cpu" for v in b.values())
    assert ("rng.cuda" in b) == (second == "cuda")  # the generator state of the device that ran last
    assert a.keys() - {"rng.cuda"} == b.keys() - {"rng.cuda"}
    for k in a.keys() & b.keys():
        if first == second:
            assert torch.equal(a[k], b[k]), k
        elif k.startswith(("critic.", "generator")) and b[k].is_floating_point():
            assert torch.isfinite(b[k]).all(), k


def test_a_checkpoint_moves_between_devices(tmp_path):
    """Checkpoints hold CPU tensors: a run resumes on another device with `--resume --device` (on a CPU-only
    machine: a run left as a GPU run leaves it — config.json says cuda, the checkpoint holds the CUDA
    generator's state — continues on the CPU, with a warning that the noise stream cannot be carried over,
    and config.json then records the device that ran)."""
    from safetensors.torch import load_file, save_file

    from sngan.cli import main
    from sngan.train.checkpoint import list_checkpoints

    run = tmp_path / "a"
    Trainer(resolve("sn", "ring8", "tiny", {"device": "cpu"}, steps=4), run).fit()
    last = list_checkpoints(run)[-1]
    tensors = load_file(str(last / "tensors.safetensors"))
    assert all(t.device.type == "cpu" for t in tensors.values())
    tensors["rng.cuda"] = torch.zeros(16, dtype=torch.uint8)  # as a GPU run would have stored
    save_file(tensors, str(last / "tensors.safetensors"))
    state = json.loads((last / "state.json").read_text())
    import hashlib

    state["tensors_sha256"] = hashlib.sha256((last / "tensors.safetensors").read_bytes()).hexdigest()
    (last / "state.json").write_text(json.dumps(state))
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "device": "cuda"}))
    with pytest.warns(UserWarning, match="checkpointed on cuda and resumes on cpu"):
        assert main(["train", "--out", str(run), "--resume", "--device", "cpu", "--steps", "6"]) == 0
    assert json.loads((run / "status.json").read_text())["step"] == 6
    assert json.loads((run / "config.json").read_text())["device"] == "cpu"


def test_the_watch_sees_a_factory_without_a_device_in_sngan_code():
    watch = DefaultDeviceWatch()
    with watch:
        exec(compile("torch.zeros(2); torch.zeros(2, device='cpu')", os.path.join(SRC, "example.py"), "exec"),
             {"torch": torch})
        torch.zeros(2)  # the test's own call is not sngan's
    assert watch.calls == ["zeros at example.py:1"]
