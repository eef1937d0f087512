"""Frames on disk: reading what the daemon is sent, writing what comes back. No bpy: runs on the worker thread.

Colour: a float file (the EXR passes the add-on records) holds premultiplied scene-linear values; they are
unpremultiplied and encoded with the sRGB curve, so the daemon sees the pass as the Standard view shows it,
with no view transform or look baked in. An integer file (a PNG render, say) is already display-encoded and
is sent as it is. The stylised frame is a straight-alpha sRGB PNG: the compositor decodes it back to linear
and applies the scene's view transform once, at the end, like for every other pixel.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

from styleswap_protocol import Image

_FLOAT_TYPES = (oiio.FLOAT, oiio.HALF, oiio.DOUBLE)
_TOP = 65535


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1), which is what Blender's "sRGB" colour space inverts."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def read_content(path: Path) -> np.ndarray:
    """A frame as (H, W, C) uint16, top row first, straight alpha, sRGB-encoded; C is 1 to 4."""
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)  # keep PNG/TIFF alpha straight as stored
    buf = oiio.ImageBuf(str(path), 0, 0, config)
    if buf.has_error:
        raise OSError(f"cannot read {path}: {buf.geterror()}")
    spec = buf.spec()
    pixels = np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels)[..., :4]
    if spec.format.basetype in _FLOAT_TYPES:
        pixels = _display(pixels, spec.alpha_channel if 0 <= spec.alpha_channel < 4 else None)
    return np.round(np.clip(pixels, 0.0, 1.0) * _TOP).astype(np.uint16)


def read_vectors(path: Path) -> np.ndarray:
    """A recorded Vector pass as float32 (H, W, C), top row first, as Blender wrote it: (x, y) towards where each
    pixel was in the previous frame, then (z, w) the negated motion to the next one, in pixels with y up (checked
    on renders of 4.5 and 5.0). Values that are not finite count as no motion."""
    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise OSError(f"cannot read the Vector pass {path}: {buf.geterror()}")
    spec = buf.spec()
    values = np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def motion_from_vectors(vectors: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """The protocol's motion (y down) from this frame's Vector pass: backward (x, -y); with the previous frame's
    pass (when it is the frame just before, and the recording kept all four channels), forward (-z, w) on its pixels."""
    backward = np.stack([vectors[..., 0], -vectors[..., 1]], axis=-1)
    if previous is None or previous.shape[2] < 4 or previous.shape[:2] != vectors.shape[:2]:
        return np.ascontiguousarray(backward, dtype="<f4")
    forward = np.stack([-previous[..., 2], previous[..., 3]], axis=-1)
    return np.ascontiguousarray(np.concatenate([backward, forward], axis=-1), dtype="<f4")


def read_mask(path: Path) -> np.ndarray:
    """A recorded matte as float32 (H, W) in [0, 1], top row first: its first channel as Blender computed it (no
    view transform: a matte is a weight, not a colour); NaN counts as 0, overshoot is clipped."""
    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise OSError(f"cannot read the mask {path}: {buf.geterror()}")
    spec = buf.spec()
    values = np.asarray(buf.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels)[..., 0]
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)


def mask_image(mask: np.ndarray) -> Image:
    height, width = mask.shape
    return Image(width, height, 1, "f32", np.ascontiguousarray(mask, dtype="<f4").tobytes())


def _display(linear: np.ndarray, alpha: int | None) -> np.ndarray:
    out = linear.copy()
    colour = [c for c in range(linear.shape[2]) if c != alpha][:3]
    if alpha is not None:
        a = linear[..., alpha : alpha + 1]
        out[..., colour] = np.divide(linear[..., colour], a, out=np.zeros_like(linear[..., colour]), where=a > 0)
    out[..., colour] = srgb_encode(out[..., colour])
    return out


@contextmanager
def replacing(path: Path) -> Iterator[str]:
    """A temporary name beside `path` (same suffix, so writers pick the format) that replaces it when the
    block succeeds: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_png(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit PNG, written atomically."""
    height, width, channels = pixels.shape
    spec = oiio.ImageSpec(width, height, channels, oiio.UINT16)
    spec.attribute("oiio:UnassociatedAlpha", 1)  # the pixels are straight already
    with replacing(path) as tmp:
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec) or not out.write_image(np.ascontiguousarray(pixels)) or not out.close():
            raise OSError(f"cannot write {path}: {oiio.geterror()}")


def to_image(pixels: np.ndarray) -> Image:
    height, width, channels = pixels.shape
    return Image(width, height, channels, "u16", pixels.astype("<u2").tobytes())


def from_image(image: Image) -> np.ndarray:
    if image.dtype != "u16":
        raise ValueError(f"expected 16-bit pixels from the daemon, got {image.dtype}")
    return np.frombuffer(image.data, dtype="<u2").reshape(image.height, image.width, image.channels).astype(np.uint16)


def fingerprint(pixels: np.ndarray, settings: dict[str, Any]) -> str:
    """What a stylised frame depends on: the pixels sent and every setting (style file hash, options)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(repr(pixels.shape).encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def frame_file(folder: Path, kind: str, frame: int) -> Path:
    """Frame N of a node's output folder: `<folder>/<kind>/NNNN.png` (kind: source, stylised, previous)."""
    return folder / kind / f"{frame:04d}.png"


def hold(folder: Path, frame: int) -> None:
    """Move the frame's stylised file to `previous/`, where no compositor reads it: while a render composites the
    frame (the file was made from an earlier pass, which the render may change), or because it is stale."""
    stylised = frame_file(folder, "stylised", frame)
    if stylised.is_file():
        previous = frame_file(folder, "previous", frame)
        previous.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stylised, previous)


def restore(folder: Path, frame: int) -> None:
    """Put back a frame held for a render that never sent its pass (a still render, a cancel, a refused render)."""
    previous, stylised = frame_file(folder, "previous", frame), frame_file(folder, "stylised", frame)
    if previous.is_file() and not stylised.is_file():
        os.replace(previous, stylised)


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Ledger:
    """Which stylised frames are done and from what (`styleswap.json` beside them), so a rerun skips
    frames whose source and settings are unchanged and redoes the rest."""

    NAME = "styleswap.json"

    def __init__(self, folder: Path) -> None:
        self.path = folder / self.NAME
        try:
            saved = json.loads(self.path.read_text())
            self._done: dict[str, str] = saved["frames"]
            self.chain: dict[str, Any] | None = saved.get("chain")
        except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
            self._done, self.chain = {}, None

    def is_done(self, frame: int, key: str, output: Path) -> bool:
        return self._done.get(str(frame)) == key and output.is_file()

    def has(self, frame: int) -> bool:
        return str(frame) in self._done

    def record(self, frame: int, key: str) -> None:
        self._done[str(frame)] = key
        self._save()

    def keep_chain(self, chain: dict[str, Any] | None) -> None:
        """The daemon sequence an interrupted render left open (its job id, last frame, settings), for the next
        render to go on with; None once it is taken up or ended."""
        self.chain = chain
        self._save()

    def _save(self) -> None:
        state: dict[str, Any] = {"frames": self._done, **({"chain": self.chain} if self.chain else {})}
        with replacing(self.path) as tmp, open(tmp, "w") as out:
            json.dump(state, out, indent=1, sort_keys=True)
