"""Regenerates docs/invnet_training.png: training loss and validation curves of the augmented run, the ablation and
the runs that continued the augmented one's weights (with residual blocks added), each drawn after the one before.

    python docs/make_invnet_figures.py RUN_DIR_WITH_SWAPS RUN_DIR_WITHOUT_SWAPS [CONTINUATION_RUN_DIR ...]
"""

import csv
import sys
from pathlib import Path

from styleswap.train import plot_runs


def last_step(run: Path) -> int:
    with open(run / "losses.csv") as f:
        return int(list(csv.DictReader(f))[-1]["step"])


runs = [Path(arg) for arg in sys.argv[1:]]
main, continuations = runs[0], runs[2:]  # runs[1] is the ablation, drawn from step 0
labels = ["real + swapped (ours)", "real only (ablation)"] + [f"ours continued ({i + 1}), 2 residual blocks" for i in range(len(continuations))]
offsets, start = [0, 0], last_step(main)
for run in continuations:
    offsets.append(start)
    start += last_step(run)
plot_runs([run / "losses.csv" for run in runs], labels, Path("docs/invnet_training.png"), offsets)
