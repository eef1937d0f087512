import csv
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from styleswap.engine.errors import StyleSwapError, WeightsError
from styleswap.engine.images import Picture
from styleswap.engine.invnet import InverseNet, bundled_weights, grow, load_inverse, save_inverse
from styleswap.engine.stylize import Engine, Options


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu")


def test_bundled_weights_are_ours_small_and_load(models):
    path = bundled_weights()
    assert path.is_file() and path.stat().st_size < 4 * 2**20
    state = load_file(str(path))
    assert all(t.dtype == torch.float16 for t in state.values())
    net = load_inverse()
    assert isinstance(net, InverseNet)


def test_invnet_reconstructs_swapped_features(engine, chelsea, astronaut):
    content, style = Picture.from_array(chelsea), Picture.from_array(astronaut[::2, ::2])
    options = Options(method="invnet", max_size=160, style_size=160, score=True)
    result = engine.stylize(content, style, options)
    assert result.picture.size == content.size
    assert result.picture.rgb.min() >= 0 and result.picture.rgb.max() <= 1
    assert result.objective < 0.8 * result.content_objective
    unscored = engine.stylize(content, style, Options(method="invnet", max_size=160, style_size=160))
    assert unscored.objective is None and np.array_equal(unscored.picture.rgb, result.picture.rgb)  # the score costs an encoding, so it is asked for
    refined = engine.stylize(content, style, Options(method="invnet+optim", max_size=160, style_size=160, iters=10))
    assert refined.objective < result.objective  # the optimisation starts from the network's output and improves it


def test_a_grown_network_starts_as_the_one_it_grew_from(tmp_path):
    """Residual blocks added to trained weights start as identities, so training continues instead of restarting."""
    small, grown = InverseNet(), InverseNet(2)
    grow(grown, small.state_dict())
    features = torch.rand(1, 256, 12, 10)
    with torch.no_grad():
        assert torch.equal(grown(features), small(features))
        grown.res1.conv_b.weight.add_(0.1)  # trained blocks do change the output
        assert not torch.equal(grown(features), small(features))
    save_inverse(grown, tmp_path / "grown.safetensors", {})
    assert load_inverse(tmp_path / "grown.safetensors").residual_blocks == 2
    with pytest.raises(WeightsError, match="2 residual blocks, more than the 1"):
        grow(InverseNet(1), grown.state_dict())


def test_invnet_needs_the_features_it_was_trained_on():
    with pytest.raises(StyleSwapError, match="use --method optim"):
        Options(method="invnet", pooling="avg")


def test_damaged_invnet_weights_are_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nonsense")
    with pytest.raises(WeightsError, match="cannot load inverse network"):
        load_inverse(bad)
    with pytest.raises(WeightsError, match="not found"):
        load_inverse(tmp_path / "missing.safetensors")


def test_train_inverse_runs_checkpoints_and_resumes(models, tmp_path, chelsea, astronaut):
    """Three steps of the real recipe on a tiny folder, then a resume that continues the step count and the CSV
    (dropping what was logged after the checkpoint)."""
    for folder, image in (("photos", chelsea), ("paintings", astronaut)):
        (tmp_path / folder).mkdir()
        for i in range(24):  # enough that the hash split leaves training and validation images
            Image.fromarray(np.roll(image, 7 * i, axis=1)).save(tmp_path / folder / f"{folder}{i:02d}.jpg")
    out = tmp_path / "run"
    common = ["--photos", tmp_path / "photos", "--paintings", tmp_path / "paintings", "--out", out, "--size", "64", "--device", "cpu", "--checkpoint-every", "3", "--val-every", "3"]
    first = subprocess.run([sys.executable, "-m", "styleswap", "train-inverse", "--steps", "3", *map(str, common)], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    with open(out / "losses.csv", "a") as f:  # a step logged after the last checkpoint, as when a run is killed
        f.write("4,0.5,,,1e-3,1.0\n")
    second = subprocess.run(
        [sys.executable, "-m", "styleswap", "train-inverse", "--steps", "6", "--anneal", "2", "--resume", str(out / "checkpoint.pt"), *map(str, common)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    lrs = [float(r["lr"]) for r in rows]  # the paper's decay, then the annealing added on resume: half, then zero
    assert lrs[3] == pytest.approx(1e-3 / (1 + 4e-4)) and lrs[4] == pytest.approx(0.5e-3 / (1 + 5e-4), rel=1e-3) and lrs[5] == 0.0
    assert rows[2]["val_swapped"] and rows[5]["val_swapped"] and float(rows[5]["val_real"]) > 0
    assert (out / "losses.png").stat().st_size > 10_000
    trained, saved = load_inverse(out / "inverse.safetensors"), load_file(out / "inverse.safetensors")
    assert trained.state_dict().keys() == saved.keys() and all(torch.equal(trained.state_dict()[k], saved[k].float()) for k in saved)
    mismatched = subprocess.run(
        [sys.executable, "-m", "styleswap", "train-inverse", "--steps", "9", "--residual-blocks", "1", "--resume", str(out / "checkpoint.pt"), *map(str, common)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert mismatched.returncode == 2 and "resume it with --residual-blocks 0" in mismatched.stderr
