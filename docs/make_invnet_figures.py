"""Regenerates docs/invnet_training.png: training loss and validation curves of the augmented run, the ablation and
the runs that continued the augmented one's weights (with residual blocks added), each drawn after the one before.

    python docs/make_invnet_figures.py RUN_DIR_WITH_SWAPS RUN_DIR_WITHOUT_SWAPS [CONTINUATION_RUN_DIR ...]
"""

import csv
import json
import sys
from pathlib import Path

from safetensors import safe_open

from styleswap.tools.train import plot_runs


def residual_blocks(run: Path) -> int:
    with safe_open(run / "inverse.safetensors", "pt") as weights:
        return json.loads(weights.metadata()["config"])["residual_blocks"]


def last_step(run: Path) -> int:
    with open(run / "losses.csv") as f:
        return int(list(csv.DictReader(f))[-1]["step"])


runs = [Path(arg) for arg in sys.argv[1:]]
main, continuations = runs[0], runs[2:]  # runs[1] is the ablation, drawn from step 0
labels = ["real + swapped (ours)", "real only (ablation)"] + [f"ours continued ({i}), {residual_blocks(run)} residual blocks" for i, run in enumerate(continuations, 1)]
offsets, start = [0, 0], last_step(main)
for run in continuations:
    offsets.append(start)
    start += last_step(run)
plot_runs([run / "losses.csv" for run in runs], labels, Path("docs/invnet_training.png"), offsets)
