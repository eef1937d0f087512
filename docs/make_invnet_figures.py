"""Regenerates docs/invnet_training.png: training loss and validation curves of the augmented run and the ablation.

    python docs/make_invnet_figures.py RUN_DIR_WITH_SWAPS RUN_DIR_WITHOUT_SWAPS
"""

import sys
from pathlib import Path

from styleswap.train import plot_runs

augmented, ablation = map(Path, sys.argv[1:3])
plot_runs([augmented / "losses.csv", ablation / "losses.csv"], ["real + swapped (ours)", "real only (ablation)"], Path("docs/invnet_training.png"))
