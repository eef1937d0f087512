"""The plug-in in a real gimp-console-3.0 and 3.2, against a real daemon with the real engine.

Each test is one batch run: load an RGBA image, call plug-in-styleswap non-interactively, save as XCF,
load it back and compare its layers with the input and with `styleswap stylize` on the same pixels.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from gimp_session import STYLE, Outcome, daemon_jobs, wait_until
from styleswap_protocol.options import HOST_OPTIONS

FAST = {"method": "invnet", "patch-size": 3, "strength": 1.0, "preserve-color": False, "max-size": 128, "timeout": 60.0}
FAST_CLI = ["--method", "invnet", "--patch-size", "3", "--strength", "1.0", "--max-size", "128"]
SLOW = {**FAST, "method": "invnet+optim", "max-size": 512}  # minutes on a CPU: only ever cancelled
FAR = 20.0  # mean |stylised - source| per channel, out of 255: clearly restyled
CLOSE = 1.5  # mean |plug-in - styleswap stylize|: the same result up to JPEG decoding of the style


def stylize_cli(rgba: np.ndarray, folder: Path, cli: list[str] = FAST_CLI) -> np.ndarray:
    """`styleswap stylize` on the same pixels, with the engine in its own process: the reference."""
    folder.mkdir()
    PILImage.fromarray(rgba).save(folder / "in.png")
    command = [sys.executable, "-m", "styleswap", "stylize", str(folder / "in.png"), str(STYLE), "-o", str(folder / "out.png"), *cli, "--quiet"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return np.asarray(PILImage.open(folder / "out.png"))


@pytest.fixture(scope="module")
def reference(content, tmp_path_factory) -> np.ndarray:
    return stylize_cli(content, tmp_path_factory.mktemp("reference") / "whole")


def rgb_error(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(a[..., :3].astype(int) - b[..., :3].astype(int))[where].mean())


def chroma(rgba: np.ndarray) -> np.ndarray:
    """BT.601 Cb and Cr of 8-bit RGB(A), written out here rather than taken from the engine."""
    r, g, b = (rgba[..., i].astype(float) for i in range(3))
    return np.stack([-0.168736 * r - 0.331264 * g + 0.5 * b, 0.5 * r - 0.418688 * g - 0.081312 * b], axis=-1)


def assert_untouched(outcome: Outcome, content: np.ndarray) -> None:
    assert [layer.name for layer in outcome.after] == [layer.name for layer in outcome.before]
    assert np.array_equal(outcome.after[0].pixels, content)


def test_layer_is_stylised_into_a_new_layer_above_it(sandbox, daemon, content, reference):
    outcome = sandbox.run("whole", content, STYLE, FAST, daemon.path, offsets=[7, 5])

    assert outcome.status == "success", outcome.error
    assert len(outcome.after) == 2
    new, source = outcome.after
    assert new.name == STYLE.stem
    assert new.offsets == source.offsets == (7, 5)
    assert np.array_equal(source.pixels, content)
    assert np.array_equal(new.pixels[..., 3], content[..., 3])
    visible = content[..., 3] > 0
    assert rgb_error(new.pixels, content, visible) > FAR
    assert rgb_error(new.pixels, reference, visible) < CLOSE


def test_a_channel_chosen_as_the_mask_limits_the_stylised_pixels(sandbox, daemon, content):
    # The layer sits at (7, 5) of the image; the channel is white on image columns 47-102, rows 0-63.
    outcome = sandbox.run("channel", content, STYLE, FAST, daemon.path, offsets=[7, 5], mask_rect=[47, 0, 56, 64])

    assert outcome.status == "success", outcome.error
    new, source = outcome.after
    assert np.array_equal(source.pixels, content)
    assert np.array_equal(new.pixels[..., 3], content[..., 3])
    image_x, image_y = np.arange(96)[None, :] + 7, np.arange(64)[:, None] + 5  # the canvas stays 96x64
    white = (image_x >= 47) & (image_x < 96) & (image_y < 64)
    inside, outside = white & (content[..., 3] > 0), ~white
    assert np.array_equal(new.pixels[outside], content[outside])  # the mask's zeros: the layer bit for bit
    assert rgb_error(new.pixels, content, inside) > FAR


def test_strength_and_preserve_colours_reach_the_pixels(sandbox, daemon, content, reference, tmp_path):
    """The dialog's strength and preserve-colours change the result as they do on the command line: the layer's own
    colours (chroma within 1 of 255; 31 at the defaults), and a result nearer the source than full strength."""
    options = {**FAST, "strength": 0.4, "preserve-color": True}
    outcome = sandbox.run("options", content, STYLE, options, daemon.path)

    assert outcome.status == "success", outcome.error
    new = outcome.after[0].pixels
    visible = content[..., 3] > 0
    assert np.abs(chroma(new) - chroma(content))[visible].mean() < 1.0
    assert rgb_error(new, content, visible) < 0.5 * rgb_error(reference, content, visible)  # 0.32 measured; 0.8 at strength 1
    cli = ["--method", "invnet", "--patch-size", "3", "--strength", "0.4", "--preserve-color", "--max-size", "128"]
    assert rgb_error(new, stylize_cli(content, tmp_path / "cli", cli), visible) < CLOSE


def test_a_float_layer_keeps_its_alpha_mask_and_opacity_and_gets_the_same_style(sandbox, daemon, content, reference):
    outcome = sandbox.run("float", content, STYLE, FAST, daemon.path, precision="FLOAT_LINEAR", opacity=60.0, alpha_mask=True)

    assert outcome.status == "success", outcome.error
    new, source = outcome.after
    before = outcome.before[0]
    assert np.array_equal(source.pixels, before.pixels)
    assert np.array_equal(new.pixels[..., 3], before.pixels[..., 3])
    assert np.array_equal(new.mask, before.mask) and np.array_equal(new.mask, content[..., 3])
    assert new.opacity == source.opacity == pytest.approx(60.0)
    assert rgb_error(new.pixels, reference, content[..., 3] > 0) < CLOSE


def test_only_the_selection_changes_and_its_feathered_edge_blends(sandbox, daemon, content, tmp_path):
    outcome = sandbox.run("selection", content, STYLE, FAST, daemon.path, ellipse=[24, 6, 64, 52], feather=12.0)

    assert outcome.status == "success", outcome.error
    new, source = outcome.after
    assert np.array_equal(source.pixels, content)
    assert np.array_equal(new.pixels[..., 3], content[..., 3])
    weight = outcome.selection.astype(float) / 255
    assert np.array_equal(new.pixels[weight == 0], content[weight == 0])
    # The plug-in sends the selection's bounding box; stylise the same crop for the reference.
    rows, cols = np.nonzero(weight)
    box = np.s_[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    stylised = stylize_cli(np.ascontiguousarray(content[box]), tmp_path / "crop")
    expected = content[box][..., :3] + (stylised[..., :3].astype(float) - content[box][..., :3]) * weight[box][..., None]
    visible = content[box][..., 3] > 0
    feathered = visible & (weight[box] > 0.1) & (weight[box] < 0.9)
    assert feathered.sum() > 200
    assert rgb_error(new.pixels[box], stylised, visible & (weight[box] == 1)) < CLOSE
    assert float(np.abs(new.pixels[box][..., :3] - expected)[feathered].mean()) < CLOSE
    # In the feathered band the result lies between the source and the stylised crop, far from both.
    assert rgb_error(new.pixels[box], content[box], feathered) > FAR / 4
    assert rgb_error(new.pixels[box], stylised, feathered) > FAR / 4


def test_locked_pixels_and_a_disabled_mask_come_through_as_they_were(sandbox, daemon, content, reference):
    """A pixel lock protects the source, not the copy being stylised; the copy keeps the lock and the mask's state."""
    outcome = sandbox.run("locked", content, STYLE, FAST, daemon.path, lock_content=True, lock_alpha=True, alpha_mask=True, mask_disabled=True)

    assert outcome.status == "success", outcome.error
    new, source = outcome.after
    assert np.array_equal(source.pixels, content)
    assert source.locked == new.locked == [True, True]
    assert not source.mask_applied and not new.mask_applied
    assert np.array_equal(new.mask, content[..., 3])
    assert rgb_error(new.pixels, reference, content[..., 3] > 0) < CLOSE


def test_a_grayscale_image_gets_a_grayscale_stylised_layer(sandbox, daemon, content):
    outcome = sandbox.run("gray", content, STYLE, FAST, daemon.path, grayscale=True)

    assert "GRAY*" in outcome.image_types  # offered in the menu, not only to scripts
    assert_options_are_the_schemas(outcome.arguments)
    assert outcome.status == "success", outcome.error
    new, source = outcome.after
    assert np.array_equal(source.pixels, outcome.before[0].pixels)
    assert np.array_equal(new.pixels[..., 0], new.pixels[..., 1]) and np.array_equal(new.pixels[..., 0], new.pixels[..., 2])
    assert np.array_equal(new.pixels[..., 3], content[..., 3])
    assert rgb_error(new.pixels, source.pixels, content[..., 3] > 0) > FAR / 2


def test_an_unreadable_style_file_and_a_floating_selection_are_refused_untouched(sandbox, daemon, content, tmp_path):
    corrupt = tmp_path / "painting.jpg"
    corrupt.write_bytes(b"\xff\xd8 not a JPEG at all " * 40)
    outcome = sandbox.run("corrupt-style", content, corrupt, FAST, daemon.path)
    assert outcome.status == "execution-error"
    assert "Could not open the style image" in outcome.error and "painting.jpg" in outcome.error
    assert_untouched(outcome, content)

    outcome = sandbox.run("floating", content, STYLE, FAST, daemon.path, floating=[10, 10, 40, 30])
    assert outcome.status == "execution-error"
    assert "floating selection" in outcome.error
    assert [layer.name for layer in outcome.after] == [layer.name for layer in outcome.before] and len(outcome.before) == 2
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(outcome.after, outcome.before))


def test_without_pyzmq_in_gimps_python_the_fallback_python_transfers(sandbox, daemon, content, reference):
    blocker = sandbox.folder / "no-zmq" / "zmq"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("pyzmq is hidden from GIMP\'s Python by the test")\n')

    outcome = sandbox.run("fallback", content, STYLE, FAST, daemon.path, env={"PYTHONPATH": sandbox.host.inside(blocker.parent)})

    assert outcome.status == "success", outcome.error
    assert f"GIMP's Python has no pyzmq; the transfer runs in {sandbox.host.python_with_zmq}" in outcome.output
    new, source = outcome.after
    assert np.array_equal(source.pixels, content)
    assert np.array_equal(new.pixels[..., 3], content[..., 3])
    assert rgb_error(new.pixels, reference, content[..., 3] > 0) < CLOSE


def test_without_a_daemon_the_call_fails_and_the_image_is_untouched(sandbox, content):
    # No connection file, and the command that would start a daemon fails (`false`).
    outcome = sandbox.run("no-daemon", content, STYLE, FAST, None, env={"STYLESWAP_BACKEND": "false"})

    assert outcome.status == "execution-error"
    assert "The StyleSwap daemon is not available" in outcome.error
    assert "styleswap-backend" in outcome.error
    assert_untouched(outcome, content)


def test_cancelling_kills_the_plugin_and_the_daemon_drops_its_job(sandbox, daemon, large_content):
    dropped = daemon.log.count("dropped: its client went away")
    running = sandbox.start("cancel", large_content, STYLE, SLOW, daemon.path)
    wait_until(lambda: daemon_jobs(daemon) == 1, 120, "the job reaching the daemon")
    assert sandbox.plugin_pids()

    sandbox.kill_plugin()  # what GIMP does when the progress bar's cancel is pressed
    wait_until(lambda: daemon_jobs(daemon) == 0, 120, "the daemon dropping the job")  # the job alone runs for many minutes
    outcome = running.wait()

    assert daemon.log.count("dropped: its client went away") == dropped + 1
    assert outcome.status != "success"
    assert_untouched(outcome, large_content)


def test_a_silent_daemon_is_a_timeout_error_not_a_hang(sandbox, daemon, large_content):
    running = sandbox.start("timeout", large_content, STYLE, {**SLOW, "timeout": 5.0}, daemon.path)
    wait_until(lambda: daemon_jobs(daemon) == 1, 120, "the job reaching the daemon")
    os.kill(daemon.process.pid, signal.SIGSTOP)
    try:
        outcome = running.wait()
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)

    assert outcome.status == "execution-error"
    assert "did not answer in time" in outcome.error and "within 5 s" in outcome.error
    assert_untouched(outcome, large_content)
    wait_until(lambda: daemon_jobs(daemon) == 0, 120, "the daemon ending the abandoned job")


def assert_options_are_the_schemas(arguments: dict) -> None:
    """Every option the schema shows in hosts is a procedure argument of its kind, default, range and choices."""
    kinds = {int: "gint", float: "gdouble", bool: "gboolean", str: "gchararray"}  # a choice holds its value's string
    for option in HOST_OPTIONS:
        registered = arguments[option.name.replace("_", "-")]
        assert registered["type"] == kinds[option.kind], option.name
        assert registered["default"] == option.default, option.name
        if option.choices:
            assert registered["spec"] == "GimpParamChoice" and registered["choices"] == [choice.value for choice in option.choices]
        elif option.kind is not bool:
            assert (registered["minimum"], registered["maximum"]) == (option.minimum, option.maximum), option.name
    assert set(arguments) - {"run-mode", "image", "drawables"} == {"style-file", "mask-channel", "timeout", *(o.name.replace("_", "-") for o in HOST_OPTIONS)}
