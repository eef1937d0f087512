"""benchmarks/gpu_check.sh --dry-run: the GPU check's own steps, at tiny sizes on the CPU, write real results."""

import json
import math
import re
import subprocess
import sys

import torch


def test_gpu_check_dry_run_writes_real_numbers(models, tmp_path):
    run = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--dry-run", "--python", sys.executable, "--out", str(tmp_path)], capture_output=True, text=True, timeout=3600
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] is True and report["passed"] is True and report["python"] == sys.executable
    assert [s["name"] for s in report["steps"]] == ["cuda_tests", "bench_1080", "bench_2160", "frame_8k"]
    assert all(s["status"] == "ok" and s["exit"] == 0 and s["seconds"] > 0 for s in report["steps"])

    tests = report["cuda_tests"]
    assert tests["collected"] >= 12 and tests["failed"] == tests["errors"] == 0
    if not torch.cuda.is_available():  # collected and skipped, never passed
        assert tests["skipped"] == tests["collected"] and tests["passed"] == 0
        assert tests["skip_reasons"]["needs a CUDA GPU (torch.cuda.is_available() is false)"] >= 10

    for step, size, padded in (("bench_1080", [64, 36], [64, 36]), ("bench_2160", [96, 54], [96, 56])):  # padded for the encoder's stride
        bench = report["bench"][step]
        assert (bench["device"], bench["precision"], bench["style_size"]) == ("cpu", "float16", 48)
        row = bench["sizes"][0]
        assert row["size"] == f"{size[0]}x{size[1]}" and row["content"] == padded
        stages = {"encode", "match_exact", "match_fast", "reconstruct_invnet", "end_to_end_invnet_cached_style", "end_to_end_invnet_new_style"}
        assert stages <= set(row["seconds"]) and all(math.isfinite(s) and s > 0 for s in row["seconds"].values())
        compared = row["precision_comparison"]
        assert compared["precisions"] == ["float16", "float32"] and all(s > 0 for s in compared["end_to_end_seconds"].values())
        assert 0 < compared["objective"]["float32"] < 1 and abs(compared["objective_change"]) < 0.05
        assert 0 < compared["mean_abs_difference_8bit"] < 5
    frames = report["frame_8k"]["frames"]
    assert [f["size"] for f in frames] == [[64, 36]] and frames[0]["device"] == "cpu" and frames[0]["timings"]["total"] > 0
    assert report["frame_8k"]["tiled_vs_whole"]["max_abs_difference_8bit"] < 0.01
    assert [t["met"] for t in report["targets"]] == [None, None, None]  # a dry run judges no GPU target

    text = (tmp_path / "gpu_check.md").read_text()
    assert text.startswith("# GPU check (dry run") and "| bench_2160 | ok |" in text
    assert f"{tests['collected']} collected: " in text
    assert re.search(r"^\| 96x54 \| 96x56 \| \d+ \| \d+\.\d{3} \|", text, re.M)  # bench's own table, with numbers
    assert re.search(r"^\| 96x54 \| \d+\.\d{4} \| \d+\.\d{4} \| 0\.\d{4} \| 0\.\d{4} \| [+-]\d+\.\d\d % \|", text, re.M)  # float16 against float32
    assert re.search(r"^\| 64x36 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", text, re.M)  # the large-frame step's table
    log = (tmp_path / "gpu_check.log").read_text()
    assert log.count("== ") >= 8 and "frame_8k: ok" in log
