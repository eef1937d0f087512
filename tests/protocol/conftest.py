import pytest
import zmq

from styleswap_protocol import ReplayGuard, new_key


@pytest.fixture
def key() -> bytes:
    return new_key()


@pytest.fixture
def guard() -> ReplayGuard:
    return ReplayGuard()


@pytest.fixture
def context():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)
