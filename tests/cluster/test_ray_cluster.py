"""A real Ray cluster on loopback: a head that runs nothing and two one-CPU worker nodes, started here and
stopped at the end. A 24-frame sequence goes through it from the CLI, from the daemon, and from a driver that
loses a worker node mid-run; every frame must equal the single-machine CLI's, and each must be written once."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Ray swaps 127.0.0.1 in an address for this machine's network address unless it believes itself on one machine:
# so the cluster, its drivers and the daemon started here (they inherit the variable) all stay on loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the cluster runner needs pip install 'styleswap[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402

from daemon_helpers import daemon_env, launch, to_array, to_image  # noqa: E402
from styleswap.engine.images import load_image  # noqa: E402
from styleswap.engine.stylize import Options  # noqa: E402

FRAMES = 24
SIDE = 64
# float32 on every actor and in the single-machine run, so the comparison can be exact
OPTIONS = ["--method", "invnet", "--max-size", str(SIDE), "--style-size", "96", "--precision", "float32", "--device", "cpu"]
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20, "node_ip_address": "127.0.0.1"}
DEADLINE = 600.0  # seconds any one wait may take on a busy two-core machine before the test fails rather than hangs


def styleswap(*args, env=None, timeout=DEADLINE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "styleswap", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def cluster():
    """Head with no CPUs (it only coordinates, so every frame runs on a worker node) and two worker nodes."""
    made = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": 0, "include_dashboard": False})
    try:
        workers = [made.add_node(**NODE) for _ in range(2)]
        made.wait_for_nodes()
        made.workers = workers
        yield made
    finally:
        if ray.is_initialized():
            ray.shutdown()
        made.shutdown()


@pytest.fixture(scope="module")
def sequence(tmp_path_factory, astronaut, chelsea, models):
    """24 frames of a camera panning over a photo, a style, and the single-machine CLI's results for them."""
    root = tmp_path_factory.mktemp("sequence")
    (root / "frames").mkdir()
    for i in range(FRAMES):
        Image.fromarray(astronaut[100 + 4 * i : 100 + 4 * i + SIDE * 3 : 3, 150 + 2 * i : 150 + 2 * i + SIDE * 3 : 3]).save(
            root / "frames" / f"frame_{i:03d}.png"
        )
    Image.fromarray(chelsea[::3, ::3]).save(root / "style.png")
    run = styleswap("stylize", root / "frames" / "*.png", root / "style.png", "-o", root / "single", "--quiet", *OPTIONS)
    assert run.returncode == 0, run.stderr
    return root


def reference(sequence: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted((sequence / "single").glob("*.png"))}


def assert_same_frames(folder: Path, sequence: Path) -> None:
    expected = reference(sequence)
    assert len(expected) == FRAMES
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(expected), f"missing {set(expected) - set(written)}, extra {set(written) - set(expected)}"  # no temp file left either
    for name, pixels in expected.items():
        assert np.array_equal(np.asarray(Image.open(folder / name)), pixels), name


def test_an_address_with_no_cluster_is_a_one_line_error_in_seconds(sequence, tmp_path):
    run = styleswap("stylize", sequence / "frames" / "*.png", sequence / "style.png", "-o", tmp_path / "out", "--ray", "127.0.0.1:1", timeout=120)
    assert run.returncode == 2 and run.stderr.startswith("styleswap: error: cannot reach the Ray cluster at 127.0.0.1:1: Connection refused"), run.stderr
    assert not (tmp_path / "out").exists()


def test_temporal_segments_are_refused_until_built(sequence, tmp_path, monkeypatch):
    """--temporal comes from the temporal mode's own branch; with --ray it must stop before any work."""
    from styleswap.cli.cluster import stylize_on_cluster
    from styleswap.engine.errors import StyleSwapError

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started before --temporal was refused")

    monkeypatch.setattr(ray, "init", no_cluster)
    args = argparse.Namespace(temporal=True, daemon=False, ray="local", quiet=True, json=False)
    with pytest.raises(StyleSwapError, match="^--temporal with --ray is not available yet$"):
        stylize_on_cluster(args, Options(), [], [], lambda picture, target: None)


def test_the_cli_spreads_a_sequence_over_the_cluster(cluster, sequence, tmp_path):
    out = tmp_path / "out"
    run = styleswap("stylize", sequence / "frames" / "*.png", sequence / "style.png", "-o", out, "--ray", cluster.address, "--json", *OPTIONS)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["skipped"] == 0 and len(summary["results"]) == FRAMES
    assert Counter(r["output"] for r in summary["results"]).most_common(1)[0][1] == 1  # each frame once
    assert [(a["device"], a["precision"], a["threads"]) for a in summary["actors"]] == [("cpu", "float32", 1)] * 2  # one per worker node
    assert len({a["node"] for a in summary["actors"]}) == 2 and "2 Ray actors" in run.stderr
    assert_same_frames(out, sequence)


def test_an_interrupted_run_continues_where_it_stopped(cluster, sequence, tmp_path):
    """Ctrl-C once a frame is written; the rerun stylises only the rest and leaves the finished ones untouched."""
    out = tmp_path / "out"
    # Ctrl-C lands mid-sequence however busy the machine by ratio, not by a clock: the signal goes as soon as the first
    # frame is written, while 23 more frames of a few seconds each (on a quiet machine) are still to come; a busy
    # machine slows the frames as much as the test. Waiting for three frames of 1500 steps ran past the ten-minute
    # deadline beside two CPU burners; at 50 steps a loaded machine once let the whole sequence finish first.
    slow = [*OPTIONS, "--method", "optim", "--iters", "400"]
    command = [
        sys.executable,
        "-m",
        "styleswap",
        "stylize",
        str(sequence / "frames" / "*.png"),
        str(sequence / "style.png"),
        "-o",
        str(out),
        "--ray",
        cluster.address,
        "--quiet",
        *slow,
    ]
    # Ctrl-C as a terminal gives it: a test run started in the background (`pytest &`) hands its children SIGINT
    # ignored, and a Python started so never raises KeyboardInterrupt
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + DEADLINE
        while not [p for p in out.glob("*.png") if not p.name.startswith(".")]:  # a finished frame, not one being written
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "no frame written in time"
            time.sleep(0.05)
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=DEADLINE)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 130 and "interrupted" in stderr, stderr
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert all(not name.startswith(".") for name in kept), kept  # no partial file
    assert 1 <= len(kept) < FRAMES
    rerun = styleswap("stylize", sequence / "frames" / "*.png", sequence / "style.png", "-o", out, "--ray", cluster.address, "--json", *OPTIONS)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == len(kept) and len(summary["results"]) == FRAMES - len(kept)
    assert {Path(r["output"]).name for r in summary["results"]}.isdisjoint(kept)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (sequence / "frames").iterdir())
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # the first run's frames, untouched


def test_the_daemon_runs_its_clients_work_on_the_cluster(cluster, sequence, tmp_path):
    # its connection file appears once both actors have started (processes that import torch and load the weights)
    daemon = launch(tmp_path / "daemon", "--ray", cluster.address, "--precision", "float32", "--device", "cpu", timeout=DEADLINE)
    try:
        with daemon.client(timeout=DEADLINE) as client:
            engine = client.hello()["engine"]
            assert engine["device"] == f"ray:{cluster.address}" and len(engine["models"]) == 2, engine
            expected = reference(sequence)
            frames = sorted((sequence / "frames").glob("*.png"))
            got: dict[int, np.ndarray] = {}
            style = to_image(np.asarray(Image.open(sequence / "style.png")))
            options = {"method": "invnet", "max_size": SIDE, "style_size": 96}  # OPTIONS' (precision and device are the daemon's)
            done = client.run_sequence(
                ((i, to_image(np.asarray(Image.open(p)))) for i, p in enumerate(frames)), lambda n, image: got.setdefault(n, to_array(image)), style, options
            )
            assert done.frames == FRAMES and sorted(got) == list(range(FRAMES))
            for i, path in enumerate(frames):
                assert np.array_equal(got[i], expected[path.name]), path.name
        single = tmp_path / "one.png"
        run = styleswap("stylize", frames[5], sequence / "style.png", "-o", single, "--daemon", *OPTIONS[:6], env=daemon_env(daemon.root))
        assert run.returncode == 0, run.stderr
        assert np.array_equal(np.asarray(Image.open(single)), expected[frames[5].name])
    finally:
        assert daemon.stop(timeout=DEADLINE) == 0  # the actors are killed and Ray shut down first
    assert "2 Ray actors ready" in daemon.log


@pytest.fixture
def own_cluster():
    """A cluster of its own for the test that kills a node (Ray keeps a dead node listed for a while, which the
    module's other tests, in any order, must not see)."""
    if ray.is_initialized():
        ray.shutdown()
    made = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": 0, "include_dashboard": False})
    try:
        made.workers = [made.add_node(**NODE) for _ in range(2)]
        made.wait_for_nodes()
        yield made
    finally:
        if ray.is_initialized():
            ray.shutdown()
        made.shutdown()


def test_a_worker_node_lost_mid_sequence_loses_and_repeats_no_frame(own_cluster, sequence, tmp_path):
    """Takes one of the two worker nodes away mid-run."""
    from styleswap.cluster.connect import connect
    from styleswap.cluster.pool import ActorPool

    cluster = own_cluster
    connect(cluster.address)
    pool = ActorPool("cpu", None, "float32")
    try:
        assert len(pool.describe()) == 2
        frames = sorted((sequence / "frames").glob("*.png"))
        results: list[tuple[str, np.ndarray]] = []
        killed: list = []

        def done(name: str, result) -> None:
            results.append((name, result.picture.to_array()))
            if len(results) == 4:  # both actors busy with two frames each: take one node away, its frames with it
                cluster.remove_node(cluster.workers[0], allow_graceful=False)
                killed.append(cluster.workers[0])

        def failed(name: str, exc) -> None:
            raise AssertionError(f"{name}: {exc}")

        options = Options(method="invnet", max_size=SIDE, style_size=96)
        pool.map(((p.name, lambda p=p: load_image(p)) for p in frames), pool.put_style(load_image(sequence / "style.png")), options, done, failed)
        assert killed, "a worker node should have been taken away mid-sequence"
    finally:
        pool.close()
    names = [name for name, _ in results]
    assert sorted(names) == [p.name for p in frames] and len(set(names)) == FRAMES  # all 24, each once
    expected = reference(sequence)
    for name, pixels in results:
        assert np.array_equal(pixels, expected[name]), name
