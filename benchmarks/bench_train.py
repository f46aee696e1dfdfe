"""sngan vs the plain PyTorch script (benchmarks/reference.py), side by side in one process.

For each method (clip, gp, sn) and model (MNIST standard CNN at width 1 and at the quick preset's
width 0.25; the toy MLP 3x512): seconds per critic step and per generator step (medians and
quartiles of interleaved repeats), per full iteration at n_critic 1 and 5, images/s, and the ratio
sngan / reference. Also the achieved GFLOP/s of a critic step against this machine's fp32 peak.
Writes benchmarks/results/train.json and train.md.

    python benchmarks/bench_train.py [--repeats 10] [--threads 2] [--quick] [--device auto|cpu|cuda[:N]]

``--device auto`` (the default) times CUDA where it is present: sngan and the reference on the same device,
synchronized before every clock read.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from reference import ReferenceWGAN
from torch import nn

from sngan import device as devices
from sngan.train import Trainer, resolve

OUT = Path(__file__).resolve().parent / "results"


def conv_flops(model: nn.Module, input_shape) -> int:
    """Multiply-adds x 2 of one forward of one sample through the Linear / Conv2d layers."""
    flops = 0

    def hook(m, args, out):
        nonlocal flops
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            flops += 2 * k * out.numel()
        elif isinstance(m, nn.Linear):
            flops += 2 * m.in_features * m.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    for h in hs:
        h.remove()
    return flops


def fp32_peak() -> tuple[float, str]:
    """cores x clock x (FMA units x SIMD fp32 lanes x 2), read from /proc/cpuinfo."""
    info = Path("/proc/cpuinfo").read_text()
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    cores = torch.get_num_threads()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma_units = 2
    clock = (max(mhz) if mhz else 2000.0) / 1e3
    peak = cores * clock * fma_units * lanes * 2
    how = (f"{cores} threads x {clock:.2f} GHz x {fma_units} FMA units x {lanes} fp32 lanes "
           f"({'AVX-512' if lanes == 16 else 'AVX2' if lanes == 8 else 'SSE'}) x 2 flops/FMA = {peak:.0f} GFLOP/s")
    return peak, how


def make_pair(method: str, model: str, tmp: Path, seed: int = 0, precision: str = "fp32", device: str = "cpu"):
    dataset = "mnist" if model.startswith("mnist") else "ring8"
    overrides = {"threads": 0, "sample_every": 0, "diag_every": 0, "ckpt_every": 0, "n_critic": 1,
                 "precision": precision, "device": device}
    if model == "mnist-w1":
        overrides.update(width=1.0, batch_size=64)
    elif model == "mnist-quick":
        overrides.update(width=0.25, batch_size=64)
    else:
        overrides.update(hidden=512, batch_size=256)
    cfg = resolve(method, dataset, "same-budget", overrides, seed=seed)
    trainer = Trainer(cfg, tmp / f"{method}-{model}-{precision}", progress=False)
    torch.manual_seed(seed)
    from sngan.train.build import build_models

    G, D, shape = build_models(cfg)
    G.load_state_dict({k: v for k, v in trainer.generator.state_dict().items()})
    G, D = G.to(trainer.device), D.to(trainer.device)
    ref = ReferenceWGAN(method, G, D, cfg.latent_dim, cfg.batch_size, lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2),
                        data=trainer.data, seed=seed)
    return trainer, ref, shape, cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="skip the width-1 MNIST model")
    ap.add_argument("--name", default="train", help="result files: results/NAME.json and NAME.md")
    ap.add_argument("--device", default="auto", help="auto (CUDA where present), cpu, cuda, cuda:N")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = devices.resolve(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    peak, how = fp32_peak()
    models = ["mnist-quick", "toy"] + ([] if args.quick else ["mnist-w1"])
    results = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
               "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
               "threads": args.threads, "repeats": args.repeats, "fp32_peak_gflops": peak, "peak_how": how,
               "rows": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for model in models:
            pairs = {m: make_pair(m, model, tmp, device=str(device)) for m in ("clip", "gp", "sn")}
            # The fast options where they are on by default (sn-fast: precision=auto -> bf16 on CPUs with
            # native bf16), the same trainer otherwise.
            fast = {m: make_pair(m, model, tmp, precision="auto", device=str(device))[0] for m in pairs}
            whos = ("sngan", "reference", "fast")
            timings = {(m, who, kind): [] for m in pairs for who in whos for kind in ("critic", "generator")}
            for m, (tr, ref, _, _) in pairs.items():  # warm-up
                for t in (tr, fast[m]):
                    t.critic_step(next(t.sampler))
                    t.generator_step()
                ref.critic_step(ref.next_real())
                ref.generator_step()
            for _ in range(args.repeats):
                for m, (tr, ref, _, _) in pairs.items():
                    for who in whos:
                        t = fast[m] if who == "fast" else tr
                        real = next(tr.sampler) if who != "reference" else ref.next_real()
                        sync()
                        t0 = time.perf_counter()
                        for _ in range(args.steps):
                            (t.critic_step(real) if who != "reference" else ref.critic_step(real))
                        sync()
                        t1 = time.perf_counter()
                        for _ in range(args.steps):
                            (t.generator_step() if who != "reference" else ref.generator_step())
                        sync()
                        t2 = time.perf_counter()
                        timings[(m, who, "critic")].append((t1 - t0) / args.steps)
                        timings[(m, who, "generator")].append((t2 - t1) / args.steps)
            for m, (tr, _ref, shape, cfg) in pairs.items():
                row = {"model": model, "method": m, "batch": cfg.batch_size}
                row["fast_precision"] = fast[m].cfg.precision
                for who in whos:
                    for kind in ("critic", "generator"):
                        v = timings[(m, who, kind)]
                        q1, _, q3 = statistics.quantiles(v, n=4)
                        row[f"{who}_{kind}_s"] = statistics.median(v)
                        row[f"{who}_{kind}_q1"], row[f"{who}_{kind}_q3"] = q1, q3
                    c, g = row[f"{who}_critic_s"], row[f"{who}_generator_s"]
                    row[f"{who}_iter1_s"], row[f"{who}_iter5_s"] = c + g, 5 * c + g
                    row[f"{who}_images_per_s"] = 2 * cfg.batch_size / c  # real + fake through the critic
                for key in ("critic_s", "generator_s", "iter1_s", "iter5_s"):
                    row[f"ratio_{key}"] = row[f"sngan_{key}"] / row[f"reference_{key}"]
                row["fast_speedup_iter1"] = row["reference_iter1_s"] / row["fast_iter1_s"]  # images/s ratio
                if model.startswith("mnist") and device.type == "cpu":  # the peak is the CPU's
                    fwd = conv_flops(tr.critic, shape) * 2 * cfg.batch_size
                    factor = 3 if m != "gp" else 6  # forward + backward (2x); GP adds a double backward
                    row["gflops"] = factor * fwd / row["sngan_critic_s"] / 1e9
                    row["share_of_peak"] = row["gflops"] / peak
                results["rows"].append(row)
                print(f"{model:<12}{m:<5} critic {row['sngan_critic_s'] * 1e3:8.1f} ms (ref "
                      f"{row['reference_critic_s'] * 1e3:8.1f}, ratio {row['ratio_critic_s']:.3f})  generator "
                      f"{row['sngan_generator_s'] * 1e3:7.1f} ms (ratio {row['ratio_generator_s']:.3f})  "
                      f"iter@5 ratio {row['ratio_iter5_s']:.3f}  fast ({row['fast_precision']}) "
                      f"{row['fast_speedup_iter1']:.2f}x the reference's images/s" +
                      (f"  {row['gflops']:.1f} GFLOP/s ({100 * row['share_of_peak']:.1f}% of peak)"
                       if "gflops" in row else ""), flush=True)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(results, indent=1))
    lines = [f"# sngan vs plain PyTorch reference — {results['machine']}, {results['device']}, "
             f"torch {results['torch']}, "
             f"{args.threads} threads, {args.repeats} interleaved repeats", "",
             f"fp32 peak: {how}", "",
             "| model | method | sngan critic ms | reference critic ms | ratio | sngan gen ms | ratio | "
             "iter@1 ratio | iter@5 ratio | sngan img/s | GFLOP/s | % peak | fast options: img/s vs reference |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['model']} | {r['method']} | {r['sngan_critic_s'] * 1e3:.1f} | "
                     f"{r['reference_critic_s'] * 1e3:.1f} | {r['ratio_critic_s']:.3f} | "
                     f"{r['sngan_generator_s'] * 1e3:.1f} | {r['ratio_generator_s']:.3f} | {r['ratio_iter1_s']:.3f} | "
                     f"{r['ratio_iter5_s']:.3f} | {r['sngan_images_per_s']:.0f} | "
                     f"{r.get('gflops', float('nan')):.1f} | {100 * r.get('share_of_peak', float('nan')):.1f} | "
                     f"{r['fast_speedup_iter1']:.2f}x ({r['fast_precision']}) |")
    lines.append("")
    lines.append(f"Peak RSS of the benchmark process: {results['peak_rss_mb']:.0f} MB (all models together; "
                 "per-method peaks: benchmarks/bench_memory.py).")
    lines.append("")
    lines.append("img/s = (real + fake) images through the critic per second of a critic step; 'fast options' = the "
                 "same trainer with precision=auto (bf16 autocast where the CPU has native bf16), images/s of a "
                 "full iteration at n_critic 1 relative to the fp32 reference.")
    worst = max(results["rows"], key=lambda r: r["ratio_iter5_s"])
    verdict = (f"goal sngan/reference <= 1.00 per iteration (n_critic 5) for every method and model: "
               f"{'met' if worst['ratio_iter5_s'] <= 1.0 else 'missed'} (largest {worst['ratio_iter5_s']:.3f}, "
               f"{worst['model']} {worst['method']})")
    lines += ["", verdict]
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
