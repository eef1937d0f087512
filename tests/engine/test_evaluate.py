import json
import subprocess
import sys

import pytest
from PIL import Image


def test_eval_scores_each_method_and_writes_sheet(models, tmp_path, chelsea, astronaut):
    for folder, image in (("content", chelsea), ("style", astronaut[::4, ::4])):
        (tmp_path / "eval" / folder).mkdir(parents=True)
        Image.fromarray(image).save(tmp_path / "eval" / folder / f"{folder}.png")
    run = subprocess.run(
        [sys.executable, "-m", "styleswap", "eval", "--data", tmp_path / "eval", "--size", "96", "--iters", "20", "--device", "cpu",
         "--methods", "invnet,optim", "--compare-decoder", models / "decoder_relu3_1.safetensors",
         "--sheet", tmp_path / "sheet.png", "--json", tmp_path / "scores.json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert set(scores) == {"invnet", "optim", "decoder"}
    for method in scores.values():
        assert len(method["objectives"]) == 1 and 0 < method["objectives"][0] < 1.5
        assert len(method["noise"]) == 1 and len(method["noise"][0]) == 3 and all(0 <= n < 60 for n in method["noise"][0])
    assert "| optim |" in run.stdout and "| decoder |" in run.stdout and "noise Cb" in run.stdout
    row = next(line for line in run.stdout.splitlines() if line.startswith("| optim |")).split("|")
    assert [float(cell) for cell in row[4:7]] == pytest.approx(scores["optim"]["noise"][0], abs=0.006)
    assert Image.open(tmp_path / "sheet.png").width > 5 * 96


def test_eval_rejects_unknown_method(tmp_path):
    run = subprocess.run([sys.executable, "-m", "styleswap", "eval", "--methods", "magic", "--data", tmp_path], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "unknown methods magic" in run.stderr
