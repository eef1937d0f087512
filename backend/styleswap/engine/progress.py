"""Progress in proportion to the work, so a bar and its time estimate move evenly.

Every chunk of work reports (an image tile, a block of matched positions, an optimisation step), and each stage's
share of the whole image is its estimated count of multiply-adds: encoding the content (and the style, when it is
not prepared yet), matching every content patch against the style patches it is scored with, and decoding or
optimising. The estimate leaves out how fast each kind of arithmetic runs (int8 GEMMs, a GPU's tensor cores), so a
stage can move somewhat faster or slower than the others; within a stage the bar moves with the chunks.
"""

from __future__ import annotations

from typing import Callable

from styleswap.engine.options import Progress

STAGES = ("encode", "swap", "reconstruct")
# Multiply-adds per input pixel of VGG-19 up to each layer: its 3x3 convs, those after a pooling on 1/4 and 1/16 of the
# pixels (conv1_1 1 728, conv1_2 36 864, conv2_1 18 432, conv2_2 36 864, conv3_1 18 432).
ENCODER_MACS = {"relu1_1": 1_728, "relu1_2": 38_592, "relu2_1": 57_024, "relu2_2": 93_888, "relu3_1": 112_320}
LAYER_CHANNELS = {"relu1_1": 64, "relu1_2": 64, "relu2_1": 128, "relu2_2": 128, "relu3_1": 256}
LAYER_STRIDE = {"relu1_1": 1, "relu1_2": 1, "relu2_1": 2, "relu2_2": 2, "relu3_1": 4}
# Per output pixel of the inverse network (invnet.InverseNet): conv3_1 at 1/16 of the pixels 18 432, the upsampling
# convs as they run (four 2x2 phase kernels) 16 384 each, conv2_1 at 1/4 18 432, the RGB conv 1 728; and each residual block.
INVERSE_MACS = 71_360
RESIDUAL_MACS = 18_432
OPTIM_PASSES = 3  # an optimisation step runs the encoder forward and backward: about three forward passes

Chunk = Callable[[float], None]


def reconstruct_work(method: str, layer: str, pixels: int, iters: int, residual_blocks: int) -> tuple[float, float]:
    """Multiply-adds of decoding and of optimising for ``method``; ``invnet+optim`` does both, in that order."""
    decode = (INVERSE_MACS + RESIDUAL_MACS * residual_blocks) * pixels if method != "optim" else 0.0
    optimise = OPTIM_PASSES * ENCODER_MACS[layer] * pixels * iters if method != "invnet" else 0.0
    return float(decode), float(optimise)


class Tracker:
    """The engine's ``report(stage, stage_fraction)`` turned into the user's ``Progress(stage, stage_fraction,
    fraction)``, the last the share of the whole image done; never decreasing, exactly 1.0 at the end."""

    def __init__(self, progress: Progress | None, work: dict[str, float]) -> None:
        self._progress = progress
        total = sum(work.values()) or 1.0
        self._spans: dict[str, tuple[float, float]] = {}
        start = 0.0
        for stage in STAGES:
            self._spans[stage] = (start, work.get(stage, 0.0) / total)
            start += self._spans[stage][1]
        self._done = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        if self._progress is None:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        start, span = self._spans[stage]
        done = 1.0 if stage == STAGES[-1] and fraction == 1.0 else min(1.0, start + span * fraction)
        self._done = max(self._done, done)
        self._progress(stage, fraction, self._done)


def part(report: Chunk, start: float, span: float) -> Chunk:
    """A chunk's fractions mapped onto [start, start + span] of its caller's."""
    return lambda fraction: report(start + span * fraction)
