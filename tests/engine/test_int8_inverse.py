"""The inverse network in int8 up to its RGB conv on x86 CPUs with VNNI: the picture and swap objective of the float
network, tiles equal to the one pass, int8 only for the weights the shipped ranges were measured with, and the
calibration command that measures them (and the encoder's scales)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import styleswap.engine
from int8_marks import needs_int8
from styleswap.engine.images import Picture
from styleswap.engine.int8_encoder import load_scales
from styleswap.engine.int8_inverse import TAIL, Int8InverseNet, _Tails, load_ranges, weights_digest
from styleswap.engine.invnet import InverseNet
from styleswap.engine.metrics import swap_objective
from styleswap.engine.stylize import Engine, Options

pytestmark = needs_int8


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu", precision="int8")


@pytest.fixture(scope="module")
def target(engine, astronaut, chelsea):
    """Swapped activations of a 320 px content: 80x52 cells, several tiles at a 1 MiB budget."""
    return engine.swapped(Picture.from_array(astronaut), Picture.from_array(chelsea), Options(max_size=320, style_size=256), lambda *_: None).target


def test_int8_network_keeps_the_picture_and_the_swap_objective(engine, target):
    assert isinstance(engine.decoder(), Int8InverseNet)
    with torch.no_grad():
        exact = engine.inverse()(target)
    rounded = engine.decode(target, Options())
    change = (rounded - exact).abs()
    assert rounded.shape == exact.shape and rounded.dtype == torch.float32
    assert 0 < change.mean() < 0.005 and change.max() < 0.1
    objectives = [swap_objective(engine.encode(image, Options()), target) for image in (exact, rounded)]
    assert objectives[1] / objectives[0] < 1.01


def test_the_ranges_are_what_keeps_it_close(engine, target):
    """Ranges an eighth as wide saturate the activations: the same code then misses by far more."""
    net = engine.inverse()
    narrow = Int8InverseNet(net, {name: [low / 8, high / 8] for name, (low, high) in load_ranges(net).items()})
    with torch.no_grad():
        exact, shipped, saturated = net(target), engine.decoder()(target), narrow(target)
    assert (saturated - exact).abs().mean() > 5 * (shipped - exact).abs().mean()
    assert swap_objective(engine.encode(saturated, Options()), target) > 1.1 * swap_objective(engine.encode(exact, Options()), target)


def test_tiled_int8_decoding_equals_one_pass(engine, target):
    whole = engine.decode(target, Options(memory_budget=2**28))
    tiled = engine.decode(target, Options(memory_budget=2**20))  # 64-cell tiles
    assert (tiled - whole).abs().max() < 1e-4  # the int8 convs are exact per cell; the RGB conv as tiled in float


def test_only_the_weights_the_ranges_were_measured_with_run_in_int8(engine):
    shipped = json.loads((Path(styleswap.engine.__file__).parent / "weights" / "int8_scales.json").read_text())["inverse"]["calibrations"]
    assert len(shipped) == 1 and load_ranges(engine.inverse()) == next(iter(shipped.values()))  # the one calibration shipped
    other = InverseNet(engine.inverse().residual_blocks)  # the same shape, other weights
    assert weights_digest(other) != weights_digest(engine.inverse()) and load_ranges(other) is None
    full = Engine("cpu", precision="float32")
    assert full.decoder() is full.inverse()


def test_tails_are_exact_quantiles_without_keeping_the_maps():
    generator = torch.Generator().manual_seed(0)
    chunks = [torch.randn(1_000_000, generator=generator) * scale for scale in (1.0, 3.0, 0.5)]
    tails = _Tails()
    for chunk in chunks:
        tails.add(chunk)
    ordered = torch.cat(chunks).sort().values
    rank = math.ceil(TAIL * ordered.numel())  # 3: two values saturate at each end
    assert rank == 3 and tails.range() == [float(ordered[rank - 1]), float(ordered[-rank])]


def test_calibrate_command_writes_the_encoder_and_inverse_network(engine, tmp_path, astronaut, chelsea):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    Image.fromarray(chelsea).save(folder / "b.png")
    out = tmp_path / "scales.json"
    out.write_text(json.dumps({"inverse": {"calibrations": {"0123456789abcdef": {"conv3_1.in": [0.0, 1.0]}}}}))  # another network's
    run = subprocess.run([sys.executable, "-m", "styleswap", "calibrate-int8", str(folder), "--size", "64", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "over 2 images at 64 px" in run.stdout
    written = json.loads(out.read_text())
    assert written["inverse"]["calibrations"]["0123456789abcdef"] == {"conv3_1.in": [0.0, 1.0]}
    scales, ranges = load_scales("vgg19-normalised", "max", out), load_ranges(engine.inverse(), out)
    assert scales == written["encoder"]["calibrations"]["vgg19-normalised/max"] and scales != load_scales("vgg19-normalised", "max")
    assert sorted(ranges) == sorted(load_ranges(engine.inverse())) and ranges != load_ranges(engine.inverse())  # shipped: 96 images
    assert all(low <= high for low, high in ranges.values()) and ranges["conv3_1.in"][0] == 0.0  # swapped relu3_1: no negatives
    out.write_text("{not json")
    run = subprocess.run([sys.executable, "-m", "styleswap", "calibrate-int8", str(folder), "--size", "64", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "give another --out" in run.stderr and out.read_text() == "{not json"
