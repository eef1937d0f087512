"""The mark for tests of the int8 path, which exists only on x86 CPUs with VNNI (``devices.int8_available``)."""

import pytest

from styleswap.engine.devices import int8_available

needs_int8 = pytest.mark.skipif(not int8_available(), reason="int8 needs an x86 CPU with VNNI")
