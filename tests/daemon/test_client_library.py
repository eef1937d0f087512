"""The client library as hosts use it: importable without torch, with timeouts, and behind the CLI."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import zmq
from PIL import Image as PILImage

from daemon_helpers import SLOW, descriptor, jobs_held, picture, signed_frames, to_image, wait_until
from styleswap import cli
from styleswap_client import Client, DaemonError, DaemonTimeout, DaemonUnavailable, Progress
from styleswap_protocol import ConnectionInfo, new_key


def test_importable_without_torch_or_numpy():
    code = "import sys, styleswap_client; heavy = {'torch', 'numpy'} & set(sys.modules); print(sorted(heavy)); sys.exit(bool(heavy))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_silent_daemon_times_out_with_a_clear_message():
    nobody = ConnectionInfo(port=9, key=new_key(), pid=1, version="0", started=0)  # discard port: nothing answers
    with Client(nobody, timeout=0.3) as client:  # a client that hung instead fails on the test's own timeout
        with pytest.raises(DaemonTimeout) as caught:
            client.hello()
    assert "within 0.3 s" in caught.value.message and "connect again" in caught.value.message


def test_a_daemon_that_dies_mid_job_is_reported_as_gone_at_once_not_at_the_timeout(launcher):
    running = launcher()
    killed = []

    def kill_on_first_progress(progress: Progress) -> None:
        if not killed:
            running.process.kill()
            running.process.wait()
            killed.append(True)

    # a reply timeout far past the test's own: a client that waited for it fails the test on its timeout
    with running.client(timeout=24 * 3600) as client:
        with pytest.raises(DaemonUnavailable) as caught:
            client.stylize(to_image(picture(64, 48, 3)), to_image(picture(64, 48, 3, seed=1)), {"method": "optim", "iters": 500, "max_size": 64}, progress=kill_on_first_progress)
    assert f"(pid {running.info.pid}) has exited" in caught.value.message


def test_cli_daemon_flag_refuses_an_image_larger_than_the_daemon_takes_with_the_way_out(launcher, tmp_path, monkeypatch, capsys):
    running = launcher("--max-pixels", "2000")
    monkeypatch.setenv("STYLESWAP_CONNECTION_FILE", str(running.path))
    PILImage.fromarray(picture(64, 48, 3, seed=3)).save(tmp_path / "c.png")
    assert cli.main(["stylize", str(tmp_path / "c.png"), str(tmp_path / "c.png"), "-o", str(tmp_path / "o.png"), "--daemon", "--quiet"]) == 2
    message = capsys.readouterr().err
    assert "the image is 64x48 (0.00307 megapixels), more than the daemon takes (0.002): start it with --max-pixels 3072 or more, or run without --daemon" in message
    assert not (tmp_path / "o.png").exists()
    # Refused from the header, before decoding: the pixel data of this file is cut off halfway, so decoding it
    # would fail (and a 10000x10000 PNG of a few hundred kilobytes decoded to gigabytes first).
    PILImage.fromarray(picture(300, 200, 3, seed=4)).save(tmp_path / "big.png")
    whole = (tmp_path / "big.png").read_bytes()
    (tmp_path / "big.png").write_bytes(whole[: len(whole) // 2])
    PILImage.fromarray(picture(32, 32, 3, seed=5)).save(tmp_path / "s.png")
    assert cli.main(["stylize", str(tmp_path / "big.png"), str(tmp_path / "s.png"), "-o", str(tmp_path / "o.png"), "--daemon", "--quiet"]) == 2
    assert "the image is 300x200 (0.06 megapixels), more than the daemon takes (0.002): start it with --max-pixels 60000" in capsys.readouterr().err
    assert cli.main(["stylize", str(tmp_path / "s.png"), str(tmp_path / "big.png"), "-o", str(tmp_path / "o.png"), "--daemon", "--quiet"]) == 2
    assert "the image is 300x200" in capsys.readouterr().err  # the style too


def test_cli_daemon_flag_waits_for_a_place_in_a_full_queue(launcher, tmp_path, monkeypatch, capsys):
    running = launcher("--max-queued-jobs", "1")
    monkeypatch.setenv("STYLESWAP_CONNECTION_FILE", str(running.path))
    PILImage.fromarray(picture(40, 30, 3, seed=4)).save(tmp_path / "c.png")
    release, errors, status = threading.Event(), [], []

    def hold_until_released(progress: Progress) -> None:
        if release.is_set():
            raise Stop  # the client cancels its job: the place comes free

    def hold() -> None:
        try:
            other.stylize(to_image(picture(48, 32, 3)), to_image(picture(32, 32, 3)), SLOW, progress=hold_until_released)
        except Stop:
            pass

    def waited() -> bool:
        errors.append(capsys.readouterr().err)
        return "the daemon's queue is full; waiting for a place" in "".join(errors)

    argv = ["stylize", str(tmp_path / "c.png"), str(tmp_path / "c.png"), "-o", str(tmp_path / "o.png"), "--daemon", "--quiet", "--method", "optim", "--iters", "1", "--max-size", "32", "--style-size", "32"]
    with running.client() as other:
        holder = threading.Thread(target=hold)
        holder.start()  # holds the one place for minutes, until released
        wait_until(lambda: jobs_held(running) == 1, "the first job taking the one place")
        second = threading.Thread(target=lambda: status.append(cli.main(argv)))
        second.start()
        wait_until(waited, "the CLI waiting for a place")
        assert second.is_alive()  # still waiting
        release.set()
        for thread in (holder, second):
            thread.join(120)
            assert not thread.is_alive()
    assert status == [0]
    assert PILImage.open(tmp_path / "o.png").size == (40, 30)


class Stop(Exception):
    pass


def test_cli_daemon_flag_gives_the_in_process_result(daemon, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLESWAP_CONNECTION_FILE", str(daemon.path))
    content = picture(40, 30, 4, seed=20)
    PILImage.fromarray(content).save(tmp_path / "content.png")
    PILImage.fromarray(picture(32, 32, 3, seed=21)).save(tmp_path / "style.png")
    flags = ["--method", "optim", "--iters", "2", "--max-size", "32", "--style-size", "32", "--quiet"]
    args = [str(tmp_path / "content.png"), str(tmp_path / "style.png")]
    assert cli.main(["stylize", *args, "-o", str(tmp_path / "daemon.png"), "--daemon", *flags]) == 0
    assert cli.main(["stylize", *args, "-o", str(tmp_path / "local.png"), "--device", "cpu", *flags]) == 0
    remote, local = (np.asarray(PILImage.open(tmp_path / name)) for name in ("daemon.png", "local.png"))
    assert remote.shape == (30, 40, 4) and np.array_equal(remote[..., 3], content[..., 3])
    assert np.abs(remote.astype(int) - local.astype(int)).max() <= 1


@pytest.mark.parametrize("setting", [("--device", "cpu"), ("--precision", "float16")])
def test_cli_daemon_flag_refuses_engine_settings(daemon, tmp_path, monkeypatch, capsys, setting):
    monkeypatch.setenv("STYLESWAP_CONNECTION_FILE", str(daemon.path))
    PILImage.fromarray(picture(16, 16, 3)).save(tmp_path / "x.png")
    assert cli.main(["stylize", str(tmp_path / "x.png"), str(tmp_path / "x.png"), "-o", str(tmp_path / "y.png"), "--daemon", *setting]) == 2
    assert "pass them to styleswap-backend" in capsys.readouterr().err


def test_daemon_errors_reach_the_cli_user(daemon, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STYLESWAP_CONNECTION_FILE", str(daemon.path))
    PILImage.fromarray(picture(8, 8, 3)).save(tmp_path / "tiny.png")
    PILImage.fromarray(picture(32, 32, 3)).save(tmp_path / "style.png")
    status = cli.main(["stylize", str(tmp_path / "tiny.png"), str(tmp_path / "style.png"), "-o", str(tmp_path / "out.png"), "--daemon", "--method", "optim", "--quiet"])
    assert status == 2
    assert "styleswap: error: daemon: image of 8x8 is too small" in capsys.readouterr().err


@pytest.mark.parametrize(("descriptors", "code"), [([descriptor(2, 2, 3, ["u8"])], "bad_buffer"), ([descriptor(2, 2, 3, {})], "bad_buffer")])
def test_a_reply_the_client_cannot_decode_is_a_daemon_error_not_a_crash(tmp_path, descriptors, code):
    """A daemon (or whoever holds the key) answering with a descriptor the decoder once choked on."""
    key = new_key()
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(f"ipc://{tmp_path / 'fake.sock'}")
    info = ConnectionInfo(port=0, key=key, pid=os.getpid(), version="0", started=0, transport="ipc", ip="", path=str(tmp_path / "fake.sock"))

    def answer_once() -> None:
        if router.poll(30_000):
            identity = router.recv_multipart()[0]
            router.send_multipart([identity, *signed_frames(key, "info", descriptors, [bytes(12)])[1]])

    fake = threading.Thread(target=answer_once)
    fake.start()
    try:
        with Client(info, timeout=30) as client:
            with pytest.raises(DaemonError) as caught:
                client.hello()
        assert caught.value.code == code and "unreadable message from the daemon" in caught.value.message
    finally:
        fake.join()
        context.destroy(linger=0)
