"""The plug-in in a real gimp-console-3.0, against a real daemon with the real engine.

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

FAST = {"method": "fast", "patch-size": 3, "strength": 1.0, "preserve-colors": False, "max-size": 128, "timeout": 60.0}
FAST_CLI = ["--method", "invnet", "--patch-size", "3", "--strength", "1.0", "--max-size", "128"]
SLOW = {**FAST, "method": "quality", "max-size": 512}  # minutes on a CPU: only ever cancelled
FAR = 20.0  # mean |stylised - source| per channel, out of 255: clearly restyled
CLOSE = 1.5  # mean |plug-in - styleswap stylize|: the same result up to JPEG decoding of the style


def stylize_cli(rgba: np.ndarray, folder: Path) -> np.ndarray:
    """`styleswap stylize` on the same pixels, with the engine in its own process: the reference."""
    folder.mkdir()
    PILImage.fromarray(rgba).save(folder / "in.png")
    command = [sys.executable, "-m", "styleswap", "stylize", str(folder / "in.png"), str(STYLE), "-o", str(folder / "out.png"), *FAST_CLI, "--quiet"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return np.asarray(PILImage.open(folder / "out.png"))


@pytest.fixture(scope="module")
def reference(content, tmp_path_factory) -> np.ndarray:
    return stylize_cli(content, tmp_path_factory.mktemp("reference") / "whole")


def rgb_error(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(a[..., :3].astype(int) - b[..., :3].astype(int))[where].mean())


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
    assert "not running and could not be started" in outcome.error
    assert "styleswap-backend" in outcome.error
    assert_untouched(outcome, content)


def test_cancelling_kills_the_plugin_and_the_daemon_drops_its_job(sandbox, daemon, large_content):
    dropped = daemon.log.count("dropped: its client went away")
    running = sandbox.start("cancel", large_content, STYLE, SLOW, daemon.path)
    wait_until(lambda: daemon_jobs(daemon) == 1, 120, "the job reaching the daemon")
    assert sandbox.plugin_pids()

    sandbox.kill_plugin()  # what GIMP does when the progress bar's cancel is pressed
    wait_until(lambda: daemon_jobs(daemon) == 0, 30, "the daemon dropping the job")  # the job alone runs for minutes
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
    assert "sent nothing for 5 s" in outcome.error
    assert_untouched(outcome, large_content)
    wait_until(lambda: daemon_jobs(daemon) == 0, 30, "the daemon ending the abandoned job")
