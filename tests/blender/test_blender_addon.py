"""The add-on in real Blender 4.5 LTS, 5.0, 5.1, 5.2 and 5.3 against a real daemon: an animation rendered with Cycles on
the CPU (64x48, 3 frames), each frame stylised as it is written, composited back, and resumed.

Tolerances are in 8-bit steps; the 16-bit files make exact paths land within 0.01 of a step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zmq
from PIL import Image as PILImage

from blender_run import ROOT, STYLE, Blender, frame, raw
from digest import file_hashes
from styleswap_protocol import (
    ConnectionInfo,
    new_key,
    read_connection_file,
    write_connection_file,
)
from styleswap_protocol.options import HOST_OPTIONS

FRAMES = (1, 2, 3)
ENGINE_FLAGS = ["--method", "invnet", "--max-size", "64", "--patch-size", "3"]  # what blender_scene.py sets on the node


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def cli_stylize(sources: Path, target: Path, flags: tuple[str, ...] = ()) -> Path:
    """`styleswap stylize` on the frames the add-on sent, in-process engine, same options as the node."""
    command = [sys.executable, "-m", "styleswap", "stylize", str(sources), str(STYLE), "-o", str(target), *ENGINE_FLAGS, *flags, "--quiet"]
    subprocess.run(command, check=True, timeout=300)
    return target


def opaque(picture: np.ndarray) -> np.ndarray:
    return picture[..., 3] >= 254.99


def chroma(picture: np.ndarray) -> np.ndarray:
    """BT.601 Cb and Cr, written out here rather than taken from the engine."""
    r, g, b = picture[..., 0], picture[..., 1], picture[..., 2]
    return np.stack([-0.168736 * r - 0.331264 * g + 0.5 * b, 0.5 * r - 0.418688 * g - 0.081312 * b], axis=-1)


def test_combined_pass_is_stylised_per_frame_composited_and_resumed(blender: Blender, tmp_path):
    report = blender.run(tmp_path, ["render", "composite", "references"], render_pass="combined", view="Standard", transparent=True)
    out, render = tmp_path / "out", tmp_path / "render"
    assert "/extensions/.local/" in report["zmq"]  # installed as an extension: Blender installed the bundled wheel
    assert_options_are_the_schemas(report["node_properties"])

    run = report["runs"][0]
    assert (run["submitted"], run["stylised"], run["kept"], run["failed"]) == (3, 3, 0, 0), run
    expected = [f"{n:04d}.png" for n in FRAMES]
    assert names(out / "stylised") == names(out / "source") == names(render) == names(out / "composite") == expected

    reference = cli_stylize(out / "source", tmp_path / "cli")
    for name in expected:
        source, stylised = frame(out / "source" / name), frame(out / "stylised" / name)
        # The daemon was sent the pass as Blender's Standard view shows it: no view transform baked in.
        assert np.abs(source - frame(out / "reference" / name)).max() < 0.05
        # The same pixels as `styleswap stylize` gives for the same frame and options.
        assert stylised.shape == (48, 64, 4)
        assert np.abs(stylised - frame(reference / name)).max() < 0.5
        assert np.abs(stylised - source)[opaque(source)].mean() > 10  # and it did change the frame
        # Transparent film: alpha passes through exactly, and the frame has both empty and solid pixels.
        alpha = raw(out / "source" / name)[..., 3]
        assert np.array_equal(raw(out / "stylised" / name)[..., 3], alpha)
        assert (alpha == 0).any() and (alpha == 65535).any()
        # The composite shows the stylised frame, with the render's alpha.
        composite = frame(out / "composite" / name)
        assert np.abs(composite - stylised)[opaque(source)].max() < 0.5
        assert np.array_equal(raw(out / "composite" / name)[..., 3], alpha)
        # The first render composited before the stylised frame existed: the plain pass shows through.
        assert np.abs(frame(render / name) - source)[opaque(source)].max() < 0.05

    # Originals untouched: the render's frames and the recorded passes are as the render wrote them.
    assert report["rendered"]["render"] == file_hashes(render)
    assert report["rendered"]["passes"] == file_hashes(out / "passes")

    # Lose frame 2 and render again: frames 1 and 3 are kept as they are, only frame 2 is redone.
    before = {name: (out / "stylised" / name).stat().st_mtime_ns for name in expected}
    lost = frame(out / "stylised" / "0002.png")
    (out / "stylised" / "0002.png").unlink()
    again = blender.run(tmp_path, ["render"], render_pass="combined", view="Standard", transparent=True)["runs"][0]
    assert (again["submitted"], again["stylised"], again["kept"], again["failed"]) == (3, 1, 2, 0), again
    assert all((out / "stylised" / n).stat().st_mtime_ns == before[n] for n in ("0001.png", "0003.png"))
    assert np.abs(frame(out / "stylised" / "0002.png") - lost).max() < 0.5
    # Frames 1 and 3 were stylised already, but a render composites its own pass: they could have been stale.
    source = frame(out / "source" / "0001.png")
    assert np.abs(frame(render / "0001.png") - source)[opaque(source)].max() < 0.05
    assert not list((out / "previous").glob("*.png"))  # the frames held aside during the render came back


def test_preserve_colour_on_the_node_keeps_the_frames_colours(blender: Blender, tmp_path):
    report = blender.run(tmp_path, ["render"], render_pass="combined", view="Standard", frames=1, preserve_color=True)
    out = tmp_path / "out"
    run = report["runs"][0]
    assert (run["submitted"], run["stylised"], run["failed"]) == (1, 1, 0), run

    source, stylised = frame(out / "source" / "0001.png"), frame(out / "stylised" / "0001.png")
    plain = frame(cli_stylize(out / "source", tmp_path / "plain") / "0001.png")
    kept = frame(cli_stylize(out / "source", tmp_path / "kept", ("--preserve-color",)) / "0001.png")
    assert np.abs(stylised - kept).max() < 0.5  # what `styleswap stylize --preserve-color` gives
    colour_error = np.abs(chroma(stylised) - chroma(source)).mean()
    assert colour_error < 1.0 and colour_error < 0.2 * np.abs(chroma(plain) - chroma(source)).mean()
    assert np.abs(stylised - source)[..., :3].mean() > 5  # restyled all the same


def test_a_render_after_a_change_composites_its_own_pass_and_stale_frames_are_never_composited(blender: Blender, tmp_path):
    """Style changed between renders and again before a composite, a user's File Output node beside ours, two nodes
    on one folder: the render's files and the user's stay right, and a composite shows only frames that match."""
    other_style, third_style = ROOT / "examples" / "ink_splat.png", ROOT / "examples" / "chelsea.jpg"
    out, render, user = tmp_path / "out", tmp_path / "render", tmp_path / "user"
    steps = ["render", f"style:{other_style}", "render", "composite", f"style:{third_style}", "composite"]
    report = blender.run(tmp_path, steps, user_output=str(user), transparent=True)
    first, second = report["runs"]
    assert (first["stylised"], second["stylised"], second["kept"]) == (3, 3, 0), report["runs"]

    reference = cli_stylize(out / "source", tmp_path / "cli")  # the first style, as the daemon made it then
    for n in FRAMES:
        name = f"{n:04d}.png"
        source = frame(out / "source" / name)
        solid = opaque(source)
        # The second render composited its own pass, not the first style's frames, which it could not know stale.
        assert np.abs(frame(render / name) - source)[solid].max() < 0.05
        assert np.abs(frame(reference / name) - source)[solid].mean() > 10
    # The last composite, made after the style changed again with no render to stylise it, showed the plain pass;
    # the second style's frames wait in previous/, not in stylised/ where the node reads.
    assert names(out / "stylised") == [] and names(out / "previous") == [f"{n:04d}.png" for n in FRAMES]
    for n in FRAMES:
        name = f"{n:04d}.png"
        source = frame(out / "source" / name)
        assert np.abs(frame(out / "composite" / name) - source)[opaque(source)].max() < 0.05
        assert np.abs(frame(out / "previous" / name) - frame(reference / name))[opaque(source)].mean() > 10  # not the first style
    # The user's own File Output files are as the last render wrote them: the composites did not touch them.
    assert report["rendered"]["user"] == file_hashes(user) and len(report["rendered"]["user"]) == 3

    two = blender.run(tmp_path / "two", ["add_node", "render"])
    assert two["added_outputs"] == ["//styleswap/", "//styleswap_2/"]  # each new node gets a folder of its own
    assert two["runs"] == [None]  # set to the first node's folder: the render is not stylised, and says why
    assert "Style Swap.001 and Style Swap write to the same output folder" in "".join(log.read_text() for log in (tmp_path / "two").glob("blender-*.log"))


def test_an_unsaved_file_with_a_relative_folder_is_not_stylised_and_writes_nothing_until_it_is_saved(blender: Blender, tmp_path):
    saved = tmp_path / "project"
    saved.mkdir()
    report = blender.run(tmp_path, ["render", f"save:{saved / 'scene.blend'}", "render"], output="//styleswap/")  # the default folder
    unsaved, after_saving = report["runs"]
    assert unsaved is None and not (tmp_path / "styleswap").exists()  # Blender's working directory: no stray passes
    assert "the output folder '//styleswap/' is relative, and this file is not saved yet" in "".join(log.read_text() for log in tmp_path.glob("blender-*.log"))
    assert after_saving["stylised"] == 3, after_saving  # saved: the folder beside the file records and stylises
    assert names(saved / "styleswap" / "stylised") == [f"{n:04d}.png" for n in FRAMES]


def test_a_render_that_is_not_stylised_composites_its_own_pass_too(blender: Blender, tmp_path):
    out, render = tmp_path / "out", tmp_path / "render"
    report = blender.run(tmp_path, ["render", "style:", "render"], transparent=True)  # then no style image: refused
    assert report["runs"][1] is None
    for n in FRAMES:
        name = f"{n:04d}.png"
        source = frame(out / "source" / name)
        assert np.abs(frame(render / name) - source)[opaque(source)].max() < 0.05  # not the stylised frame
    assert names(out / "stylised") == [f"{n:04d}.png" for n in FRAMES] and names(out / "previous") == []  # put back


def test_a_lost_recorded_pass_stops_the_composite_before_anything_is_written(blender: Blender, tmp_path):
    out = tmp_path / "out"
    blender.run(tmp_path, ["render"])
    (out / "passes" / "Render_Layers.Image_0002.exr").unlink()
    report = blender.run(tmp_path, ["composite_refused"])
    assert not (out / "composite").exists()
    assert "no recorded pass of frame(s) 2 in" in report["refused"]


def test_non_combined_pass_under_agx_and_stylising_a_rendered_sequence(blender: Blender, tmp_path):
    report = blender.run(tmp_path, ["render", "composite", "references"], render_pass="diffuse", view="AgX", install="legacy")
    out, render = tmp_path / "out", tmp_path / "render"
    assert "/scripts/addons/styleswap_blender/site/zmq/" in report["zmq"]  # a legacy add-on unpacks its own wheel

    run = report["runs"][0]
    assert (run["submitted"], run["stylised"], run["failed"]) == (3, 3, 0), run
    assert any(name.endswith(("DiffCol_", "Diffuse_Color_")) for name, linked in report["recorder"] if linked)
    expected = [f"{n:04d}.png" for n in FRAMES]
    reference = cli_stylize(out / "source", tmp_path / "cli")
    for name in expected:
        source, stylised, composite = frame(out / "source" / name), frame(out / "stylised" / name), frame(out / "composite" / name)
        # The diffuse colour pass, sRGB-encoded, not the AgX image the render shows.
        assert np.abs(source - frame(out / "reference" / name)).max() < 0.05
        assert np.abs(source - frame(render / name))[..., :3].mean() > 2
        assert np.abs(stylised - frame(reference / name)).max() < 0.5
        # Composited through AgX exactly once: equal to Blender's AgX of the stylised frame, and so
        # visibly different from the stylised frame itself (AgX applied twice would differ again).
        assert np.abs(composite - frame(out / "expected" / name)).max() < 0.5
        assert np.abs(composite - stylised)[..., :3].mean() > 5

    # Stylise the already rendered sequence with the operator: only the frame that is missing is redone.
    (out / "stylised" / "0003.png").unlink()
    again = blender.run(tmp_path, ["stylize_rendered"], render_pass="diffuse", view="AgX")["runs"][0]
    assert (again["submitted"], again["stylised"], again["kept"], again["failed"]) == (3, 1, 2, 0), again
    assert names(out / "stylised") == expected


@pytest.fixture
def silent_daemon(tmp_path) -> Iterator[Path]:
    """A connection file naming a live process whose socket never answers: a daemon that hangs."""
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    path = write_connection_file(ConnectionInfo(port, new_key(), os.getpid(), "0.0.0", time.time()), tmp_path / "silent" / "backend.json")
    yield path
    context.destroy(linger=0)


@pytest.fixture
def autostarted(tmp_path, monkeypatch) -> Iterator[Path]:
    """Where a daemon that the add-on starts publishes itself; that daemon is stopped afterwards."""
    path = tmp_path / "auto" / "backend.json"
    monkeypatch.setenv("STYLESWAP_LOG_DIR", str(tmp_path / "auto-log"))  # the Blender run, and so the daemon, inherit it
    yield path
    if path.is_file():
        os.kill(read_connection_file(path).pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while path.exists() and time.monotonic() < deadline:  # it removes the file as it exits
            time.sleep(0.1)


def test_missing_or_silent_daemon_is_reported_and_autostart_recovers(blender: Blender, tmp_path, silent_daemon, autostarted):
    shots = tmp_path / "shots"  # an already rendered sequence: two display-referred PNG frames
    shots.mkdir()
    for number in (7, 8):
        PILImage.open(STYLE).convert("RGB").resize((64, 48)).rotate(number * 10).save(shots / f"shot_{number:04d}.png")
    steps = [
        "prefs:" + json.dumps({"connection_file": str(tmp_path / "nowhere" / "backend.json"), "autostart": False}),
        f"stylize_folder:{shots}",
        "prefs:" + json.dumps({"connection_file": str(silent_daemon), "timeout": 2.0}),
        f"stylize_folder:{shots}",
        # No daemon command in the preferences: the one recorded by the build (this StyleSwap's) is used.
        "prefs:" + json.dumps({"connection_file": str(autostarted), "autostart": True, "timeout": 60.0}),
        f"stylize_folder:{shots}",
    ]
    missing, silent, started = blender.run(tmp_path, steps)["runs"]

    assert (missing["submitted"], missing["stylised"], missing["failed"]) == (2, 0, 0), missing
    assert "not available" in missing["errors"][0] and "no connection file" in missing["errors"][0]
    assert "Start Daemon" in missing["errors"][0] and "autostart" in missing["errors"][0]
    assert "2 not stylised (The StyleSwap daemon is not available" in missing["summary"]
    assert silent["stylised"] == 0 and "does not answer" in silent["errors"][0] and "within 2 s" in silent["errors"][0], silent
    assert (started["submitted"], started["stylised"], started["failed"]) == (2, 2, 0), started["errors"]
    assert autostarted.is_file()  # the add-on's daemon is running, published where the preferences said
    out = tmp_path / "out" / "stylised"
    assert names(out) == ["0007.png", "0008.png"]
    for number in (7, 8):  # display-referred input is sent as it is
        assert np.array_equal(raw(tmp_path / "out" / "source" / f"{number:04d}.png")[..., :3] >> 8, raw(shots / f"shot_{number:04d}.png")[..., :3])


def test_cancel_keeps_finished_frames_and_the_next_run_skips_them(blender: Blender, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    style = PILImage.open(STYLE).convert("RGB")
    count = 24
    for number in range(count):
        style.resize((64, 48)).rotate(number * 15).save(shots / f"shot_{number:04d}.png")
    cancelled, resumed = blender.run(tmp_path, [f"stylize_folder_then_cancel:{shots}", f"stylize_folder:{shots}"])["runs"]

    # Cancel is pressed once the first frame is stylised, before the job takes the second (blender_scene.py)
    assert (cancelled["submitted"], cancelled["stylised"], cancelled["failed"]) == (count, 1, 0), cancelled
    assert f"{count - 1} not stylised (cancelled)" in cancelled["summary"]
    assert (resumed["stylised"], resumed["kept"], resumed["failed"]) == (count - 1, 1, 0), resumed
    stylised = tmp_path / "out" / "stylised"
    assert names(stylised) == [f"{n:04d}.png" for n in range(count)]
    assert not [p for p in stylised.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def assert_options_are_the_schemas(properties: dict) -> None:
    """Every option the schema shows in hosts is a node property of its kind, label, default, range and items."""
    kinds = {int: "INT", float: "FLOAT", bool: "BOOLEAN", str: "ENUM"}
    for option in HOST_OPTIONS:
        registered = properties[option.name]
        assert (registered["type"], registered["name"], registered["default"]) == (kinds[option.kind], option.label, option.default), option.name
        if option.choices:
            assert registered["items"] == [choice.value for choice in option.choices]
        elif option.kind is not bool:
            assert (registered["min"], registered["max"]) == pytest.approx((option.minimum, option.maximum)), option.name
    assert set(properties) == {"style_image", "render_pass", "output", "temporal", *(o.name for o in HOST_OPTIONS)}


def test_a_matte_on_the_mask_input_limits_the_stylised_pixels(blender: Blender, tmp_path):
    report = blender.run(tmp_path, ["render"], render_pass="combined", view="Standard", transparent=True, mask="alpha")
    out = tmp_path / "out"
    run = report["runs"][0]
    assert (run["submitted"], run["stylised"], run["failed"]) == (3, 3, 0), run
    assert any(name.startswith("Render_Layers.Alpha_") for name in report["rendered"]["passes"])  # the matte was recorded
    for name in [f"{n:04d}.png" for n in FRAMES]:
        source, stylised = raw(out / "source" / name), raw(out / "stylised" / name)
        empty, solid = source[..., 3] == 0, source[..., 3] == 65535
        assert empty.any() and solid.any()
        assert np.array_equal(stylised[empty], source[empty])  # mask 0: the pass as it was, bit for bit
        assert np.abs(stylised[solid][:, :3].astype(float) - source[solid][:, :3]).mean() > 10 * 257  # mask 1: stylised


def measures(sources: list[Path], results: list[Path]) -> tuple[float, float]:
    """`styleswap eval-temporal`'s static-region flicker ratio and warped temporal error (its module defines them;
    the motion for the latter is estimated from the rendered frames, the same for both modes)."""
    from styleswap.tools import temporal_eval

    def rgb(path: Path) -> np.ndarray:
        return np.ascontiguousarray(frame(path)[..., :3] / 255, dtype=np.float32)

    contents, outputs = [rgb(p) for p in sources], [rgb(p) for p in results]
    motions = [temporal_eval._motion(contents[t - 1], contents[t]) for t in range(1, len(contents))]
    return temporal_eval._flicker(contents, outputs)[1], temporal_eval._warped_error(outputs, motions)


def test_stable_animation_follows_the_vector_pass_and_says_when_it_cannot(blender: Blender, tmp_path):
    """A camera pan (right and up) over a still scene rendered twice: without the Vector pass (frame by frame, and the node says so;
    its button turns the pass on) and with it (one temporal sequence following the vectors): less flicker."""
    count = 6
    scene = {"render_pass": "combined", "view": "Standard", "frames": count, "size": (128, 96), "pan": True}
    plain = blender.run(tmp_path / "plain", ["render", "enable_vector_pass"], **scene)
    stable = blender.run(tmp_path / "stable", ["render"], vector=True, **scene)
    for report in (plain, stable):
        run = report["runs"][0]
        assert (run["submitted"], run["stylised"], run["failed"]) == (count, count, 0), run
    assert "frame by frame, the Vector pass is off (Enable Vector Pass for stable animation)" in plain["runs"][0]["summary"]
    assert plain["vector_pass"] and any(name.startswith("Render_Layers.Vector") for name in plain["recorded_after_button"])
    assert f"{count} frame(s) following the Vector pass" in stable["runs"][0]["summary"]
    assert "restarted" not in stable["runs"][0]["summary"]
    assert any(name.startswith("Render_Layers.Vector_") for name in stable["rendered"]["passes"])

    expected = [f"{n:04d}.png" for n in range(1, count + 1)]
    sources = [tmp_path / "stable" / "out" / "source" / name for name in expected]
    for name, source in zip(expected, sources):  # the same render both times: only the stylisation differs
        assert np.abs(frame(tmp_path / "plain" / "out" / "source" / name) - frame(source)).max() < 0.05
    flicker, warped = measures(sources, [tmp_path / "plain" / "out" / "stylised" / name for name in expected])
    stable_flicker, stable_warped = measures(sources, [tmp_path / "stable" / "out" / "stylised" / name for name in expected])
    print(f"Blender {blender.version}: static-region flicker {flicker:.2f}x -> {stable_flicker:.2f}x, warped error {warped:.2e} -> {stable_warped:.2e}")
    # Measured on 4.5 to 5.3: 7.5-7.9x -> 5.1-5.4x and 6.7-7.5e-4 -> 2.2-2.5e-4. Flat surfaces that move with the
    # camera count as static content here, and the texture that rightly moves with them as flicker: the static ratio
    # drops less than the warped error.
    assert stable_flicker < 0.85 * flicker, (flicker, stable_flicker)
    assert stable_warped < 0.5 * warped, (warped, stable_warped)


def test_a_cancelled_render_resumed_keeps_the_chain(blender: Blender, tmp_path):
    """The pan rendered to the end in one go, and cancelled after frame 3 then rendered again: the second render keeps
    frames 1 to 3 and goes on with the same chain on the daemon, so frames 4 to 6 are what one unbroken render made
    (measured: bit for bit; without the chain kept, frame 4 differs by 1.9 8-bit steps on average, up to 40)."""
    scene = {"render_pass": "combined", "view": "Standard", "frames": 6, "size": (128, 96), "pan": True, "vector": True}
    whole = blender.run(tmp_path / "whole", ["render"], **scene)
    resumed = blender.run(tmp_path / "resumed", ["render_interrupted:3", "render"], **scene)
    assert "6 frame(s) following the Vector pass" in whole["runs"][0]["summary"]
    cut, again = resumed["runs"]
    assert (cut["submitted"], cut["stylised"], cut["failed"]) == (3, 3, 0), cut
    assert (again["submitted"], again["stylised"], again["kept"], again["failed"]) == (6, 3, 3, 0), again
    assert "3 frame(s) following the Vector pass" in again["summary"] and "restarted" not in again["summary"], again["summary"]
    for n in range(1, 7):
        name = f"{n:04d}.png"
        assert np.abs(frame(tmp_path / "resumed" / "out" / "source" / name) - frame(tmp_path / "whole" / "out" / "source" / name)).max() < 0.05
        assert np.abs(frame(tmp_path / "resumed" / "out" / "stylised" / name) - frame(tmp_path / "whole" / "out" / "stylised" / name)).max() < 0.5, n


def test_a_single_frame_with_the_vector_pass_is_the_per_frame_result(blender: Blender, tmp_path):
    """One frame has no frame before it to follow: the chain starts and ends there, as `styleswap stylize` makes it."""
    report = blender.run(tmp_path, ["render"], render_pass="combined", view="Standard", frames=1, size=(128, 96), pan=True, vector=True)
    run = report["runs"][0]
    assert (run["submitted"], run["stylised"], run["failed"]) == (1, 1, 0), run
    assert "1 frame(s) following the Vector pass" in run["summary"] and "restarted" not in run["summary"]
    out = tmp_path / "out"
    reference = cli_stylize(out / "source", tmp_path / "cli", ("--max-size", "128"))
    assert np.abs(frame(out / "stylised" / "0001.png") - frame(reference / "0001.png")).max() < 0.5
