"""Pixel buffers: the one layout every buffer frame uses, its JSON descriptor and its validation.

Layout: `height` rows of `width` pixels, first row is the top row, channels
interleaved, samples little-endian. Blender's bottom-up pixels must be flipped
by the plug-in; the daemon never guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Union

from .errors import BadBufferError, short_repr

BytesLike = Union[bytes, bytearray, memoryview]

DTYPE_SIZES: Final[Mapping[str, int]] = {"u8": 1, "u16": 2, "f32": 4}
ORDER_TOP_DOWN: Final = "top-down"
MAX_CHANNELS: Final = 4
_DESCRIPTOR_KEYS: Final = frozenset({"width", "height", "channels", "dtype", "order"})
ROLES: Final = ("content", "style", "mask", "motion")
"""What a buffer is for in a request: the daemon finds buffers by role, never by position (message_types.BUFFER_ROLES
says which roles each request takes)."""


def _is_int(value: object) -> bool:
    # bool is an int subclass, but `true` is never a valid dimension.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_shape(width: object, height: object, channels: object, dtype: object) -> None:
    for name, value in (("width", width), ("height", height)):
        if not _is_int(value) or value <= 0:  # type: ignore[operator]
            raise BadBufferError(f"{name} must be a positive integer, got {short_repr(value)}")
    if not _is_int(channels) or not 1 <= channels <= MAX_CHANNELS:  # type: ignore[operator]
        raise BadBufferError(f"channels must be an integer from 1 to {MAX_CHANNELS}, got {short_repr(channels)}")
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:  # a list or object is unhashable: check the type first
        raise BadBufferError(f"dtype must be one of {sorted(DTYPE_SIZES)}, got {short_repr(dtype)}")


@dataclass(frozen=True)
class Image:
    """One pixel buffer; `data` is kept as given (never copied) so large frames stay zero-copy.

    `data` may be bytes, bytearray or any C-contiguous memoryview (for example
    of a numpy array); a memoryview is recast to flat bytes. Data received
    through `recv_message` is a memoryview of ZeroMQ's frame: copy it before
    mutating if the frame must stay intact.
    """

    width: int
    height: int
    channels: int
    dtype: str
    data: BytesLike = field(repr=False)
    role: str = ""  # "" in replies; one of ROLES in a request

    def __post_init__(self) -> None:
        _check_shape(self.width, self.height, self.channels, self.dtype)
        if self.role and self.role not in ROLES:
            raise BadBufferError(f"role must be one of {', '.join(ROLES)}, got {self.role!r}")
        view = memoryview(self.data)
        if not view.c_contiguous:
            raise BadBufferError("pixel data must be C-contiguous")
        if view.nbytes != self.nbytes:
            raise BadBufferError(
                f"{self.width}x{self.height}x{self.channels} {self.dtype} needs {self.nbytes} bytes, "
                f"got {view.nbytes}"
            )
        if isinstance(self.data, memoryview) and (view.format != "B" or view.ndim != 1):
            object.__setattr__(self, "data", view.cast("B"))

    @property
    def nbytes(self) -> int:
        return self.width * self.height * self.channels * DTYPE_SIZES[self.dtype]

    def to_descriptor(self) -> dict[str, Any]:
        descriptor = {
            "width": self.width,
            "height": self.height,
            "channels": self.channels,
            "dtype": self.dtype,
            "order": ORDER_TOP_DOWN,
        }
        if self.role:
            descriptor["role"] = self.role
        return descriptor

    def as_role(self, role: str) -> Image:
        """This buffer (its data not copied) under a request role."""
        return Image(self.width, self.height, self.channels, self.dtype, self.data, role)

    @classmethod
    def from_descriptor(cls, descriptor: object, data: BytesLike, *, max_pixels: int) -> Image:
        """Validate a received descriptor against its frame; `max_pixels` is the receiver's own limit
        on width*height, checked before anything is sized from the untrusted dimensions."""
        if not _is_int(max_pixels) or max_pixels <= 0:
            raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
        if not isinstance(descriptor, dict):
            raise BadBufferError(f"descriptor must be a JSON object, got {type(descriptor).__name__}")
        missing = _DESCRIPTOR_KEYS - descriptor.keys()
        unknown = descriptor.keys() - _DESCRIPTOR_KEYS - {"role"}
        if missing or unknown:
            raise BadBufferError(f"descriptor keys wrong: missing {sorted(missing)}, unknown {sorted(unknown)}")
        if not isinstance(descriptor["order"], str) or descriptor["order"] != ORDER_TOP_DOWN:
            raise BadBufferError(f"order must be {ORDER_TOP_DOWN!r}, got {short_repr(descriptor['order'])}")
        width, height = descriptor["width"], descriptor["height"]
        _check_shape(width, height, descriptor["channels"], descriptor["dtype"])
        if width * height > max_pixels:
            raise BadBufferError(f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}")
        role = descriptor.get("role", "")
        if not isinstance(role, str) or (role and role not in ROLES):
            raise BadBufferError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        return cls(width, height, descriptor["channels"], descriptor["dtype"], data, role)
