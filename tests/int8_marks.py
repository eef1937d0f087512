"""The mark for tests of the int8 path, which exists only on x86 CPUs with VNNI (``devices.int8_available``), and
what the tests expect of it, read from the machine itself rather than from the engine."""

import platform

import pytest

from styleswap.engine.devices import int8_available

needs_int8 = pytest.mark.skipif(not int8_available(), reason="int8 needs an x86 CPU with VNNI")


def machine_has_int8() -> bool:
    """An x86-64 Linux CPU whose kernel flags list a VNNI or AMX int8 extension: where ``auto`` must pick int8."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = {flag for line in cpuinfo if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
