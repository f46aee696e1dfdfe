import json

import pytest
import torch

import sngan.device
from sngan.errors import ConfigError
from sngan.train.config import PAPER_PRESETS, parse_overrides, preset_values, resolve


def test_paper_presets_follow_the_papers():
    clip = resolve("clip", "mnist")
    assert (clip.optimizer, clip.lr_d, clip.clip_value, clip.n_critic) == ("rmsprop", 5e-5, 0.01, 5)
    gp = resolve("gp", "mnist")
    assert (gp.optimizer, gp.lr_d, gp.beta1, gp.beta2, gp.gp_weight, gp.n_critic) == ("adam", 1e-4, 0.0, 0.9, 10, 5)
    sn = resolve("sn", "mnist")
    assert (sn.lr_d, sn.beta1, sn.beta2, sn.n_critic, sn.n_power_iterations) == (2e-4, 0.5, 0.999, 1, 1)
    sn5 = resolve("sn", "mnist", "sn-ndis5")
    assert (sn5.lr_d, sn5.beta1, sn5.beta2, sn5.n_critic) == (1e-4, 0.5, 0.9, 5)
    assert sn.latent_dim == 128 and resolve("sn", "ring8").latent_dim == 2


def test_same_budget_differs_only_in_the_method():
    cfgs = [resolve(m, "mnist", "same-budget").to_dict() for m in ("clip", "gp", "sn")]
    for c in cfgs:
        c.pop("method")
    assert cfgs[0] == cfgs[1] == cfgs[2]


def test_tuned_presets_are_the_tuning_results_on_one_shared_base():
    from sngan.study.tuning import tuning_results
    from sngan.train.config import TUNED, TUNED_BASE

    for ds, group in (("mnist", "mnist"), ("ring8", "toy"), ("grid25", "toy")):
        shared = None
        for method, loss in (("clip", "wasserstein"), ("gp", "wasserstein"), ("sn", "wasserstein"), ("sn", "hinge")):
            cfg = resolve(method, ds, "tuned", loss=loss)
            label = "sn-hinge" if loss == "hinge" else f"{method}-{loss}"
            assert (cfg.method, cfg.loss, cfg.preset) == (method, loss, "tuned")
            for key, value in {**TUNED_BASE[group], **TUNED[group][label]}.items():
                assert getattr(cfg, key) == value, (ds, label, key)
            base = {k: getattr(cfg, k) for k in ("width", "hidden", "batch_size", "beta2", "ema", "optimizer")}
            assert shared is None or base == shared  # only the tuned values differ between methods
            shared = base
    # the presets are the committed tuning's best points (ring8's serve every toy dataset)
    best = tuning_results().get("best", {})
    for ds, group in (("mnist", "mnist"), ("ring8", "toy")):
        for label, b in best.get(ds, {}).items():
            assert TUNED[group][label] == b["config"], (ds, label)
    with pytest.raises(ConfigError, match="preset tuned has settings for"):
        resolve("none", "mnist", "tuned")
    with pytest.raises(ConfigError, match="preset tuned has settings for"):
        resolve("sn", "cifar10", "tuned")


def test_overrides_are_typed_and_validated():
    cfg = resolve("gp", "ring8", overrides=parse_overrides(["lr_d=2e-4", "ema=0.999", "steps=1e3",
                                                            "gp_one_sided=true"]))
    assert (cfg.lr_d, cfg.ema, cfg.steps, cfg.gp_one_sided) == (2e-4, 0.999, 1000, True)
    json.loads(cfg.to_json())


@pytest.mark.parametrize("item,match", [
    ("lr=1", "unknown config key 'lr'"),
    ("lr_d=abc", "expected float"),
    ("lr_d=nan", "finite"),
    ("lr_d=-1", "lr_d=-1.0"),
    ("steps=0", "steps=0"),
    ("steps=1.5", "expected int"),
    ("ema=1", "ema=1.0"),
    ("sn_mode=svd", "sn_mode"),
    ("sn_solver=krylov", r"sn_solver='krylov': choose power or lanczos"),
    ("novalue", "key=value"),
    ("gp_one_sided=maybe", "expected bool"),
    ("lr_decay_start=-1", r"lr_decay_start=-1: must be >= 0"),
    ("lr_decay_floor=1.5", r"lr_decay_floor=1.5: must be in \[0, 1\]"),
    ("width_g=-0.5", r"width_g=-0.5: must be 0 \(= width\)"),
])
def test_bad_overrides_are_config_errors(item, match):
    with pytest.raises(ConfigError, match=match):
        resolve("gp", "ring8", overrides=parse_overrides([item]))


def test_unknown_names():
    with pytest.raises(ConfigError, match="preset"):
        preset_values("fast", "gp", "ring8")
    with pytest.raises(ConfigError, match="method"):
        resolve("wgan", "ring8")
    with pytest.raises(ConfigError, match="sn-ndis5"):
        resolve("gp", "ring8", "sn-ndis5")
    assert set(PAPER_PRESETS) >= {"clip", "gp", "sn"}


def test_sn_fast_preset(monkeypatch):
    import sngan.train.config as config

    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(config, "native_bf16", lambda native=native: native)
        cfg = resolve("sn", "mnist", "sn-fast", overrides={"device": "cpu"})  # CUDA: the next test
        assert (cfg.loss, cfg.n_critic, cfg.precision) == ("hinge", 1, expected)
        # MNIST: the faster recipe of benchmarks/results/quality*.md; the toys keep the common one
        assert (cfg.batch_size, cfg.lr_d, cfg.lr_g, cfg.beta1, cfg.beta2) == (32, 3e-3, 3e-3, 0.0, 0.999)
        assert (cfg.ema, cfg.steps, cfg.width, cfg.generator_width) == (0.9999, 75000, 0.125, 0.25)
        assert (cfg.lr_schedule, cfg.lr_decay_start, cfg.lr_decay_floor) == ("linear", 45000, 0.0)
        assert cfg.reuse_fakes
        toy = resolve("sn", "ring8", "sn-fast", overrides={"device": "cpu"})
        assert (toy.batch_size, toy.lr_d, toy.beta1, toy.ema, toy.precision) == (256, 1e-3, 0.5, 0.999, expected)
        assert not toy.reuse_fakes
    assert resolve("sn", "mnist", "sn-fast", overrides={"precision": "fp32"}).precision == "fp32"
    assert resolve("sn", "mnist", "sn-fast", overrides={"steps": 3000}).lr_decay_start == 45000  # runs, constant
    with pytest.raises(ConfigError, match="preset sn-fast is for method sn"):
        resolve("gp", "mnist", "sn-fast")


def test_native_bf16_reads_the_cpu_flags(tmp_path):
    from sngan.train.config import native_bf16

    def cpuinfo(flags):
        path = tmp_path / f"cpuinfo-{len(flags)}"
        path.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {' '.join(flags)}\n\nprocessor\t: 1\n")
        return str(path)

    assert native_bf16(cpuinfo(["fpu", "avx512f", "avx512_bf16"]))
    assert native_bf16(cpuinfo(["fpu", "amx_tile", "amx_bf16"]))
    assert not native_bf16(cpuinfo(["fpu", "avx512f", "avx512bw"]))  # bf16 would be emulated
    assert not native_bf16(cpuinfo(["avx512_bf16x"]))  # whole flags only
    assert not native_bf16(str(tmp_path / "missing"))


def test_precision_auto_resolves_wherever_a_config_is_made(monkeypatch):
    import sngan.train.config as config

    monkeypatch.setattr(config, "native_bf16", lambda: True)
    assert config.TrainConfig(precision="auto", device="cpu").precision == "bf16"
    as_dict = {**config.TrainConfig(device="cpu").to_dict(), "precision": "auto"}
    assert config.from_dict(as_dict).precision == "bf16"
    monkeypatch.setattr(config, "native_bf16", lambda: False)
    assert config.TrainConfig(precision="auto", device="cpu").precision == "fp32"
    # on a GPU the rule is the GPU's (compute capability >= 8.0), whatever the CPU has
    for capable in (True, False):
        monkeypatch.setattr(sngan.device, "cuda_bf16", lambda device, capable=capable: capable)
        for device in ("cuda", "cuda:1"):
            assert config.TrainConfig(precision="auto", device=device).precision == ("bf16" if capable else "fp32")


def test_cuda_bf16_is_compute_capability_8(monkeypatch):
    monkeypatch.setattr(sngan.device, "available", lambda: ["cpu", "cuda", "cuda:0"])
    for capability, expected in (((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0, c=capability: c)
        assert sngan.device.cuda_bf16("cuda") is expected and sngan.device.cuda_bf16("cuda:0") is expected
    assert sngan.device.cuda_bf16("cuda:1") is False  # not on this machine
    assert sngan.device.cuda_bf16("cpu") is False
