"""Regenerates docs/invnet_training.png: training loss and validation curves of the augmented run, the ablation and,
optionally, the run that continued the augmented one's weights with residual blocks added.

    python docs/make_invnet_figures.py RUN_DIR_WITH_SWAPS RUN_DIR_WITHOUT_SWAPS [CONTINUATION_RUN_DIR]
"""

import csv
import sys
from pathlib import Path

from styleswap.train import plot_runs

runs = [Path(arg) for arg in sys.argv[1:4]]
labels = ["real + swapped (ours)", "real only (ablation)", "ours continued, 2 residual blocks added"][: len(runs)]
with open(runs[0] / "losses.csv") as f:
    end_of_first = int(list(csv.DictReader(f))[-1]["step"])
plot_runs([run / "losses.csv" for run in runs], labels, Path("docs/invnet_training.png"), [0, 0, end_of_first][: len(runs)])
