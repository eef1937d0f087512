from styleswap.daemon.style_cache import ByteLRU, style_id_of
from styleswap_protocol import Image


def test_least_recently_used_goes_first_when_bytes_run_out():
    cache = ByteLRU(100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C", 40)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert cache.nbytes == 80 and len(cache) == 2


def test_replacing_a_key_counts_its_bytes_once():
    cache = ByteLRU(100)
    cache.put("a", "A", 60)
    cache.put("a", "A2", 30)
    assert cache.nbytes == 30 and cache.get("a") == "A2"


def test_an_item_over_the_budget_is_refused_without_evicting():
    cache = ByteLRU(100)
    cache.put("a", "A", 50)
    assert cache.put("big", "X", 101) is False
    assert cache.get("big") is None and cache.get("a") == "A" and cache.nbytes == 50


def test_style_ids_depend_on_pixels_and_shape():
    base = Image(2, 2, 1, "u8", bytes([1, 2, 3, 4]))
    assert style_id_of(base) == style_id_of(Image(2, 2, 1, "u8", bytearray([1, 2, 3, 4])))
    assert style_id_of(base) != style_id_of(Image(2, 2, 1, "u8", bytes([1, 2, 3, 5])))
    assert style_id_of(base) != style_id_of(Image(4, 1, 1, "u8", bytes([1, 2, 3, 4])))
