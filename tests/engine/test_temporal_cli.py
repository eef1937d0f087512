"""`styleswap stylize --temporal`: a sequence in name order, resumed after an interruption, and its bad input."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

SMALL = ["--max-size", "96", "--style-size", "64", "--device", "cpu", "--quiet"]


def styleswap(*args):
    return subprocess.run([sys.executable, "-m", "styleswap", *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture
def frames(tmp_path, astronaut, chelsea):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(astronaut[120:216, 150 + 2 * i : 246 + 2 * i]).save(folder / f"f_{i + 1:03d}.png")
    Image.fromarray(chelsea[::4, ::4]).save(tmp_path / "style.png")
    Image.fromarray(astronaut[::8, ::8]).save(tmp_path / "other_style.png")
    return folder


def pixels(path):
    return np.asarray(Image.open(path))


def test_a_rerun_resumes_after_the_last_finished_frame_as_if_never_stopped(tmp_path, frames, models):
    style = tmp_path / "style.png"
    whole = styleswap("stylize", f"{frames}/*.png", style, "-o", tmp_path / "whole", "--temporal", "--json", *SMALL)
    assert whole.returncode == 0, whole.stderr
    reports = [r["temporal"] for r in json.loads(whole.stdout)["results"]]
    assert [r["chain"] for r in reports] == [1, 2, 3, 4] and reports[0]["restart"] == "first frame"
    # the run stopped after two frames: the sequence then held only those
    part = tmp_path / "part"
    part.mkdir()
    for name in ("f_001.png", "f_002.png"):
        shutil.copy(frames / name, part / name)
    first = styleswap("stylize", f"{part}/*.png", style, "-o", tmp_path / "out", "--temporal", *SMALL)
    assert first.returncode == 0, first.stderr
    finished = {name: (tmp_path / "out" / name).read_bytes() for name in ("f_001.png", "f_002.png")}
    for name in ("f_003.png", "f_004.png"):
        shutil.copy(frames / name, part / name)
    again = styleswap("stylize", f"{part}/*.png", style, "-o", tmp_path / "out", "--temporal", "--json", *SMALL)
    assert again.returncode == 0, again.stderr
    results = json.loads(again.stdout)["results"]
    assert [r.get("kept") for r in results[:2]] == ["finished in an earlier run"] * 2
    assert [r["temporal"]["chain"] for r in results[2:]] == [3, 4]
    assert all((tmp_path / "out" / name).read_bytes() == data for name, data in finished.items())
    for name in ("f_003.png", "f_004.png"):
        assert np.array_equal(pixels(tmp_path / "out" / name), pixels(tmp_path / "whole" / name))
    # another style into the same folder would mix two runs: refused, nothing touched
    other = styleswap("stylize", f"{part}/*.png", tmp_path / "other_style.png", "-o", tmp_path / "out", "--temporal", *SMALL)
    assert other.returncode == 2 and "holds frames of a temporal run with another style or options" in other.stderr
    assert all((tmp_path / "out" / name).read_bytes() == data for name, data in finished.items())


def test_a_missing_frame_restarts_the_chain_and_says_so(tmp_path, frames, models):
    (frames / "f_003.png").unlink()
    run = styleswap("stylize", f"{frames}/*.png", tmp_path / "style.png", "-o", tmp_path / "out", "--temporal", "--json", *SMALL)
    assert run.returncode == 0, run.stderr
    assert "1 frame(s) missing between f_002.png and f_004.png: the temporal chain restarts at f_004.png" in run.stderr
    assert [r["temporal"]["chain"] for r in json.loads(run.stdout)["results"]] == [1, 2, 1]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["f_001.png", "f_002.png", "f_004.png"]


def test_frames_of_different_sizes_are_refused_before_any_work(tmp_path, frames, models):
    Image.open(frames / "f_003.png").crop((0, 0, 64, 96)).save(frames / "f_003.png")
    run = styleswap("stylize", f"{frames}/*.png", tmp_path / "style.png", "-o", tmp_path / "out", "--temporal", *SMALL)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"styleswap: error: {frames / 'f_003.png'} is 64x96 but {frames / 'f_001.png'} is 96x96: a temporal sequence takes frames of one size"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "flag,value,message", [("--temporal-margin", "-1", "temporal-margin must lie in"), ("--temporal-blend", "1", "temporal-blend must lie in")]
)
def test_bad_temporal_options_are_refused(tmp_path, frames, flag, value, message):
    run = styleswap("stylize", f"{frames}/*.png", tmp_path / "style.png", "-o", tmp_path / "out", "--temporal", flag, value, *SMALL)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


def test_eval_temporal_prints_the_table_and_writes_the_strip(tmp_path, frames, models):
    run = styleswap(
        "eval-temporal",
        f"{frames}/*.png",
        tmp_path / "style.png",
        "--size",
        "96",
        "--device",
        "cpu",
        "--strip",
        tmp_path / "strip.png",
        "--json",
        tmp_path / "report.json",
    )
    assert run.returncode == 0, run.stderr
    for row in ("static-region flicker", "whole-frame flicker", "warped error", "swap objective (per-frame target)", "seconds per frame", "machine:"):
        assert row in run.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    per, tem = report["modes"]["per-frame"], report["modes"]["temporal"]
    assert report["frames"] == 4 and tem["warped_error"] < per["warped_error"] and tem["flicker"] < per["flicker"]
    carried_whole, carried_static, _ = report["carried_flicker"]  # the first result only moved: far below restylising
    assert "carried along the motion" in run.stdout and carried_whole < per["flicker"] and carried_static < per["static_flicker"]
    held, own = report["held_objective"]  # the frame before's result is another frame's stylisation: further from the target
    assert "the per-frame result of the frame before, moved along the motion" in run.stdout and held > own > 0
    assert Image.open(tmp_path / "strip.png").size == (2 * 256 + 2, 5 * 256 + 4 * 2)  # frames 3 and 4 (from the middle on), 5 rows


@pytest.fixture
def own_daemon(tmp_path, models):
    """A daemon of this test's own: its job count is this test's alone."""
    from daemon_helpers import launch

    running = launch(tmp_path / "daemon")
    yield running
    running.stop()


def test_over_the_daemon_the_chain_is_the_same_and_a_rerun_restarts_it(tmp_path, frames, own_daemon):
    """`--temporal --daemon`: the daemon holds the chain (one `sequence` job), so the frames equal this process's
    chain; a gap starts a new job; a rerun keeps the finished frames and restarts the chain, saying so."""
    from daemon_helpers import daemon_env

    style, remote = tmp_path / "style.png", [s for s in SMALL if s not in ("--device", "cpu")]

    def over_daemon(output):
        command = [sys.executable, "-m", "styleswap", "stylize", f"{frames}/*.png", str(style), "-o", str(output), "--temporal", "--daemon", "--json", *remote]
        return subprocess.run(command, capture_output=True, text=True, timeout=600, env=daemon_env(own_daemon.root))

    here = styleswap("stylize", f"{frames}/*.png", style, "-o", tmp_path / "here", "--temporal", *SMALL)
    assert here.returncode == 0, here.stderr
    run = over_daemon(tmp_path / "there")
    assert run.returncode == 0, run.stderr
    reports = [r["temporal"] for r in json.loads(run.stdout)["results"]]
    assert [r["chain"] for r in reports] == [1, 2, 3, 4] and reports[0]["restart"] == "first frame" and reports[3]["kept"] > 0.5
    for name in ("f_001.png", "f_004.png"):  # the daemon runs one torch thread: sums in another order
        difference = np.abs(pixels(tmp_path / "there" / name).astype(int) - pixels(tmp_path / "here" / name))
        assert difference.max() <= 2 and difference.mean() < 0.05, name
    finished = (tmp_path / "there" / "f_004.png").read_bytes()
    (frames / "f_003.png").unlink()
    (frames / "f_005.png").write_bytes((frames / "f_004.png").read_bytes())
    again = over_daemon(tmp_path / "there")
    assert again.returncode == 0, again.stderr
    assert "the temporal chain restarts at f_005.png: the daemon keeps a sequence's state only while it runs" in again.stderr
    results = json.loads(again.stdout)["results"]
    assert [r.get("kept") for r in results[:3]] == ["finished in an earlier run"] * 3 and results[3]["temporal"]["chain"] == 1
    assert (tmp_path / "there" / "f_004.png").read_bytes() == finished
    gap = over_daemon(tmp_path / "gap")
    assert gap.returncode == 0, gap.stderr
    assert "1 frame(s) missing between f_002.png and f_004.png: the temporal chain restarts at f_004.png" in gap.stderr
    assert [r["temporal"]["chain"] for r in json.loads(gap.stdout)["results"]] == [1, 2, 1, 2]
    with own_daemon.client() as client:  # every job the runs opened was closed
        assert client.hello()["engine"]["jobs"] == 0
