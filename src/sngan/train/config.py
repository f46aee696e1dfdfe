"""Training configuration: one frozen dataclass, named presets in one place, ``key=value`` overrides.

Defaults from the literature:
* WGAN, weight clipping — RMSProp 5e-5, c = 0.01, n_critic = 5 (Arjovsky et al. 2017, Algorithm 1).
* WGAN-GP — Adam 1e-4, β = (0, 0.9), λ = 10, n_critic = 5 (Gulrajani et al. 2017, Algorithm 1).
* SN-GAN — Adam 2e-4, β = (0.5, 0.999), n_dis = 1 (Miyato et al. 2018, Table 1 setting C), or
  Adam 1e-4, β = (0.5, 0.9), n_dis = 5 (setting B); one power iteration with a kept u; z dim 128.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sngan.choices import SN_MODES, SN_SOLVERS, check_device_name
from sngan.errors import ConfigError, UserError

METHODS = ("clip", "gp", "sn", "none")
LOSS_NAMES = ("wasserstein", "hinge", "bce")
DATASET_NAMES = ("mnist", "ring8", "grid25", "swissroll", "cifar10", "folder")
TOY = ("ring8", "grid25", "swissroll")
OPTIMIZERS = ("adam", "rmsprop", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    # what to train
    method: str = "sn"                  # clip | gp | sn | none
    dataset: str = "ring8"              # mnist | ring8 | grid25 | swissroll | cifar10 | folder
    loss: str = "wasserstein"           # wasserstein | hinge | bce
    data_dir: str | None = None         # IDX folder (mnist), cifar-10-batches-py, PNG folder; None = default
    image_size: int = 32                # folder datasets: resize to this
    channels: int = 3                   # folder datasets: 1 or 3
    # schedule
    steps: int = 2000                   # generator updates
    n_critic: int = 5                   # critic updates per generator update
    reuse_fakes: bool = False           # the generator step trains on the last critic step's fakes (same noise,
                                        # one generator forward fewer per iteration: the torch DCGAN example's order)
    batch_size: int = 64
    seed: int = 0
    # optimisation
    optimizer: str = "adam"             # adam | rmsprop | sgd (both nets)
    lr_d: float = 1e-4
    lr_g: float = 1e-4
    beta1: float = 0.5                  # Adam only
    beta2: float = 0.9                  # Adam only
    ema: float = 0.0                    # generator EMA decay (0 = off), e.g. 0.999
    lr_schedule: str = "constant"       # constant | linear (both learning rates decay linearly to the floor at `steps`)
    lr_decay_start: int = 0             # linear: the generator step the decay starts from (0 = the whole run;
                                        # at or past `steps`: constant, e.g. a preset's schedule cut short)
    lr_decay_floor: float = 0.0         # linear: the learning rates' fraction reached at `steps` (0 = decay to 0)
    # constraints
    clip_value: float = 0.01            # clip
    gp_weight: float = 10.0             # gp: λ
    gp_center: float = 1.0              # gp: target gradient norm
    gp_one_sided: bool = False          # gp: penalise only norms above the centre (Petzka et al. 2018)
    sn_mode: str = "matrix"             # sn: matrix | operator | exact | certified (σ <= 1 by construction)
    n_power_iterations: int = 1         # sn: power iterations (or Lanczos steps) per critic forward
    sn_solver: str = "power"            # sn matrix/operator: power | lanczos (closer σ while weights move)
    # models
    z_dim: int = 0                      # 0 = dataset default (128 images, 2 toy)
    width: float = 1.0                  # image models: channel multiplier
    width_g: float = 0.0                # image models: the generator's channel multiplier (0 = width)
    hidden: int = 512                   # toy MLPs: hidden units (3 layers)
    # logging and checkpoints (in generator steps; 0 = never, except the final checkpoint)
    diag_every: int = 100               # ‖∇D‖ on real/fake/interpolates and per-layer σ
    sample_every: int = 500             # sample grid / toy scatter
    ckpt_every: int = 500
    keep_checkpoints: int = 2
    eval_every: int = 0                 # metrics during training (sngan.metrics registry)
    eval_samples: int = 2000
    tensorboard: bool = False           # also write RUN/tensorboard event files (needs sngan[tensorboard])
    threads: int = 0                    # torch threads (0 = leave torch's default)
    precision: str = "fp32"             # fp32 | bf16 | auto (bf16 where the hardware has native bf16; resolved
                                        # when the config is made). bf16: autocast for the networks; σ, the
                                        # power iteration, penalty norms and losses stay fp32
    device: str = "auto"                # auto (CUDA when available, else CPU) | cpu | cuda | cuda:N | mps; resolved
                                        # when the config is made, so config.json records the device that ran
    channels_last: bool = True          # image models in channels-last memory layout (faster CPU convs)
    preset: str = ""                    # the preset this was resolved from (informational)

    def __post_init__(self) -> None:
        self.validate()  # first: a wrong value is refused before "auto" below waits for torch to import
        # "auto" values are resolved once, so config.json records what actually ran
        if self.device == "auto":
            from sngan.device import auto

            object.__setattr__(self, "device", auto())
        if self.precision == "auto":
            if str(self.device).startswith("cuda"):
                from sngan.device import cuda_bf16

                native = cuda_bf16(self.device)
            else:
                native = self.device == "cpu" and native_bf16()
            object.__setattr__(self, "precision", "bf16" if native else "fp32")

    # -- derived -----------------------------------------------------------------------------

    @property
    def is_toy(self) -> bool:
        return self.dataset in TOY

    @property
    def latent_dim(self) -> int:
        return self.z_dim or (2 if self.is_toy else 128)

    @property
    def generator_width(self) -> float:
        return self.width_g or self.width

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def validate(self) -> TrainConfig:
        """Raise ConfigError naming the first bad value (run as every config is made: ``__post_init__``)."""
        def need(cond: bool, key: str, what: str) -> None:
            if not cond:
                raise ConfigError(f"{key}={getattr(self, key)!r}: {what}")

        need(self.method in METHODS, "method", f"choose one of {', '.join(METHODS)}")
        need(self.dataset in DATASET_NAMES, "dataset", f"choose one of {', '.join(DATASET_NAMES)}")
        need(self.loss in LOSS_NAMES, "loss", f"choose one of {', '.join(LOSS_NAMES)}")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"choose one of {', '.join(OPTIMIZERS)}")
        need(self.lr_schedule in ("constant", "linear"), "lr_schedule", "choose constant or linear")
        need(self.lr_decay_start >= 0, "lr_decay_start", "must be >= 0 (at or past steps: no decay in the run)")
        need(0 <= self.lr_decay_floor <= 1, "lr_decay_floor", "must be in [0, 1]")
        need(self.sn_mode in SN_MODES, "sn_mode", f"choose {', '.join(SN_MODES[:-1])} or {SN_MODES[-1]}")
        need(self.sn_solver in SN_SOLVERS, "sn_solver", f"choose {' or '.join(SN_SOLVERS)}")
        need(self.precision in ("fp32", "bf16", "auto"), "precision", "choose fp32, bf16 or auto")
        check_device_name(self.device)
        for key in ("steps", "n_critic", "batch_size", "n_power_iterations", "hidden", "keep_checkpoints",
                    "image_size", "eval_samples"):
            need(getattr(self, key) >= 1, key, "must be >= 1")
        for key in ("diag_every", "sample_every", "ckpt_every", "eval_every", "z_dim", "threads"):
            need(getattr(self, key) >= 0, key, "must be >= 0")
        need(self.steps <= 10**9, "steps", "must be <= 1e9")
        need(self.batch_size <= 2**20, "batch_size", "must be <= 1048576")
        need(self.channels in (1, 3), "channels", "must be 1 or 3")
        for key in ("lr_d", "lr_g", "clip_value", "width"):
            v = getattr(self, key)
            need(math.isfinite(v) and 0 < v <= 1e3, key, "must be in (0, 1000]")
        for key in ("beta1", "beta2", "ema"):
            v = getattr(self, key)
            need(math.isfinite(v) and 0 <= v < 1, key, "must be in [0, 1)")
        need(math.isfinite(self.gp_weight) and 0 <= self.gp_weight <= 1e6, "gp_weight", "must be in [0, 1e6]")
        need(math.isfinite(self.gp_center) and self.gp_center >= 0, "gp_center", "must be a finite number >= 0")
        need(self.seed >= 0 and self.seed < 2**63, "seed", "must be in [0, 2^63)")
        need(self.width * 256 >= 1 and self.width <= 64, "width", "must be in [1/256, 64]")
        need(math.isfinite(self.width_g) and (self.width_g == 0 or 1 / 256 <= self.width_g <= 64), "width_g",
             "must be 0 (= width) or in [1/256, 64]")
        return self


# ---------------------------------------------------------------------------------------------
# Presets: the papers' settings for each method, and a "same budget" comparison.
# ---------------------------------------------------------------------------------------------

PAPER_PRESETS: dict[str, dict[str, Any]] = {
    # Arjovsky et al. 2017, Algorithm 1
    "clip": dict(method="clip", optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, clip_value=0.01, n_critic=5,
                 loss="wasserstein"),
    # Gulrajani et al. 2017, Algorithm 1
    "gp": dict(method="gp", optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.0, beta2=0.9, gp_weight=10.0,
               n_critic=5, loss="wasserstein"),
    # Miyato et al. 2018, Table 1 setting C (their best standard-CNN setting with n_dis = 1)
    "sn": dict(method="sn", optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, n_critic=1,
               loss="hinge"),
    # Miyato et al. 2018, Table 1 setting B (n_dis = 5)
    "sn-ndis5": dict(method="sn", optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.5, beta2=0.9, n_critic=5,
                     loss="hinge"),
    "none": dict(method="none", optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.5, beta2=0.9, n_critic=5,
                 loss="wasserstein"),
}

# All methods with the same architecture, loss, optimizer and number of critic updates: only the
# constraint differs (the comparison the study makes).
SAME_BUDGET: dict[str, Any] = dict(optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.5, beta2=0.9, n_critic=5,
                                   loss="wasserstein")

DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": dict(batch_size=64, width=1.0, steps=20000, diag_every=500, sample_every=1000, ckpt_every=1000),
    "ring8": dict(batch_size=256, hidden=512, steps=20000, diag_every=500, sample_every=1000, ckpt_every=1000),
    "grid25": dict(batch_size=256, hidden=512, steps=20000, diag_every=500, sample_every=1000, ckpt_every=1000),
    "swissroll": dict(batch_size=256, hidden=512, steps=20000, diag_every=500, sample_every=1000, ckpt_every=1000),
    "cifar10": dict(batch_size=64, steps=50000),
    "folder": dict(batch_size=64, steps=50000),
}

PRESETS = ("paper", "same-budget", "tuned", "sn-ndis5", "sn-fast", "quick", "tiny")

# sn-fast: SN-GAN tuned for time to quality on a CPU (benchmarks/bench_quality.py): hinge loss, n_dis 1,
# a high learning rate that SN tolerates, a generator EMA (with BatchNorm re-estimated for the averaged
# weights), narrow models that run many steps a minute, and bf16 where the hardware has it.
# MNIST: critic width 0.125, generator width 0.25, batch 32, Adam 3e-3 (0, 0.999), EMA 0.9999, the generator
# step on the critic step's fakes (reuse_fakes: one generator forward fewer), 75000 steps with both learning
# rates constant to step 45000, then linear to 0: about 27 minutes on a 2-core AVX-512/bf16 CPU (about 70 on
# the 2-core AVX2 machine without bf16). Measured on the first with the current code (benchmarks/results/
# quality-seed1-75k-decay45k.md, quality-seed{0,2}-75k-decay45k-rngfix.md): 3x the real floor after 11.2 / 7.3 /
# 4.6 min (seeds 0 / 1 / 2); 2x after 27.9 min (seed 0, 4.30) and 21.7 min (seed 1, 4.31), seed 2 best 4.77 =
# 2.2x; the constant rate alone plateaued from step ~22000 to 45000 (seed 1: 5.0-5.3). Runs before evaluations
# stopped perturbing the training noise: seed 0 3x after 7.2 min, best 4.336; seed 2 2x after 19.3 min (4.08).
# On the AVX2 machine (fp32, Adam 3e-3, constant,
# quality-lr3e-3-seed*.md): seed 0 6.41 (3.0x) after 8.5 min, 4.33 (2.0x) after 21.2 min; seed 1 6.68 (3.1x)
# after 9.6 min, 4.92 (2.3x) at 29.4 min; seed 2 7.45 (3.4x) after 8.65 min. Measured worse there: Adam 2e-3;
# without reuse_fakes; both nets at width 0.25; linear decays that start early (over the last 3000 of 7000
# steps 13.70 vs 10.24; over the last 7000 of 21000 steps 6.28 at the end vs 6.04; to 0.3x from step 10000
# of 33000, 5.10 at best vs 4.54).
SN_FAST: dict[str, dict[str, Any]] = {
    "common": dict(method="sn", optimizer="adam", lr_d=1e-3, lr_g=1e-3, beta1=0.5, beta2=0.999, n_critic=1,
                   loss="hinge", ema=0.999, precision="auto"),
    "mnist": dict(width=0.125, width_g=0.25, batch_size=32, lr_d=3e-3, lr_g=3e-3, beta1=0.0, ema=0.9999,
                  reuse_fakes=True, steps=75000, lr_schedule="linear", lr_decay_start=45000,
                  diag_every=1000, sample_every=1000, ckpt_every=1000),
    "toy": dict(hidden=128, batch_size=256, steps=5000, diag_every=500, sample_every=1000, ckpt_every=1000),
}

# quick: narrow models and short schedules so the whole study runs on a 2-core CPU in minutes.
QUICK: dict[str, dict[str, Any]] = {
    "mnist": dict(width=0.25, batch_size=64, steps=200, lr_d=2e-4, lr_g=2e-4, diag_every=50, sample_every=50,
                  ckpt_every=50, ema=0.99),
    "toy": dict(hidden=128, batch_size=256, steps=1500, lr_d=1e-3, lr_g=1e-3, diag_every=100, sample_every=500,
                ckpt_every=500),
}
# tuned: each method of the study (clip, gp, sn with the W loss, sn with the hinge loss) with its best
# point of one equal-effort grid, every point trained for the quick study's CPU budget
# (benchmarks/tune.py; results: benchmarks/results/tune.md, src/sngan/study/tuning.json). The base is
# the same for every method; the grid and the chosen points are in TUNING_GRID and TUNED.
TUNED_BASE: dict[str, dict[str, Any]] = {
    "mnist": dict(width=0.25, batch_size=32, optimizer="adam", beta2=0.9, ema=0.999, steps=2000, diag_every=100,
                  sample_every=500, ckpt_every=500),
    "toy": dict(hidden=128, batch_size=64, optimizer="adam", beta2=0.9, ema=0.999, steps=3000, diag_every=100,
                sample_every=1000, ckpt_every=1000),
}
# The grid every method gets (shared: learning rate of both nets, n_critic, Adam beta1), and one knob of
# the method's own with the same number of values (clipping: c; GP: lambda; SN: power iterations per step).
TUNING_GRID: dict[str, Any] = {
    "shared": {"lr": (5e-4, 2e-3), "n_critic": (1, 5), "beta1": (0.0, 0.5)},
    "knob": {"clip": ("clip_value", (0.03, 0.1)), "gp": ("gp_weight", (1.0, 3.0)),
             "sn": ("n_power_iterations", (2, 5))},
}
# The best point of each row: benchmarks/results/tune.md (every point) and src/sngan/study/tuning.json
# ("best"), from `python benchmarks/tune.py` on 2026-11-23 (2-core AMD EPYC, torch 2.13.0+cpu). MNIST FID
# (2000 samples) of these points: clip 423.3, GP 84.1, SN (W loss) 144.6, SN (hinge) 44.2; ring8 (mean of 2
# seeds): clip 8 modes / 58.7% high quality, GP 8 / 66.7%, SN (W loss) 8 / 13.7%, SN (hinge) 8 / 14.5%.
TUNED: dict[str, dict[str, dict[str, Any]]] = {
    "mnist": {
        "clip-wasserstein": dict(lr_d=2e-3, lr_g=2e-3, n_critic=5, beta1=0.5, clip_value=0.01),
        "gp-wasserstein": dict(lr_d=2e-3, lr_g=2e-3, n_critic=1, beta1=0.0, gp_weight=3.0),
        "sn-wasserstein": dict(lr_d=5e-4, lr_g=5e-4, n_critic=1, beta1=0.0, n_power_iterations=1),
        "sn-hinge": dict(lr_d=2e-3, lr_g=2e-3, n_critic=1, beta1=0.0, n_power_iterations=1),
    },
    "toy": {  # tuned on ring8; grid25 and swissroll use the same points
        "clip-wasserstein": dict(lr_d=5e-4, lr_g=5e-4, n_critic=1, beta1=0.0, clip_value=0.03),
        "gp-wasserstein": dict(lr_d=2e-3, lr_g=2e-3, n_critic=5, beta1=0.5, gp_weight=1.0),
        "sn-wasserstein": dict(lr_d=5e-4, lr_g=5e-4, n_critic=5, beta1=0.0, n_power_iterations=5),
        "sn-hinge": dict(lr_d=5e-4, lr_g=5e-4, n_critic=5, beta1=0.0, n_power_iterations=5),
    },
}


def row_label(method: str, loss: str) -> str:
    """The study's name for a method and loss: clip-wasserstein, gp-wasserstein, sn-wasserstein, sn-hinge."""
    return "sn-hinge" if (method, loss) == ("sn", "hinge") else f"{method}-{loss}"


# tiny: a few steps, for tests and smoke runs.
TINY: dict[str, Any] = dict(steps=4, batch_size=16, width=0.125, hidden=16, diag_every=2, sample_every=2,
                            ckpt_every=2, eval_samples=64)


def preset_values(preset: str, method: str, dataset: str, loss: str | None = None) -> dict[str, Any]:
    """The field values of a preset for a method and dataset (before user overrides). ``loss`` picks
    the tuned row (``tuned`` tunes sn with the W loss and with the hinge loss separately)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if dataset not in DATASET_NAMES:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASET_NAMES)}")
    values: dict[str, Any] = dict(DATASET_DEFAULTS[dataset])
    if preset in ("sn-ndis5", "sn-fast") and method != "sn":
        raise ConfigError(f"preset {preset} is for method sn, not {method}")
    if preset == "sn-ndis5":
        values.update(PAPER_PRESETS["sn-ndis5"])
    elif preset == "sn-fast":
        values.update(SN_FAST["common"])
        values.update(SN_FAST["toy" if dataset in TOY else "mnist"])
    elif preset == "paper":
        values.update(PAPER_PRESETS[method])
    elif preset == "tuned":
        group = "toy" if dataset in TOY else "mnist"
        label = row_label(method, loss or "wasserstein")
        if label not in TUNED[group] or dataset in ("cifar10", "folder"):
            raise ConfigError(f"preset tuned has settings for {', '.join(TUNED[group])} on mnist and the toy "
                              f"datasets, not {label} on {dataset}")
        values.update(TUNED_BASE[group], loss=loss or "wasserstein", **TUNED[group][label])
    else:  # same-budget, quick and tiny compare methods on equal terms
        values.update(SAME_BUDGET)
        values["method"] = method
    if preset == "quick":
        values.update(QUICK["toy" if dataset in TOY else "mnist"])
    if preset == "tiny":
        values.update(TINY)
    values.update(dataset=dataset, method=method, preset=preset)
    return values


_FIELDS = {f.name: f for f in fields(TrainConfig)}


def parse_value(key: str, text: str) -> Any:
    """Parse ``text`` as the type of field ``key`` (no eval: ints, floats, bools, strings)."""
    if key not in _FIELDS:
        import difflib

        close = difflib.get_close_matches(key, list(_FIELDS), n=3, cutoff=0.6) if key else []
        hint = (f" (did you mean {', '.join(close)}?)" if close
                else "; `sngan train --method M --dataset D --dry-run` lists every key")
        raise ConfigError(f"unknown config key {key!r}{hint}")
    kind = _kind(key)
    if key == "data_dir":
        return None if text.lower() in ("", "none") else text
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            try:
                return int(text)
            except ValueError:
                value = float(text)  # accept 1e3, 2000.0
                if not math.isfinite(value) or value != int(value):
                    raise ValueError from None
                return int(value)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ConfigError(f"{key}={text}: must be a finite number")
            return value
        return str(text)
    except (ValueError, OverflowError):
        raise ConfigError(f"{key}={text!r}: expected {kind.__name__}") from None


def resolve(method: str, dataset: str, preset: str = "paper", overrides: dict[str, Any] | None = None,
            **explicit: Any) -> TrainConfig:
    """Preset values, then explicit keyword values, then ``overrides`` (``--set``); validated."""
    values = preset_values(preset, method, dataset, explicit.get("loss"))
    values.update({k: v for k, v in explicit.items() if v is not None})
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            parse_value(key, "")  # raises with a hint
        values[key] = parse_value(key, value) if isinstance(value, str) and key != "data_dir" else value
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"unknown config key {sorted(unknown)[0]!r}")
    return TrainConfig(**values)  # checked as it is made


def native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU (where the trainer runs) has native bf16: AVX512-BF16 or AMX. Elsewhere bf16
    autocast on the CPU is emulated and slower than fp32 (and without /proc/cpuinfo we do not know)."""
    try:
        with open(cpuinfo) as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """A config back from its JSON (a run directory's config.json)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config is a JSON object of keys and values, not {type(data).__name__}")
    wrong = next((k for k, v in data.items() if k in _FIELDS and not _type_fits(k, v)), None)
    if wrong is not None:
        raise ConfigError(f"{wrong}={data[wrong]!r}: expected {_kind(wrong).__name__}")
    unknown = set(data) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"config has unknown key {sorted(unknown)[0]!r}")
    try:
        return TrainConfig(**data)
    except TypeError as e:
        raise ConfigError(f"invalid config: {e}") from None


def _kind(key: str) -> type:
    default = _FIELDS[key].default
    return type(default) if default is not None else str


def _type_fits(key: str, value: Any) -> bool:
    kind = _kind(key)
    if key == "data_dir":
        return value is None or isinstance(value, str)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr_d=2e-4", "ema=0.999"]`` → typed values (ConfigError on a bad item)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key:
            raise ConfigError(f"--set {item!r}: the key is missing (expected key=value)")
        out[key] = parse_value(key, text.strip())
    return out


__all__ = ["TrainConfig", "PRESETS", "METHODS", "native_bf16", "resolve", "from_dict", "parse_overrides", "parse_value",
           "preset_values", "row_label"]

CONFIG = "config.json"  # a run directory's resolved config
# Resuming may change these fields; any other difference from the stored config is an error. `device`:
# checkpoints hold CPU tensors, so a run trained on a GPU continues on the CPU (`--resume --device cpu`) and the
# other way round; config.json then records the new device.
RESUMABLE_CHANGES = ("steps", "threads", "eval_every", "sample_every", "diag_every", "ckpt_every", "tensorboard",
                     "device")


def read_config(run_dir: Path) -> TrainConfig:
    """A run directory's config.json; one clear UserError when it is missing or invalid."""
    path = Path(run_dir) / CONFIG
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{run_dir} is not a run directory (no {CONFIG})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is unreadable ({getattr(e, 'strerror', None) or e})") from None
    except ValueError as e:
        raise UserError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a run config (expected a JSON object)")
    try:
        return from_dict(data)
    except ConfigError as e:
        raise UserError(f"{path} is not a valid run config: {e}") from None
