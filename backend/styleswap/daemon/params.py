"""Request params checked strictly: the protocol leaves params to the daemon, and a typo must not be
silently ignored, so unknown keys and wrong types are `bad_params` before any work is queued."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.options import Options
from styleswap.engine.sizes import fit_within
from styleswap_protocol import Image
from styleswap_protocol.options import BY_NAME

from .errors import BAD_PARAMS, RequestError


def bad(message: str) -> RequestError:
    return RequestError(BAD_PARAMS, message)


def check_keys(params: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = params.keys() - set(allowed)
    if unknown:
        raise bad(f"unknown params {sorted(unknown)}; this request takes {sorted(allowed)}")


def optional(params: dict[str, Any], name: str, kind: type) -> Any:
    """params[name] if present, of exactly `kind` (bool is not an int here)."""
    value = params.get(name)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise bad(f"{name!r} must be {kind.__name__}, got {value!r}")
    return value


def required(params: dict[str, Any], name: str, kind: type) -> Any:
    value = optional(params, name, kind)
    if value is None:
        raise bad(f"{name!r} is required")
    return value


def parse_options(raw: object) -> Options:
    """Engine options from a request, checked once (by making them): any option of the schema may be given,
    the rest keep their defaults."""
    if not isinstance(raw, dict):
        raise bad(f"'options' must be an object, got {raw!r}")
    check_keys(raw, BY_NAME)
    try:
        return Options(**raw)
    except StyleSwapError as exc:
        raise bad(str(exc)) from None


def check_content(image: Image, options: Options) -> None:
    """Refuse images the engine would refuse, now rather than after they waited in the queue."""
    try:
        fit_within((image.width, image.height), options.max_size)
    except StyleSwapError as exc:
        raise bad(str(exc)) from None


def check_mask(mask: Image, content: Image) -> None:
    """A mask is one channel of the content's size; its values are checked as they are read (wire.image_to_mask)."""
    if mask.channels != 1 or (mask.width, mask.height) != (content.width, content.height):
        raise bad(f"the mask must be one channel of the content's size ({content.width}x{content.height}), not {mask.channels} channel(s) of {mask.width}x{mask.height}")


def check_motion(motion: Image, content: Image, frame: int) -> None:
    """A motion buffer is f32 of its frame's size, 2 channels (backward) or 4 (backward, forward), all finite: refused
    here, before the frame is queued, so the sequence goes on and the client can send the frame again."""
    where = f"the motion of frame {frame}"
    if motion.dtype != "f32" or motion.channels not in (2, 4):
        raise bad(f"{where} must be f32 with 2 channels (backward dx, dy) or 4 (backward, forward), not {motion.channels} channel(s) of {motion.dtype}")
    if (motion.width, motion.height) != (content.width, content.height):
        raise bad(f"{where} is {motion.width}x{motion.height} but the frame is {content.width}x{content.height}")
    values = np.frombuffer(motion.data, dtype="<f4")
    if not np.isfinite(values).all():
        bad_pixels = int(np.count_nonzero(~np.isfinite(values.reshape(-1, motion.channels)).all(1)))
        raise bad(f"{where} is NaN or infinite at {bad_pixels} pixels: send finite displacements in pixels")


def parse_motion_frames(raw: object, frames: list[int], buffers: int) -> list[int]:
    """Which of the request's frames each motion buffer belongs to, in buffer order."""
    if not isinstance(raw, list) or not all(isinstance(f, int) and not isinstance(f, bool) for f in raw):
        raise bad(f"'motion_frames' must be a list of frame numbers, got {raw!r}")
    if len(raw) != buffers:
        raise bad(f"'motion_frames' names {len(raw)} frames but {buffers} motion buffers were sent")
    if len(set(raw)) != len(raw):
        raise bad("'motion_frames' repeats a frame number within one message")
    if stray := sorted(set(raw) - set(frames)):
        raise bad(f"'motion_frames' names frames {stray} that this message does not send")
    return raw


def parse_frames(raw: object, buffers: int) -> list[int]:
    if not isinstance(raw, list) or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in raw):
        raise bad(f"'frames' must be a list of frame numbers >= 0, got {raw!r}")
    if len(raw) != buffers:
        raise bad(f"'frames' names {len(raw)} frames but {buffers} buffers were sent")
    if len(set(raw)) != len(raw):
        raise bad("'frames' repeats a frame number within one message")
    return raw
