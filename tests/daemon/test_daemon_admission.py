"""Queue places: a client that vanished gives its places back at once, and no client takes them all."""

import logging
import threading

import numpy as np
import pytest

from daemon_helpers import SLOW, RawPeer, picture, to_image, wait_until
from styleswap.daemon.config import Limits
from styleswap.daemon.errors import RequestError
from styleswap.daemon.jobs import Jobs
from styleswap.engine.stylize import Options
from styleswap_protocol import Message


def jobs_held(daemon) -> int:
    with daemon.client() as client:
        return client.hello()["engine"]["jobs"]


def stylize(peer: RawPeer, style_id: str, seed: int) -> Message:
    return peer.send(Message("stylize", "p", {"options": SLOW, "style_id": style_id}, (to_image(picture(64, 64, 3, seed=seed)).as_role("content"),)))


@pytest.fixture
def busy_daemon(launcher):
    """A daemon whose worker is held by a minutes-long image, so everything else stays queued."""
    daemon = launcher("--max-queued-jobs", "8")
    holder = RawPeer(daemon.info)
    style_id = holder.reply_to(holder.send(Message("upload_style", "p", {}, (to_image(picture(32, 32, 3)).as_role("style"),))).id).params["style_id"]
    running = stylize(holder, style_id, 0)
    assert holder.reply_to(running.id).type == "ack"
    while holder.recv().type != "progress":  # the worker is on it
        pass
    yield daemon, style_id
    holder.close()


def test_queued_jobs_of_a_vanished_client_are_dropped_at_once_and_logged_once(busy_daemon):
    daemon, style_id = busy_daemon
    leaver = RawPeer(daemon.info)
    sent = [stylize(leaver, style_id, seed) for seed in (1, 2, 3)]
    job_ids = [leaver.reply_to(msg.id).params["job_id"] for msg in sent]
    assert jobs_held(daemon) == 4
    leaver.close()
    wait_until(lambda: jobs_held(daemon) == 1, "the vanished client's three queued jobs dropped")
    for job_id in job_ids:
        assert daemon.log.count(f"job {job_id} dropped") == 1


def test_a_running_job_of_a_vanished_client_is_dropped_and_logged_once(caplog):
    """Each event queued for the gone client fails to send and reports it gone again; the job ends once."""
    jobs = Jobs(Limits(), lambda identity, msg: None)
    job = jobs.submit_stylize(b"gone", Message("stylize", "s"), Options(), "style", np.zeros((8, 8, 3), np.uint8), to_image(picture(8, 8, 3)))
    task = jobs.queue.get(timeout=0)
    assert jobs.begin(task)
    with caplog.at_level(logging.INFO, logger="styleswap.daemon"):
        for _ in range(3):
            jobs.peer_gone(b"gone")
    assert caplog.text.count(f"job {job.id} dropped") == 1
    with pytest.raises(RequestError, match="the client went away"):  # the worker stops at its next progress check
        jobs.progress(task, "encode", 0.5, 0.1)


def test_one_client_cannot_take_every_queue_place(busy_daemon):
    daemon, style_id = busy_daemon  # 8 places, one taken by the running image
    flood = RawPeer(daemon.info)
    others = [RawPeer(daemon.info) for _ in range(4)]
    try:
        replies = [flood.reply_to(stylize(flood, style_id, seed).id) for seed in range(1, 8)]
        taken = sum(reply.type == "ack" for reply in replies)
        refused = [reply for reply in replies if reply.type == "error"]
        assert 1 <= taken <= 4, f"one client took {taken} of the 8 places"
        assert refused and {r.params["code"] for r in refused} == {"busy"}
        assert "its share" in refused[0].params["message"] and refused[0].params["detail"]["yours"] == taken
        for seed, peer in enumerate(others, start=10):  # each newcomer still gets a place
            assert peer.reply_to(stylize(peer, style_id, seed).id).type == "ack"
    finally:
        for peer in [flood, *others]:
            peer.close()


def test_a_dropped_sequence_cannot_be_resumed_while_its_frame_still_runs():
    """The grace ends while a frame is mid-run (a slow machine): the job only closes at the worker's next progress
    check, yet a resume must already get what it gets afterwards, unknown_job."""
    jobs = Jobs(Limits(orphan_grace=1.0), lambda identity, msg: None)
    job = jobs.create_sequence(b"gone", Message("sequence", "s"), Options(), "style", np.zeros((8, 8, 3), np.uint8))
    jobs.add_frames(job, [0], [to_image(picture(8, 8, 3))], last=False, resume_from=None)
    task = jobs.queue.get(timeout=0)
    assert jobs.begin(task)
    jobs.peer_gone(b"gone")
    job.orphaned_since -= 2.0  # parked longer than the grace
    jobs.housekeeping()
    assert len(jobs) == 1 and job.end is not None  # still running: not closed yet
    with pytest.raises(RequestError) as caught:
        jobs.continue_sequence(job.id, b"back", Message("sequence", "r"), lambda job: None, [], [], last=False, resume_from=0)
    assert caught.value.code == "unknown_job" and "not resumed in time" in caught.value.message
    with pytest.raises(RequestError, match="not resumed in time"):  # the worker stops at its next check
        jobs.progress(task, "encode", 0.5, 0.1)


def test_a_resume_moves_the_sequence_and_resends_held_frames_in_one_step():
    """A frame finishing while a resume is handled reaches the new connection once, not also among the held
    results resent; frames refused by the check leave the sequence where it was."""
    sent: list[tuple[bytes, Message]] = []
    jobs = Jobs(Limits(), lambda identity, msg: sent.append((identity, msg)))
    job = jobs.create_sequence(b"old", Message("sequence", "s"), Options(), "style", np.zeros((8, 8, 3), np.uint8))
    jobs.add_frames(job, [0], [to_image(picture(8, 8, 3))], last=False, resume_from=None)
    task = jobs.queue.get(timeout=0)
    assert jobs.begin(task)

    def refuse(job):
        raise RequestError("bad_params", "motion of the wrong size")

    with pytest.raises(RequestError, match="wrong size"):
        jobs.continue_sequence(job.id, b"new", Message("sequence", "r"), refuse, [], [], last=False, resume_from=0)
    assert job.identity == b"old"
    finishing = threading.Thread(target=jobs.finish, args=(task, to_image(picture(8, 8, 3)), {}))

    def finish_meanwhile(job):  # the worker's finish: it must wait for the resume to be done
        finishing.start()
        finishing.join(0.5)
        assert finishing.is_alive()

    jobs.continue_sequence(job.id, b"new", Message("sequence", "r"), finish_meanwhile, [], [], last=False, resume_from=0)
    finishing.join()
    results = [msg for identity, msg in sent if identity == b"new" and msg.type == "frame_result"]
    assert [msg.params["frame"] for msg in results] == [0]
