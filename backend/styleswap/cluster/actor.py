"""The Ray actor: one engine per node (or per GPU), models loaded once, prepared styles kept."""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict

import ray
import torch

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture
from styleswap.engine.sizes import fit_within
from styleswap.engine.stylize import Engine, Options, Result
from styleswap.engine.swap import StylePatches

_KEPT_STYLES = 4  # prepared styles an actor keeps: a daemon serves a few at once, a sequence one


class StylizeActor:
    """Made with ``ray.remote(StylizeActor).options(...)`` by the pool, which places it and sizes its threads."""

    def __init__(self, device: str, weights: str | None, precision: str, threads: int | None) -> None:
        if threads:
            torch.set_num_threads(threads)  # the node's share, so actors on one machine do not oversubscribe its cores
        self.engine = Engine(device, weights, precision)
        self.engine.encoder(Options(), self.engine.dtype)  # load now: the first frame should not pay for it
        try:
            self.engine.decoder()
        except StyleSwapError:  # optimisation still works without the inverse network
            pass
        self._styles: OrderedDict[tuple, StylePatches] = OrderedDict()

    def describe(self) -> dict:
        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "device": str(self.engine.device),
            "precision": self.engine.precision,
            "threads": torch.get_num_threads(),
        }

    def stylize(self, content: Picture, style: list[ray.ObjectRef], style_id: str, options: Options) -> Result:
        """``style`` holds the style picture's reference inside a list so Ray does not fetch it for every frame:
        it is read only when this actor has not prepared that style yet."""
        key = (style_id, options.style_key(), max(fit_within(content.size, options.max_size)))
        patches = self._styles.get(key)
        if patches is None:
            patches = self.engine.prepare_style(_writable(ray.get(style[0])), options, content_size=content.size)
            self._styles[key] = patches
            while len(self._styles) > _KEPT_STYLES:
                self._styles.popitem(last=False)
        self._styles.move_to_end(key)
        return self.engine.stylize(_writable(content), patches, options)


def _writable(picture: Picture) -> Picture:
    """Ray hands over arrays read-only, straight from its object store; torch wants to own what it reads."""
    return picture if picture.rgb.flags.writeable else dataclasses.replace(picture, rgb=picture.rgb.copy())
