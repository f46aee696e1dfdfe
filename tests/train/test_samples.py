"""`sngan sample`: every output format, read back; same seed, same bytes; toy points from the run's
generator; a wrong format or folder is one error line and writes nothing."""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

import sngan
from conftest import DEVICES, sngan_process
from sngan.cli import main
from sngan.train import Trainer, resolve, sampling


@pytest.fixture(scope="module", params=DEVICES)
def image_run(request, tmp_path_factory):
    """A tiny MNIST run trained on each device present; the tests sample it on the same device."""
    run_dir = tmp_path_factory.mktemp("runs") / "mnist"
    Trainer(resolve("sn", "mnist", "tiny", {"ema": 0.99, "device": request.param}), run_dir).fit()
    return run_dir


@pytest.fixture(scope="module", params=DEVICES)
def toy_run(request, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "ring8"
    Trainer(resolve("gp", "ring8", "tiny", {"device": request.param}), run_dir).fit()
    return run_dir


def device_of(run_dir):
    """The device the run trained on (config.json records it)."""
    return json.loads((run_dir / "config.json").read_text())["device"]


def sample_argv(run_dir, *argv):
    """`sngan sample RUN ...` on the device the run trained on."""
    return ["sample", str(run_dir), "--device", device_of(run_dir), *map(str, argv)]


def sample(run_dir, *argv):
    assert main(sample_argv(run_dir, *argv)) == 0


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_images(run_dir, n, seed=0, batch=500):
    """What the command must write: the EMA generator on noise drawn batch by batch from `seed`."""
    device = device_of(run_dir)
    G = sngan.load_generator(run_dir, device=device)
    x = torch.cat([sampling.generate(G, z) for z in sampling.noise_batches(n, 128, seed, batch, device)])
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def test_npz_is_uint8_nhwc_arr_0_with_the_generators_images(image_run, tmp_path):
    sample(image_run, "--n", 1100, "--out", tmp_path / "a.npz")  # more than one batch of 500
    with np.load(tmp_path / "a.npz") as data:
        assert list(data) == ["arr_0"]
        arr = data["arr_0"]
    assert arr.shape == (1100, 28, 28, 1) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, expected_images(image_run, 1100))
    sample(image_run, "--n", 1100, "--out", tmp_path / "b.npz")
    assert digest(tmp_path / "a.npz") == digest(tmp_path / "b.npz")  # same seed, same bytes
    sample(image_run, "--n", 1100, "--out", tmp_path / "c.npz", "--seed", 1)
    assert digest(tmp_path / "a.npz") != digest(tmp_path / "c.npz")
    sample(image_run, "--n", 10, "--out", tmp_path / "a.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), expected_images(image_run, 10))


def test_folder_has_one_png_per_image(image_run, tmp_path):
    out = tmp_path / "folder"
    sample(image_run, "--n", 12, "--out", out)
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(12)]
    first = np.asarray(Image.open(files[0]))
    assert first.shape == (28, 28) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, expected_images(image_run, 12)[0, ..., 0])
    assert main(sample_argv(image_run, "--n", 3, "--out", out)) == 2  # not empty: refused
    assert len(list(out.iterdir())) == 12


def test_png_grid_and_raw_generator(image_run, tmp_path):
    sample(image_run, "--n", 16, "--out", tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").size == (4 * 30 + 2, 4 * 30 + 2)  # 4x4 tiles of 28 + 2 px gaps
    sample(image_run, "--n", 16, "--out", tmp_path / "raw.png", "--no-ema")
    assert digest(tmp_path / "g.png") != digest(tmp_path / "raw.png")
    sample(image_run, "--n", 16, "--out", tmp_path / "step2.png", "--step", 2)
    assert digest(tmp_path / "g.png") != digest(tmp_path / "step2.png")


def test_toy_points_in_every_format(toy_run, tmp_path):
    for name in ("p.csv", "p.npy", "p.npz", "p.png"):
        sample(toy_run, "--n", 3000, "--out", tmp_path / name)
    device = device_of(toy_run)
    G = sngan.load_generator(toy_run, device=device)
    expected = sampling.generate(G, sampling.noise(3000, 2, 0).to(device)).cpu().numpy()  # one batch covers 3000
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)
    with np.load(tmp_path / "p.npz") as data:
        np.testing.assert_array_equal(data["arr_0"], expected)
    csv = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1, dtype=np.float32)
    np.testing.assert_array_equal(csv, expected)  # %.9g round-trips float32 exactly
    assert Image.open(tmp_path / "p.png").size[0] > 100
    sample(toy_run, "--n", 3000, "--out", tmp_path / "q.png")
    assert digest(tmp_path / "p.png") == digest(tmp_path / "q.png")


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/x.csv"], "image runs give images"),
    (["--out", "{tmp}/x.jpg"], "image runs give images"),
    (["--out", "{tmp}/missing/x.png"], "does not exist"),
    (["--n", "0", "--out", "{tmp}/x.png"], "--n 0"),
    (["--step", "3", "--out", "{tmp}/x.png"], "no checkpoint at step 3"),
])
def test_bad_sample_requests_are_one_line_and_write_nothing(image_run, tmp_path, args, message):
    argv = [a.format(tmp=tmp_path) for a in args]
    res = sngan_process(sample_argv(image_run, *argv))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr
    assert list(tmp_path.iterdir()) == []
