"""`styleswap stylize --daemon`: the engine's interface, carried out by the daemon through the client
library, so the CLI's loop, file handling and output are the same either way."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from styleswap.daemon.wire import image_to_picture, picture_to_image
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture, image_size
from styleswap.engine.options import FrameReport, Options, Result
from styleswap.engine.options import Progress as ProgressCallback
from styleswap_client import DaemonError, Progress, connect
from styleswap_protocol import Image


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except DaemonError as exc:
        raise StyleSwapError(f"daemon: {exc.message}") from None


_BUSY_RETRY_S = 1.0


class DaemonEngine:
    """Has `Engine`'s prepare_style/stylize; a prepared style is the daemon's style id."""

    def __init__(self, device: str = "auto", weights: str | None = None, precision: str = "auto") -> None:
        if device != "auto" or weights or precision != "auto":
            raise StyleSwapError("--device, --precision and --weights configure the daemon: pass them to styleswap-backend, not to --daemon")
        with _user_errors():
            self._client = connect(autostart=True, name="styleswap-cli")

    def prepare_style(self, style: Picture, options: Options, content_size: tuple[int, int] | None = None) -> str:
        """The daemon prepares the style for each content's size itself: ``content_size`` is not needed here."""
        self._check_size(style)
        with _user_errors():
            return self._client.upload_style(picture_to_image(style))

    def stylize(
        self,
        content: Picture,
        style: str,
        options: Options,
        progress: ProgressCallback | None = None,
        mask: np.ndarray | None = None,
        temporal: DaemonSequence | None = None,
    ) -> Result:
        def relay(event: Progress) -> None:
            if progress is not None:
                progress(event.stage, event.stage_fraction, event.fraction)

        self._check_size(content)
        if temporal is not None:
            if mask is not None:
                raise StyleSwapError("--mask does not apply to a temporal sequence")
            return self._frame(content, style, options, relay, temporal)
        waiting = False
        with _user_errors():
            while True:
                try:
                    reply = self._client.stylize(picture_to_image(content), style, dataclasses.asdict(options), mask=_mask_image(mask), progress=relay)
                    break
                except DaemonError as exc:
                    if exc.code != "busy":  # a full queue empties: wait for a place, as a batch would want
                        raise
                    if not waiting:
                        print("styleswap: the daemon's queue is full; waiting for a place (Ctrl-C stops)", file=sys.stderr)
                        waiting = True
                    time.sleep(_BUSY_RETRY_S)
        for warning in reply.warnings:
            print(f"styleswap: warning: {warning}", file=sys.stderr)
        return _result(content, reply.image, reply.summary)

    def _frame(self, content: Picture, style: str, options: Options, relay: Callable[[Progress], None], sequence: DaemonSequence) -> Result:
        """One frame of a temporal sequence held by the daemon: the job is opened with the first frame; a failed
        frame closes it (the next frame opens another, a new chain)."""
        with _user_errors():
            if sequence.job_id is None:
                sequence.job_id = self._client.open_sequence(style, dataclasses.asdict(options), temporal=True)
                sequence.number = 0
            try:
                image, summary = self._client.send_frame(sequence.job_id, sequence.number, picture_to_image(content), progress=relay)
            except DaemonError:
                self.end_sequence(sequence)
                raise
        sequence.number += 1
        result = _result(content, image, summary)
        sequence.frames = result.temporal.chain if result.temporal else 0
        return result

    def end_sequence(self, sequence: DaemonSequence) -> None:
        """Close the sequence's job on the daemon, if one is open (one that already ended is simply forgotten)."""
        job_id, sequence.job_id, sequence.frames = sequence.job_id, None, 0
        if job_id is not None:
            try:
                self._client.close_sequence(job_id)
            except DaemonError:
                pass

    def check_file(self, path: Path) -> None:
        """Refuse an image file larger than the daemon takes from its header, before it is decoded."""
        self._check_pixels(*image_size(path))

    def _check_size(self, picture: Picture) -> None:
        self._check_pixels(*picture.size)

    def _check_pixels(self, width: int, height: int) -> None:
        """An image larger than the daemon takes, refused here with the way out rather than by the protocol."""
        limit = (self._client.daemon or {}).get("max_pixels")
        if limit is not None and width * height > limit:
            raise StyleSwapError(
                f"the image is {width}x{height} ({width * height / 1e6:.3g} megapixels), more than the daemon takes ({limit / 1e6:.3g}): "
                f"start it with --max-pixels {width * height} or more, or run without --daemon"
            )


class DaemonSequence:
    """`stylize --temporal --daemon`'s chain: the daemon holds the state (a `sequence` job with ``temporal``); this
    stands in for `TemporalState` in the CLI's loop. Nothing of it is saved: a rerun starts a new chain."""

    def __init__(self, engine: DaemonEngine) -> None:
        self._engine = engine
        self.job_id: str | None = None
        self.number = 0  # the next frame's number in the job
        self.frames = 0  # frames in the current chain

    def reset(self) -> None:
        """The next frame starts a new chain: the job is closed and the next frame opens another."""
        self._engine.end_sequence(self)

    def snapshot(self) -> dict[str, np.ndarray]:
        return {}


def _result(content: Picture, image: Image, reply_summary: dict) -> Result:
    """The engine's `Result` from a reply's image and summary (PROTOCOL.md): tuples and the temporal report restored."""
    summary = dict(reply_summary)
    summary["working_size"] = tuple(summary["working_size"])
    summary["region"] = tuple(summary["region"]) if summary.get("region") else None
    if summary.get("temporal") is not None:
        summary["temporal"] = FrameReport(**summary["temporal"])
    picture = dataclasses.replace(image_to_picture(image), gray=content.gray)  # the daemon replies in colour
    return Result(picture=picture, **summary)


def _mask_image(mask: np.ndarray | None) -> Image | None:
    """A float mask as the one-channel f32 buffer the protocol carries (values kept as they are)."""
    if mask is None:
        return None
    values = np.ascontiguousarray(mask, dtype="<f4")
    return Image(values.shape[1], values.shape[0], 1, "f32", memoryview(values).cast("B"))
