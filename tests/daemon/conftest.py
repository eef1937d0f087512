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


@pytest.fixture(scope="module")
def x_tools() -> None:
    """The X tools and pystray the tray tests drive (installed by .ci/run and the test extra)."""
    from tray_display import missing_tools, require

    require(missing_tools())


@pytest.fixture
def bare_display(x_tools):
    """A fresh Xvfb with no system tray."""
    from tray_display import start_xvfb, stop

    xvfb, name = start_xvfb("320x64")
    yield name
    stop(xvfb)


@pytest.fixture
def display(bare_display, tmp_path):
    """A fresh Xvfb with trayer (an XEmbed system tray) docked on top."""
    from tray_display import start_trayer, stop

    tray = start_trayer(bare_display, tmp_path / "trayer.txt")
    yield bare_display
    stop(tray)
