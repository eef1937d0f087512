"""The worker thread: the one place torch runs, so models stay resident and the GPU has one owner.

Out of memory is not a failure until every cheaper way has been tried: the style matching is retried
in smaller chunks, then (from a GPU) the image runs on the CPU, and the reply carries a warning saying so.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from styleswap.daemon.wire import image_to_mask, image_to_motion, image_to_picture, picture_to_image
from styleswap.engine.devices import default_memory_budget
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture
from styleswap.engine.sizes import style_working_size
from styleswap.engine.stylize import Engine, Options, Result
from styleswap.engine.swap import StylePatches
from styleswap.engine.temporal import TemporalState

from .config import DaemonConfig
from .errors import BAD_PARAMS, ENGINE_FAILED, RequestError
from .jobs import Job, Jobs, Task
from .style_cache import ByteLRU

if TYPE_CHECKING:
    from styleswap.cluster.pool import ActorPool

log = logging.getLogger("styleswap.daemon")

MIN_MEMORY_BUDGET = 2**20  # Options.validate's floor
_SHRINK = 4
_SMALLER_TRIES = 2


def is_out_of_memory(exc: BaseException) -> bool:
    """The allocators' errors, and cuBLAS's and cuDNN's when a full card leaves no room for their handles or
    workspaces (they allocate outside torch's allocator and say CUBLAS_STATUS_ALLOC_FAILED instead)."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text or "status_alloc_failed" in text)


def stylize_with_fallback(run: Callable[[str, Options], Result], device: str, options: Options) -> tuple[Result, list[str]]:
    """`run(device, options)`, retried on out-of-memory with a 4x and 16x smaller matching budget, then on
    the CPU if `device` is not already the CPU; returns the result and the warnings for the reply."""
    budgets = [options.memory_budget or default_memory_budget(torch.device(device))]
    for _ in range(_SMALLER_TRIES):
        budgets.append(max(MIN_MEMORY_BUDGET, budgets[-1] // _SHRINK))
    warnings: list[str] = []
    for budget in dict.fromkeys(budgets):
        try:
            return run(device, dataclasses.replace(options, memory_budget=budget)), warnings
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(exc):
                raise
            # its traceback holds the failed try's frames, and with them its tensors: kept, they would stay
            # allocated through the smaller tries, which then run out of memory too
            failure = exc.with_traceback(None)
        _release_memory(device)
        warnings.append(f"out of memory on {device} with a {budget / 2**20:g} MB matching budget")
        log.warning(warnings[-1])
    if device == "cpu":
        raise RequestError(ENGINE_FAILED, f"out of memory on the CPU: {failure}; lower max_size") from failure
    warnings.append(f"{device} ran out of memory even in small chunks; this image ran on the CPU (slower)")
    log.warning(warnings[-1])
    return run("cpu", options), warnings


def _release_memory(device: str) -> None:
    """Hand the failed try's cached blocks back, so the next try and other processes can have them."""
    gc.collect()  # tensors that only a reference cycle of the failed try still holds
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    elif device.startswith("mps"):
        torch.mps.empty_cache()


def _follow(job: Job, frame: int | None) -> str | None:
    """Why a temporal sequence's chain restarts at ``frame`` when it does not follow the last frame it went through
    (the engine says why for the rest: first frame, scene cut); the state is reset then."""
    last = job.chain_frame
    if last is None or frame == last + 1 or not job.temporal.frames:
        return None
    job.temporal.reset()
    return f"frame {frame} does not follow frame {last} ({'a gap' if frame > last else 'out of order'})"


def _json_safe(value: Any) -> Any:
    """Result summaries as plain JSON: tuples to lists, non-finite floats to null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class Worker(threading.Thread):
    def __init__(self, config: DaemonConfig, jobs: Jobs, styles: ByteLRU) -> None:
        super().__init__(name="styleswap-worker", daemon=True)
        self._config = config
        self._jobs = jobs
        self._styles = styles
        self._engines: dict[str, Engine] = {}
        self._cluster: ActorPool | None = None  # with --ray: the actors that run the work instead of an engine here
        self.ready = threading.Event()  # set once the models are loaded (or failed to load)
        self.device = config.device
        self.precision = config.precision
        self.load_error: str | None = None
        self.models: tuple[str, ...] = ()  # replaced, never mutated: the server thread reads it

    def run(self) -> None:
        self._load()
        self.ready.set()
        if self._cluster is None:
            return self._serve()
        from styleswap.cluster.connect import disconnect
        from styleswap.cluster.pool import IN_FLIGHT

        # as many frames out at once as the cluster's actors take; all end when the queue closes
        helpers = [threading.Thread(target=self._serve, name=f"styleswap-worker-{i}", daemon=True) for i in range(1, len(self._cluster) * IN_FLIGHT)]
        for helper in helpers:
            helper.start()
        self._serve()
        for helper in helpers:
            helper.join()
        self._cluster.close()
        disconnect()  # now, from this thread, rather than from Ray's exit hook with the interpreter half gone

    def _serve(self) -> None:
        while (task := self._jobs.queue.get()) is not None:
            self._run(task)

    def memory(self) -> dict[str, int]:
        if not self.device.startswith("cuda") or self.load_error:
            return {}
        return {"cuda_allocated_bytes": torch.cuda.memory_allocated(self.device), "cuda_reserved_bytes": torch.cuda.memory_reserved(self.device)}

    def _load(self) -> None:
        if self._config.ray:
            return self._join_cluster(self._config.ray)
        try:
            if self._config.threads:
                torch.set_num_threads(self._config.threads)
            engine = Engine(self._config.device, self._config.weights, self._config.precision)
            self.device, self.precision = str(engine.device), engine.precision
            self._engines[self.device] = engine
            self._note_encoder(engine, Options())
            try:
                engine.decoder()
                self._note_inverse(engine)
            except StyleSwapError as exc:  # optimisation still works without it
                log.warning("the inverse network is not loaded: %s", exc)
            log.info("engine ready on %s: %s", self.device, ", ".join(self.models))
        except Exception as exc:  # noqa: BLE001 - reported to every client instead of killing the daemon
            self.load_error = str(exc) or type(exc).__name__
            log.exception("the engine could not start")

    def _join_cluster(self, address: str) -> None:
        try:
            from styleswap.cluster.connect import connect

            connect(address)
            from styleswap.cluster.pool import ActorPool

            self._cluster = ActorPool(self._config.device, self._config.weights, self._config.precision)
            actors = self._cluster.describe()
            self.device = f"ray:{address}"
            self.precision = ",".join(sorted({a["precision"] for a in actors}))
            self.models = tuple(sorted(f"engine on {a['device']} ({a['precision']}, {a['threads']} threads) of node {a['node'][:12]}" for a in actors))
            log.info("%d Ray actors ready on %s: %s", len(actors), address, "; ".join(self.models))
        except Exception as exc:  # noqa: BLE001 - reported to every client instead of killing the daemon
            self.load_error = str(exc) or type(exc).__name__
            log.exception("the Ray cluster at %s could not be used", address)

    def _engine(self, device: str) -> Engine:
        """The resident engine, or the CPU one an out-of-memory fallback asks for (made once)."""
        if device not in self._engines:
            self._engines[device] = Engine(device, self._config.weights, self._config.precision)
        return self._engines[device]

    def _note_encoder(self, engine: Engine, options: Options) -> None:
        engine.encoder(options, engine.dtype)  # loads it when new
        self._note_model(f"{options.encoder}/{options.layer}/{options.pooling} on {engine.device}")

    def _note_inverse(self, engine: Engine) -> None:
        self._note_model(f"inverse network on {engine.device}")

    def _note_model(self, name: str) -> None:
        if name not in self.models:
            self.models = tuple(sorted({*self.models, name}))
            log.info("loaded %s", name)  # once per model and device: a later load means a model was not kept

    def _run(self, task: Task) -> None:
        if not self._jobs.begin(task):
            return
        try:
            if self.load_error:
                raise RequestError(ENGINE_FAILED, f"the engine could not start: {self.load_error}")
            picture = image_to_picture(task.content)
            restart = _follow(task.job, task.frame) if task.job.temporal is not None else None
            if self._cluster is not None:  # each actor's own device; a frame whose node dies is sent to another
                result, warnings = self._stylize_on_cluster(self._cluster, task, picture), []
            else:
                result, warnings = stylize_with_fallback(lambda device, options: self._stylize(device, options, task, picture), self.device, task.job.options)
            image = picture_to_image(result.picture, task.content.dtype)
        except RequestError as exc:
            self._jobs.fail(task, exc)
        except StyleSwapError as exc:
            self._jobs.fail(task, RequestError(BAD_PARAMS, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one job's crash is that client's error, not the daemon's end
            log.exception("job %s crashed", task.job.id)
            self._jobs.fail(task, RequestError(ENGINE_FAILED, f"the engine failed: {type(exc).__name__}: {exc}", {"traceback": traceback.format_exc(limit=-3)}))
        else:
            summary = _json_safe(result.summary())
            if task.job.temporal is not None:
                task.job.chain_frame = task.frame
                if restart:
                    summary["temporal"]["restart"] = restart
            self._jobs.finish(task, image, {"summary": summary, "warnings": warnings})

    def _stylize(self, device: str, options: Options, task: Task, picture: Picture) -> Result:
        engine = self._engine(device)
        key, patches = self._style(engine, task.job, options, picture.size)
        mask = None if task.mask is None else image_to_mask(task.mask)
        job, motion = task.job, None if task.motion is None else image_to_motion(task.motion)
        if job.temporal is not None and job.temporal_device != str(engine.device):  # an out-of-memory fallback moved it
            job.temporal, job.temporal_device = TemporalState.restore(job.temporal.snapshot(), engine.device), str(engine.device)
        progress = lambda stage, fraction, done: self._jobs.progress(task, stage, fraction, done)  # noqa: E731
        result = engine.stylize(picture, patches, options, progress, mask, temporal=job.temporal, motion=motion)
        self._styles.put(key, patches, patches.nbytes)  # counted as it is now: fast matching adds its clusters to it
        self._note_encoder(engine, options)
        if options.method != "optim":
            self._note_inverse(engine)
        return result

    def _stylize_on_cluster(self, cluster: ActorPool, task: Task, picture: Picture) -> Result:
        key = (task.job.style_id, "ray")
        style = self._styles.get(key)
        if style is None:  # the pixels, put in the object store once; each actor prepares and keeps the patches
            style = cluster.put_style(Picture.from_array(task.job.style))
            self._styles.put(key, style, style.nbytes)
        return cluster.stylize(picture, style, task.job.options, lambda stage, fraction, done: self._jobs.progress(task, stage, fraction, done))

    def _style(self, engine: Engine, job: Job, options: Options, content_size: tuple[int, int]) -> tuple[tuple, StylePatches]:
        style_size = (job.style.shape[1], job.style.shape[0])
        key = (job.style_id, str(engine.device), options.style_key(), style_working_size(style_size, options, content_size))
        patches = self._styles.get(key)
        if patches is None:  # cached now, so an out-of-memory retry reuses it
            patches = engine.prepare_style(Picture.from_array(job.style), options, content_size=content_size)
            self._styles.put(key, patches, patches.nbytes)
        return key, patches
