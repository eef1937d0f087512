import io
import os
import signal
import struct
import subprocess
import sys
import zlib

import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageOps

from styleswap.engine.errors import ImageError
from styleswap.engine.images import Picture, image_size, load_image, remove_stale_temporaries, save_image


def _rgba(chelsea, depth=8):
    alpha = np.linspace(0, 255, chelsea.shape[1], dtype=np.uint8)[None, :].repeat(chelsea.shape[0], 0)
    pixels = np.dstack([chelsea, alpha])
    return pixels.astype(np.uint16) * 257 if depth == 16 else pixels


def test_rgba_8bit_round_trip_is_exact(chelsea, tmp_path):
    pixels = _rgba(chelsea)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    picture = load_image(tmp_path / "in.png")
    assert picture.bit_depth == 8 and picture.size == (451, 300)
    assert np.array_equal(picture.alpha, pixels[:, :, 3])
    save_image(picture, tmp_path / "out.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), pixels)
    (tmp_path / "plain").write_bytes(b"")
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777  # not mkstemp's 0600


def test_rgba_16bit_png_keeps_16_bits(chelsea, tmp_path):
    pixels = _rgba(chelsea, 16) + np.uint16(3)  # low bits that an 8-bit path would lose
    height, width, _ = pixels.shape
    with open(tmp_path / "in.png", "wb") as f:
        png.Writer(width, height, greyscale=False, alpha=True, bitdepth=16).write(f, pixels.reshape(height, -1))
    picture = load_image(tmp_path / "in.png")
    assert picture.bit_depth == 16 and picture.alpha.dtype == np.uint16
    save_image(picture, tmp_path / "out.png")
    _, _, rows, info = png.Reader(filename=str(tmp_path / "out.png")).asDirect()
    assert info["bitdepth"] == 16
    assert np.array_equal(np.vstack(list(map(np.uint16, rows))).reshape(pixels.shape), pixels)


def test_exif_orientation_is_applied(chelsea, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(chelsea).save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").size == (300, 451)


def test_exif_orientation_is_applied_to_16bit_pngs_too(chelsea, tmp_path):
    pixels = chelsea.astype(np.uint16) * 257 + np.uint16(3)
    height, width, _ = pixels.shape
    with open(tmp_path / "plain.png", "wb") as f:
        png.Writer(width, height, greyscale=False, bitdepth=16).write(f, pixels.reshape(height, -1))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    chunks = list(png.Reader(filename=str(tmp_path / "plain.png")).chunks())
    with open(tmp_path / "rotated.png", "wb") as f:
        png.write_chunks(f, [chunks[0], (b"eXIf", exif.tobytes()[6:]), *chunks[1:]])  # the TIFF body, no "Exif" prefix
    picture = load_image(tmp_path / "rotated.png")
    assert picture.bit_depth == 16 and picture.size == (300, 451)
    assert np.array_equal(picture.to_array(), np.rot90(pixels, -1))


@pytest.mark.parametrize("mode", ["L", "LA", "P", "I;16"])
def test_grey_and_palette_images_load_as_rgb(chelsea, tmp_path, mode):
    image = Image.fromarray(chelsea).convert("RGBA" if mode == "LA" else "RGB").convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    image.save(tmp_path / "in.png")
    picture = load_image(tmp_path / "in.png")
    assert picture.rgb.shape == (300, 451, 3)
    assert (picture.alpha is not None) == (mode == "LA")
    assert picture.bit_depth == (16 if mode == "I;16" else 8)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_unreadable_empty_and_huge_inputs(tmp_path):
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")  # 20 bytes of a PNG
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="empty"):
        Picture.from_array(np.zeros((0, 5, 3), np.uint8))
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(b"")), _chunk(b"IEND", b"")]
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))  # 10 gigapixels claimed, 60 bytes
    with pytest.raises(ImageError, match="too large"):
        load_image(tmp_path / "huge.png")


def test_failed_save_leaves_existing_file(chelsea, tmp_path):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"precious")
    with pytest.raises(ImageError, match="alpha"):
        save_image(Picture.from_array(_rgba(chelsea)), target)
    assert target.read_bytes() == b"precious"
    with pytest.raises(ImageError, match="unsupported"):
        save_image(Picture.from_array(chelsea), tmp_path / "out.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


WRITER = """
import os, sys, time
import numpy as np
from styleswap.engine import images
def hang(src, dst):  # stopped while its temporary file exists, as a CLI killed mid-save is
    print("writing", flush=True)
    sys.stdin.readline()  # until the test lets it go on: then it says it is still alive
    print("alive", flush=True)
    sys.exit(0)
os.replace = hang
images.save_image(images.Picture.from_array(np.zeros((8, 8, 3), np.uint8)), sys.argv[1])
"""


def writer(target) -> subprocess.Popen:
    # default signal dispositions, as from a terminal: a run started with nohup hands its children SIGHUP ignored, and
    # then a stray signal to the writer (the check must send none) would go unseen
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, restore_signals=True, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    assert process.stdout.readline() == "writing\n"  # its temporary file is there now
    return process


def test_a_killed_writers_temporary_file_is_removed_by_the_next_save_into_that_folder(tmp_path):
    killed = writer(tmp_path / "out.png")
    [left] = tmp_path.glob(".out.png.*")
    killed.kill()
    killed.wait()
    alive = writer(tmp_path / "other.png")
    try:
        [live] = tmp_path.glob(".other.png.*")
        foreign = [tmp_path / ".notes.txt", tmp_path / ".out.png.abcd1234.png", tmp_path / ".out.png.styleswap-x.abcd1234.png"]
        for path in foreign:
            path.write_text("not ours")
        done = subprocess.run([sys.executable, "-c", "import sys, numpy as np; from styleswap.engine import images; images.save_image(images.Picture.from_array(np.zeros((4, 4, 3), np.uint8)), sys.argv[1])", str(tmp_path / "next.png")], timeout=120)
        assert done.returncode == 0
        assert not left.exists()  # the killed writer's
        assert live.exists()  # a writer still running keeps its file
        assert all(path.exists() for path in foreign)  # names not of our exact form are never touched
        assert (tmp_path / "next.png").exists() and not list(tmp_path.glob(".next.png.*"))
        out, _ = alive.communicate("go on\n", timeout=120)  # and was not disturbed by the check (no signal)
        assert (out, alive.returncode) == ("alive\n", 0)
    finally:
        alive.kill()
        alive.wait()


def _gray16(chelsea):
    return (np.asarray(Image.fromarray(chelsea).convert("L")).astype(np.uint16) * 257 + np.uint16(3))  # low bits an 8-bit path loses


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_gray_stays_16bit_gray(chelsea, tmp_path, suffix):
    pixels = _gray16(chelsea)
    Image.fromarray(pixels).save(tmp_path / f"in{suffix}")
    picture = load_image(tmp_path / f"in{suffix}")
    assert picture.gray and picture.bit_depth == 16
    save_image(picture, tmp_path / f"out{suffix}")
    with Image.open(tmp_path / f"out{suffix}") as written:
        assert written.mode in ("I;16", "I;16B", "I")  # one 16-bit channel
        assert np.array_equal(np.asarray(written).astype(np.uint16), pixels)


def test_gray_is_written_gray_and_in_colour_when_asked(chelsea, tmp_path):
    gray = np.asarray(Image.fromarray(chelsea).convert("L"))
    alpha = np.linspace(0, 255, gray.shape[1], dtype=np.uint8)[None, :].repeat(gray.shape[0], 0)
    picture = Picture.from_array(np.dstack([gray, alpha]))
    picture.rgb = picture.rgb * np.array([1.0, 0.5, 0.25], dtype=np.float32)  # what a style adds: colour
    for suffix in (".png", ".tif"):
        save_image(picture, tmp_path / f"gray{suffix}")
        with Image.open(tmp_path / f"gray{suffix}") as written:
            assert written.mode == "LA" and np.array_equal(np.asarray(written)[:, :, 1], alpha)
            luma = np.asarray(written)[:, :, 0].astype(int)
        expected = np.rint(np.clip(picture.rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32), 0, 1) * 255)
        assert np.abs(luma - expected).max() <= 1
    picture.gray = False
    save_image(picture, tmp_path / "colour.png")
    assert Image.open(tmp_path / "colour.png").mode == "RGBA"


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_tiff_stays_16bit(chelsea, tmp_path, channels):
    pixels = _rgba(chelsea, 16)[:, :, :channels] + np.uint16(3)
    tifffile.imwrite(tmp_path / "in.tif", pixels, photometric="rgb", extrasamples=["unassalpha"] if channels == 4 else None)
    picture = load_image(tmp_path / "in.tif")
    assert picture.bit_depth == 16 and not picture.gray and picture.size == (451, 300)
    save_image(picture, tmp_path / "out.tif")
    assert np.array_equal(tifffile.imread(tmp_path / "out.tif"), pixels)
    with Image.open(tmp_path / "out.tif") as written:  # and other programs read what we wrote
        assert written.size == (451, 300) and written.mode == ("RGBA" if channels == 4 else "RGB")


def _small_picture() -> np.ndarray:
    """5 x 3 pixels, all different: any turn or flip shows."""
    return (np.arange(5 * 3 * 3, dtype=np.uint8).reshape(3, 5, 3) * 5 + 7)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_transpose(tmp_path, orientation):
    """All eight EXIF orientations, for files Pillow decodes and for 16-bit PNGs (turned by our own code): the
    result is Pillow's ``exif_transpose`` of the same pixels."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    pixels = _small_picture()
    Image.fromarray(pixels).save(tmp_path / "eight.png", exif=exif)
    with Image.open(tmp_path / "eight.png") as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    assert np.array_equal(load_image(tmp_path / "eight.png").to_array(), expected)
    wide = pixels.astype(np.uint16) * 257
    with open(tmp_path / "plain16.png", "wb") as f:
        png.Writer(5, 3, greyscale=False, bitdepth=16).write(f, wide.reshape(3, -1))
    chunks = list(png.Reader(filename=str(tmp_path / "plain16.png")).chunks())
    with open(tmp_path / "sixteen.png", "wb") as f:
        png.write_chunks(f, [chunks[0], (b"eXIf", exif.tobytes()[6:]), *chunks[1:]])
    sixteen = load_image(tmp_path / "sixteen.png")
    assert sixteen.bit_depth == 16 and np.array_equal(sixteen.to_array(), expected.astype(np.uint16) * 257)


@pytest.mark.parametrize(
    "mode,values,expected",
    [
        ("F", [[0.0, 0.5, 1.0]], [[0, 32768, 65535]]),  # floats in [0, 1]: scaled to 16 bits
        ("F", [[0.0, 300.0, 32767.0, 65535.0]], [[0, 300, 32767, 65535]]),  # above 1: already on the 16-bit scale
        ("F", [[0.0, 0.25, 0.5]], [[0, 16384, 32768]]),  # at most 1, if not 1 itself: in [0, 1]
        ("I", [[0, 1, 1]], [[0, 1, 1]]),  # integers are on the 16-bit scale even when small
        ("F", [[0.0, 1.5, 2.0]], [[0, 2, 2]]),  # just above 1: on the 16-bit scale too
        ("F", [[-0.5, 0.5, 1.0]], [[0, 32768, 65535]]),  # below 0: clipped
        ("I", [[0, 1000, 70000]], [[0, 1000, 65535]]),  # 32-bit integers: clipped to 16 bits
    ],
)
def test_float_and_32bit_images_load_as_16bit(tmp_path, mode, values, expected):
    Image.fromarray(np.array(values, dtype=np.float32 if mode == "F" else np.int32), mode).save(tmp_path / "in.tif")
    picture = load_image(tmp_path / "in.tif")
    assert picture.bit_depth == 16 and picture.gray
    assert picture.to_array(gray=True)[:, :, 0].tolist() == expected


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".webp"])
def test_16bit_pictures_in_8bit_formats_keep_their_high_byte(tmp_path, suffix):
    pixels = np.array([[[0, 255, 256], [511, 32768, 65535]]], dtype=np.uint16)  # high bytes 0 0 1, 1 128 255
    save_image(Picture.from_array(pixels), tmp_path / f"out{suffix}")
    with Image.open(tmp_path / f"out{suffix}") as written:
        assert written.mode == "RGB"
        if suffix != ".jpg":  # lossless: the high bytes exactly
            assert np.asarray(written).tolist() == [[[0, 0, 1], [1, 128, 255]]]
    save_image(Picture.from_array(pixels[:, :, 1]), tmp_path / f"gray{suffix}")  # one channel: gray where the format has it
    with Image.open(tmp_path / f"gray{suffix}") as written:
        assert written.mode == ("RGB" if suffix == ".webp" else "L")
        if suffix != ".jpg":
            assert np.asarray(written.convert("L")).tolist() == [[0, 128]]


def test_jpeg_at_quality_95_and_webp_lossless(tmp_path, chelsea):
    reference = io.BytesIO()
    Image.fromarray(chelsea).save(reference, format="JPEG", quality=95)
    for suffix in (".jpg", ".jpeg"):
        save_image(Picture.from_array(chelsea), tmp_path / f"out{suffix}")
        assert (tmp_path / f"out{suffix}").read_bytes() == reference.getvalue()
    save_image(Picture.from_array(chelsea), tmp_path / "out.webp")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.webp")), chelsea)
    assert np.array_equal(load_image(tmp_path / "out.webp").to_array(), chelsea)  # and read back by us


def test_the_size_limit_is_16384_squared_and_empty_sides_are_refused(tmp_path):
    def header_only(width: int, height: int):
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        chunks = [_chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(b"")), _chunk(b"IEND", b"")]
        (tmp_path / "claim.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))
        return tmp_path / "claim.png"

    with pytest.raises(ImageError, match="not a readable image"):  # at the limit: refused only for its missing pixels
        load_image(header_only(16384, 16384))
    with pytest.raises(ImageError, match=r"too large \(16384x16385, limit 256 megapixels\)"):
        load_image(header_only(16384, 16385))
    for shape in ((0, 5, 3), (5, 0, 3)):
        with pytest.raises(ImageError, match="empty"):
            Picture.from_array(np.zeros(shape, np.uint8))


def test_arrays_of_one_to_four_channels_only(tmp_path):
    gray, gray_alpha = Picture.from_array(np.full((2, 3), 51, np.uint8)), Picture.from_array(np.full((2, 3, 2), 51, np.uint8))
    assert gray.gray and gray.alpha is None and gray.rgb.shape == (2, 3, 3) and np.allclose(gray.rgb, 0.2)
    assert gray_alpha.gray and gray_alpha.alpha.tolist() == [[51] * 3] * 2
    colour = Picture.from_array(np.full((2, 3, 3), 51, np.uint8))
    assert not colour.gray and colour.alpha is None
    for shape in ((2, 3, 5), (2, 3, 0), (2, 3, 1, 1), (6,)):
        with pytest.raises(ImageError, match="1 to 4 channels"):
            Picture.from_array(np.zeros(shape, np.uint8))
    with pytest.raises(ImageError, match="8- or 16-bit"):
        Picture.from_array(np.zeros((2, 3, 3), np.float32))


def test_a_folder_is_no_image_and_a_folder_in_the_way_keeps_no_temporary(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)
    (tmp_path / "out.png").mkdir()  # where the output should go
    with pytest.raises(OSError):
        save_image(Picture.from_array(np.zeros((4, 4, 3), np.uint8)), tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"] and (tmp_path / "out.png").is_dir()


def test_a_palette_image_with_a_transparent_colour_loads_with_alpha(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.save(tmp_path / "in.png", transparency=0)
    picture = load_image(tmp_path / "in.png")
    assert picture.alpha.tolist() == [[0, 255], [255, 0]] and picture.to_array()[0, 1].tolist() == [0, 0, 255, 255]


def test_image_size_reads_the_header_only(tmp_path):
    header = struct.pack(">IIBBBBB", 100_000, 30_000, 8, 2, 0, 0, 0)  # 3 gigapixels claimed, no pixels
    chunks = [_chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(b"")), _chunk(b"IEND", b"")]
    (tmp_path / "claim.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))
    assert image_size(tmp_path / "claim.png") == (100_000, 30_000)
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageError, match="not a readable image"):
        image_size(tmp_path / "text.png")


def test_a_png_cut_after_its_bit_depth_is_unreadable_not_a_crash(tmp_path):
    whole = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(whole, format="PNG")
    for size in (24, 25, 26):
        (tmp_path / "cut.png").write_bytes(whole.getvalue()[:size])
        with pytest.raises(ImageError, match="not a readable image"):
            load_image(tmp_path / "cut.png")



def test_a_planar_16bit_tiff_loads_as_the_interleaved_one(tmp_path):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint16).reshape(2, 3, 3) * 3000 + 7
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(pixels, -1, 0), photometric="rgb", planarconfig="separate")
    picture = load_image(tmp_path / "planar.tif")
    assert picture.bit_depth == 16 and np.array_equal(picture.to_array(), pixels)



def test_an_output_without_a_suffix_is_named_in_the_error(tmp_path):
    with pytest.raises(ImageError, match=r"unsupported output type \(none\); use one of \.bmp, \.jpeg"):
        save_image(Picture.from_array(np.zeros((2, 2, 3), np.uint8)), tmp_path / "out")


def test_16bit_gray_with_alpha_stays_16bit_gray_with_alpha(tmp_path):
    pixels = np.array([[[0, 65535], [1000, 300]], [[65535, 7], [40000, 0]]], np.uint16)
    save_image(Picture.from_array(pixels), tmp_path / "out.png")
    _, _, rows, info = png.Reader(filename=str(tmp_path / "out.png")).asDirect()
    assert (info["bitdepth"], info["greyscale"], info["alpha"]) == (16, True, True)
    assert np.vstack(list(map(np.uint16, rows))).reshape(2, 2, 2).tolist() == pixels.tolist()
    save_image(Picture.from_array(pixels), tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as written:
        assert written.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
        assert written.pages[0].asarray().tolist() == pixels.tolist()


def test_a_link_named_like_a_stale_temporary_is_never_removed(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = [tmp_path / f".{name}.png.styleswap-{gone}.abcd1234.png" for name in ("a", "m", "z")]
    link = tmp_path / f".b.png.styleswap-{gone}.efgh5678.png"
    for path in stale:
        path.write_bytes(b"left by a killed writer")
    for name in (".c", ".n.png.styleswap-x", ".y.txt"):  # hidden, not ours: looked at and passed over
        (tmp_path / name).write_bytes(b"not ours")
    (tmp_path / "target.png").write_bytes(b"the user's")
    link.symlink_to(tmp_path / "target.png")
    own = tmp_path / f".own.png.styleswap-{os.getpid()}.ijkl9012.png"  # another thread of this process writing
    own.write_bytes(b"being written")
    assert sorted(remove_stale_temporaries(tmp_path)) == stale
    assert link.is_symlink() and (tmp_path / "target.png").read_bytes() == b"the user's" and own.exists()
    assert remove_stale_temporaries(tmp_path / "missing") == []  # an unreadable folder: nothing to clean


def test_a_16bit_colour_tiff_of_several_pages_loads_its_first(tmp_path):
    colour = np.arange(2 * 2 * 3, dtype=np.uint16).reshape(2, 2, 3) * 4001
    tifffile.imwrite(tmp_path / "pages.tif", colour, photometric="rgb")
    tifffile.imwrite(tmp_path / "pages.tif", colour[::-1], photometric="rgb", append=True)
    assert np.array_equal(load_image(tmp_path / "pages.tif").to_array(), colour)


def test_a_picture_made_in_code_is_colour_clipped_and_saved_into_new_folders(tmp_path):
    picture = Picture(np.array([[[-0.5, 0.5, 1.5], [0.0, 1.0, 0.25]]], np.float32), None, 8)  # gray unless said: no
    assert picture.to_array().tolist() == [[[0, 128, 255], [0, 255, 64]]]
    save_image(picture, tmp_path / "new" / "deeper" / "out.png")
    assert Image.open(tmp_path / "new" / "deeper" / "out.png").mode == "RGB"
    assert Picture.from_array(np.zeros((3, 1, 3), np.uint8)).size == (1, 3)  # one pixel wide is not empty
    with pytest.raises(ImageError, match=r"out\.jpg: JPG cannot keep the alpha channel"):
        save_image(Picture.from_array(np.zeros((2, 2, 4), np.uint8)), tmp_path / "out.jpg")


def test_8bit_colour_tiffs_and_16bit_rgb_pngs_round_trip(tmp_path, chelsea):
    Image.fromarray(chelsea).save(tmp_path / "in.tif")
    assert np.array_equal(load_image(tmp_path / "in.tif").to_array(), chelsea)
    pixels = chelsea[:20, :30].astype(np.uint16) * 257 + np.uint16(3)
    save_image(Picture.from_array(pixels), tmp_path / "out.png")
    _, _, rows, info = png.Reader(filename=str(tmp_path / "out.png")).asDirect()
    assert (info["bitdepth"], info["greyscale"], info["alpha"]) == (16, False, False)
    assert np.array_equal(np.vstack(list(map(np.uint16, rows))).reshape(pixels.shape), pixels)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_temporary_another_run_removed_first_is_no_error(tmp_path, monkeypatch):
    """Two saves into one folder can both find a dead writer's file; the one that loses the race to remove it goes on."""
    stale = tmp_path / f".out.png.styleswap-{_dead_pid()}.abcd1234.png"
    stale.write_bytes(b"left by a killed writer")
    unlink = os.unlink

    def raced(path, *args, **kwargs):
        if ".styleswap-" in str(path):
            unlink(path)  # the other run was quicker
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", raced)
    assert remove_stale_temporaries(tmp_path) == []
    assert not stale.exists()


def test_a_writer_of_another_user_counts_as_running(tmp_path):
    """Signalling another user's process is refused (EPERM): that writer is alive and its file is kept."""
    from styleswap.engine.images import _pid_running

    if os.geteuid() == 0:  # as root every signal is allowed: ask as the unprivileged user nobody about this process
        parent, (read, write) = os.getpid(), os.pipe()
        child = os.fork()
        if child == 0:  # only a kill(2) and a write here, then out without running any of the parent's cleanup
            try:
                os.setgid(65534)
                os.setuid(65534)
                os.write(write, b"1" if _pid_running(parent) else b"0")
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.close(read)
        os.waitpid(child, 0)
        assert answer == b"1"
    else:
        other = next((int(p) for p in os.listdir("/proc") if p.isdigit() and os.stat(f"/proc/{p}").st_uid != os.geteuid()), None)
        if other is None:
            pytest.skip("no process of another user to ask about")
        assert _pid_running(other)


def test_a_tiff_tifffile_cannot_read_is_a_one_line_error(chelsea, tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "in.tif", chelsea.astype(np.uint16) * 257, photometric="rgb")

    def unreadable(*args, **kwargs):
        raise tifffile.TiffFileError("corrupted page")

    monkeypatch.setattr(tifffile, "TiffFile", unreadable)
    with pytest.raises(ImageError, match=r"in\.tif: not a readable image \(corrupted page\)"):
        load_image(tmp_path / "in.tif")
