"""Reading and writing the user's images without losing anything: alpha, 16-bit depth, EXIF orientation.

Colour is handed to the engine as float RGB in [0,1]; alpha stays as the file's own integers so it can be
written back bit for bit. 16-bit PNGs go through pypng and 16-bit colour TIFFs through tifffile because Pillow reads
RGB(A) at 16 bits as 8. A grayscale file is remembered as such and written back as grayscale (the style's colours
fold into its luma) unless the caller asks for colour.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
from PIL import Image, ImageOps, UnidentifiedImageError

from styleswap.engine.errors import ImageError

MAX_PIXELS = 1 << 28  # 16384 x 16384: beyond this an image is refused before it is decoded
Image.MAX_IMAGE_PIXELS = None  # our own limit above applies instead of Pillow's bomb warning
# Pillow's format of each suffix we write, named here: Image.registered_extensions() imports every Pillow plug-in
# (PDF, EPS, ...) to answer, a tenth of a second of a --daemon run
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP"}
SUFFIXES = set(_FORMATS)
SIXTEEN_BIT_SUFFIXES = {".png", ".tif", ".tiff"}  # the formats written at 16 bits when the input had them
_GRAY_SUFFIXES = SUFFIXES - {".webp"}  # WebP has no grayscale mode: a gray picture is written as equal RGB there
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's convert("L")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXIF_ORIENTATION = 0x0112
_TEMP_TAG = "styleswap-"
_CLEANED: set[str] = set()
# .NAME.styleswap-PID.RANDOM.SUFFIX: mkstemp's 8 random characters, the suffix as save_image gives it
_TEMP_NAME = re.compile(r"\..+\.styleswap-(?P<pid>[0-9]+)\.[a-z0-9_]{8}\.(?:png|jpg|jpeg|tif|tiff|webp|bmp)")
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: outputs get the permissions a plain open() would give, not mkstemp's 0600


@dataclass
class Picture:
    rgb: np.ndarray  # float32 (H, W, 3) in [0, 1]
    alpha: np.ndarray | None  # (H, W) uint8 or uint16, exactly as stored
    bit_depth: int  # 8 or 16, kept when writing
    gray: bool = False  # from a grayscale file or buffer: written back as grayscale unless colour is asked for

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]

    @classmethod
    def from_array(cls, pixels: np.ndarray) -> Picture:
        """From an (H, W) or (H, W, 1..4) uint8 or uint16 array, as a plug-in or the daemon hands it over."""
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ImageError(f"pixels must be 8- or 16-bit integers, not {pixels.dtype}")
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.ndim != 3 or not 1 <= pixels.shape[2] <= 4:
            raise ImageError(f"pixels must have 1 to 4 channels, not shape {pixels.shape}")
        _check_size(pixels.shape[1], pixels.shape[0])
        bit_depth = 16 if pixels.dtype == np.uint16 else 8
        colour = pixels[:, :, :3] if pixels.shape[2] >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2)
        alpha = pixels[:, :, -1].copy() if pixels.shape[2] in (2, 4) else None
        return cls(colour.astype(np.float32) / float((1 << bit_depth) - 1), alpha, bit_depth, gray=pixels.shape[2] <= 2)

    def to_array(self, gray: bool = False) -> np.ndarray:
        """(H, W, 3 or 4) integers at the picture's bit depth; with ``gray``, (H, W, 1 or 2) of the colour's luma."""
        top = (1 << self.bit_depth) - 1
        dtype = np.uint16 if self.bit_depth == 16 else np.uint8
        values = (self.rgb @ _LUMA)[:, :, None] if gray else self.rgb
        colour = np.rint(np.clip(values, 0.0, 1.0) * top).astype(dtype)
        if self.alpha is None:
            return colour
        return np.dstack([colour, self.alpha.astype(dtype)])


def load_image(path: str | os.PathLike) -> Picture:
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        if _is_16bit_png(path):
            return Picture.from_array(_oriented(_read_png16(path), path))
        with Image.open(path) as image:
            _check_size(*image.size)
            if _is_16bit_colour_tiff(image):
                return Picture.from_array(_oriented(_read_tiff16(path), path))
            image = ImageOps.exif_transpose(image)
            return Picture.from_array(_pil_to_array(image))
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, png.Error) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels: Pillow opens lazily, so a
    limit is checked before a 10000x10000 PNG of a few hundred kilobytes costs gigabytes."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None


def save_image(picture: Picture, path: str | os.PathLike) -> None:
    """Write atomically: a failure leaves any existing file at ``path`` as it was. 16-bit pictures stay 16-bit in
    PNG and TIFF, gray ones gray wherever the format has a gray mode."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ImageError(f"{path}: unsupported output type {suffix or '(none)'}; use one of {', '.join(sorted(SUFFIXES))}")
    if suffix in (".jpg", ".jpeg", ".bmp") and picture.alpha is not None:
        raise ImageError(f"{path}: {suffix[1:].upper()} cannot keep the alpha channel; write a .png, .tif or .webp instead")
    pixels = picture.to_array(gray=picture.gray and suffix in _GRAY_SUFFIXES)
    if picture.bit_depth == 16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        pixels = (pixels >> 8).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path.parent) not in _CLEANED:  # once per folder and run: a batch saves many images into one folder
        _CLEANED.add(str(path.parent))
        remove_stale_temporaries(path.parent)
    # The writer's pid is in the name, so a later run can tell the leftover of a killed writer from a live one's.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_TEMP_TAG}{os.getpid()}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            height, width, channels = pixels.shape
            if pixels.dtype == np.uint16 and suffix == ".png":
                writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4), bitdepth=16)
                writer.write(out, pixels.reshape(height, width * channels))
            elif pixels.dtype == np.uint16:
                import tifffile  # only here and in _read_tiff16: its import takes longer than the rest of this module's

                photometric = "minisblack" if channels <= 2 else "rgb"
                encoded = io.BytesIO()  # tifffile wants a named file or a buffer, not our descriptor
                tifffile.imwrite(encoded, pixels, photometric=photometric, extrasamples=["unassalpha"] if channels in (2, 4) else None)
                out.write(encoded.getbuffer())
            else:
                Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels).save(out, format=_FORMATS[suffix], **_save_options(suffix))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete what a killed writer left in `folder`: hidden `.NAME.styleswap-PID.XXXX.SUFFIX` files of
    `save_image` whose process no longer exists. Only names of exactly that form are touched, and never
    one of a writer still running (on this machine: the pid is checked here). Returns what was removed."""
    removed: list[Path] = []
    try:
        candidates = [entry for entry in os.scandir(folder) if entry.name.startswith(".") and _TEMP_TAG in entry.name]
    except OSError:
        return removed
    for entry in candidates:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False) or _pid_running(int(match["pid"])):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # gone already (another run cleaned it), or not ours to remove
    return removed


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return True  # no cheap portable check there: keep the file rather than remove a live writer's
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _save_options(suffix: str) -> dict:
    return {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"lossless": True}}.get(suffix, {})


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"image is empty ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageError(f"image is too large ({width}x{height}, limit {MAX_PIXELS // 2**20} megapixels)")


def _is_16bit_png(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(26)
    return len(head) > 24 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and head[24] == 16


def _oriented(pixels: np.ndarray, path: Path) -> np.ndarray:
    """``pixels`` turned upright by the file's EXIF orientation (what ``ImageOps.exif_transpose`` does for the images
    Pillow decodes; 16-bit PNGs are decoded by pypng, which reads no EXIF)."""
    with Image.open(path) as image:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    turns = {3: 2, 6: -1, 8: 1, 5: 1, 7: -1}.get(orientation, 0)  # quarter turns anticlockwise
    if orientation in (2, 4, 5, 7):  # the mirrored ones: a flip before the turn
        pixels = pixels[::-1] if orientation == 4 else pixels[:, ::-1]
    return np.ascontiguousarray(np.rot90(pixels, turns))


def _is_16bit_colour_tiff(image: Image.Image) -> bool:
    """A TIFF of more than one 16-bit sample per pixel, which Pillow would read at 8 bits (it keeps 16-bit gray)."""
    if image.format != "TIFF":
        return False
    bits = image.tag_v2.get(258, (8,))  # BitsPerSample
    bits = bits if isinstance(bits, tuple) else (bits,)
    return image.tag_v2.get(277, 1) > 1 and max(bits) == 16  # SamplesPerPixel


def _read_tiff16(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tiff:  # its TiffFileError is a ValueError: load_image says which file
        page = tiff.pages[0]
        pixels = page.asarray()
    if page.axes.startswith("S"):  # planar: one plane per sample
        pixels = np.moveaxis(pixels, 0, -1)
    if pixels.ndim != 3 or pixels.dtype != np.uint16:
        raise ImageError(f"unsupported TIFF layout {page.axes} of {pixels.dtype}")
    return pixels[:, :, :4]


def _read_png16(path: Path) -> np.ndarray:
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    _check_size(width, height)
    channels = info["planes"]
    return np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, channels)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image.convert("I;16"), dtype=np.uint16)
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 1.0 if mode == "F" and values.max() <= 1.0 else 65535.0
        return np.rint(np.clip(values / top, 0, 1) * 65535).astype(np.uint16)
    if mode in ("L", "RGB", "RGBA", "LA"):
        return np.asarray(image)
    has_alpha = mode in ("PA", "RGBa", "La") or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
