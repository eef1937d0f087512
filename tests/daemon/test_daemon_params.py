import pytest

from daemon_helpers import descriptor
from styleswap.daemon.errors import RequestError
from styleswap.daemon.params import check_content, check_keys, parse_frames, parse_options
from styleswap.engine.stylize import Options
from styleswap_protocol import Image


def refused(call, *args) -> str:
    with pytest.raises(RequestError) as caught:
        call(*args)
    assert caught.value.code == "bad_params"
    return caught.value.message


def test_options_map_onto_the_engine_defaults():
    options = parse_options({"iters": 5, "strength": 1, "preserve_color": True, "method": "optim"})
    assert options == Options(iters=5, strength=1, preserve_color=True, method="optim")


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"iterations": 5}, "iterations"),
        ({"iters": "5"}, "iters must be a whole number, not '5'"),
        ({"iters": True}, "iters must be a whole number, not True"),
        ({"strength": float("nan")}, "strength must be a finite number"),
        ({"preserve_color": 1}, "preserve-color must be true or false, not 1"),
        ({"patch_size": 0}, "patch-size"),
        ({"stride": 4, "patch_size": 3}, "stride (4) must not exceed"),
        ({"method": "magic"}, "method must be one of"),
        ([1, 2], "'options' must be an object"),
    ],
)
def test_bad_options_are_named(raw, names):
    assert names in refused(parse_options, raw)


def test_unknown_request_keys_are_refused():
    assert "['stlye_id']" in refused(check_keys, {"stlye_id": "x"}, {"options", "style_id"})


def test_content_smaller_than_the_engine_accepts_is_refused_early():
    tiny = Image(8, 8, 3, "u8", bytes(8 * 8 * 3))
    assert "too small" in refused(check_content, tiny, Options())
    check_content(Image(16, 16, 3, "u8", bytes(16 * 16 * 3)), Options())


@pytest.mark.parametrize(
    ("frames", "buffers", "message"),
    [([0, 1], 1, "names 2 frames but 1 buffers"), ([1, 1], 2, "repeats"), ([-1], 1, ">= 0"), ("0", 1, "list of frame numbers"), ([True], 1, "list")],
)
def test_bad_frame_lists(frames, buffers, message):
    assert message in refused(parse_frames, frames, buffers)


def test_descriptor_helper_matches_the_protocol():
    assert Image.from_descriptor(descriptor(2, 3, 4, "u16"), bytes(2 * 3 * 4 * 2), max_pixels=6).nbytes == 48
