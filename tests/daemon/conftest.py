import pytest

from daemon_helpers import RunningDaemon, launch


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, models) -> RunningDaemon:
    """One daemon shared by a module's tests (starting one loads torch and VGG: seconds)."""
    running = launch(tmp_path_factory.mktemp("daemon"))
    yield running
    running.stop()


@pytest.fixture
def launcher(tmp_path, models):
    """Start daemons of a test's own (own limits, own lifecycle); all are stopped at teardown."""
    started: list[RunningDaemon] = []

    def start(*args: str, name: str = "d") -> RunningDaemon:
        running = launch(tmp_path / name, *args)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def client(daemon):
    with daemon.client() as c:
        yield c
