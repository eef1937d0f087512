"""The settings of `styleswap train-inverse`, apart from the training code so the command line shows their
defaults without importing torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    photos: str
    paintings: str
    out: str = "runs/invnet"
    steps: int = 20000
    size: int = 256
    lr: float = 1e-3
    lr_decay: float = 1e-4
    anneal: int = 0  # final steps over which the learning rate falls linearly to zero (0: the paper's decay only)
    tv: float = 1.0
    augment: bool = True
    seed: int = 0
    checkpoint_every: int = 500
    val_every: int = 250
    val_images: int = 8
    patch_size: int = 3
    residual_blocks: int = 0
