"""Where a pipeline runs. By default in a child process, so a crash or a memory blow-up in
a pipeline cannot take the consumer down, and a deadline can end it for good. The child
reports each stage as it starts; the parent turns reports into events.

Children are forked from a multiprocessing forkserver that has imported the trainer's
pipeline code and the heavy libraries (:data:`PRELOAD`) once, so a run starts in
milliseconds instead of paying for a fresh interpreter and its imports; the trainer itself
never imports those libraries.

Another executor (a Kubernetes Job, a Ray task) implements :class:`Executor` the same way:
start the work somewhere, relay its stage reports, return its :class:`TrainingResult`, and
stop it at the deadline."""

from __future__ import annotations

import asyncio
import importlib
import json
import multiprocessing
import pickle
import resource
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from eventlog.artifacts import Artifact, join, write_artifact
from eventlog.contract import prediction_lines, to_ndjson
from services.trainer.pipeline import DataError, Evaluation, Example, Prediction, Progress


@dataclass(frozen=True)
class TrainingTask:
    model_type: str
    model_run_id: str
    examples: list[Example]
    artifacts_prefix: str
    """Where this attempt's artifacts go, e.g. ``file:///data/model_run-x/attempt-1``."""
    pipeline: str | None
    """Where the pipeline's class is (``module:Class``, from the registry's
    ``pipeline_reference``): the child makes that one alone, instead of reading every
    installed package's entry points and making every pipeline (4 ms of a trivial run's 14).
    ``None`` (a class no such name leads back to): it does read them."""


@dataclass(frozen=True)
class StageReport:
    stage: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class ProgressReport:
    """A pipeline's :class:`Progress` in a stage, with the time left at the pace so far."""

    stage: str
    progress: Progress
    eta_seconds: float | None


@dataclass(frozen=True)
class TrainingResult:
    evaluation: Evaluation
    hyperparameters: dict[str, Any]
    model: Artifact
    predictions: Artifact
    prediction_count: int
    prediction_lines: int
    metrics: Artifact


class TrainingFailure(Exception):
    def __init__(self, stage: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.detail = detail or message


OnStage = Callable[[StageReport], Awaitable[None]]
OnProgress = Callable[[ProgressReport], Awaitable[None]]
Report = Callable[[StageReport | ProgressReport], None]


async def ignore_progress(report: ProgressReport) -> None:
    """The default: progress is not recorded."""


class Executor(Protocol):
    async def run(self, task: TrainingTask, on_stage: OnStage, deadline: float,
                  on_progress: OnProgress = ignore_progress) -> TrainingResult:
        """Run ``task``; raise :class:`TrainingFailure` (with the stage) on any failure,
        including the deadline (seconds) passing."""
        ...


CHILD_PROGRESS_INTERVAL = 0.5
"""Seconds between two progress reports the child sends the trainer (the last step always
goes): a pipeline may report every batch without flooding the pipe."""


def _progress_reporter(stage: str, report: Report) -> Callable[[Progress], None]:
    started = time.monotonic()
    last_sent: float | None = None

    def on_progress(progress: Progress) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if (last_sent is not None and now - last_sent < CHILD_PROGRESS_INTERVAL
                and progress.step < progress.total):
            return
        last_sent = now
        elapsed = now - started
        eta = (elapsed / progress.step * max(progress.total - progress.step, 0)
               if progress.step > 0 else None)
        report(ProgressReport(stage, progress, round(eta, 1) if eta is not None else None))

    return on_progress


def _prediction_lines(model_run_id: str, predictions: list[Prediction]) -> list[dict[str, Any]]:
    return [line for p in predictions
            for line in prediction_lines(model_run_id, p.data_row_id, p.annotations,
                                         p.confidence)]


def run_pipeline(task: TrainingTask, report: Report) -> TrainingResult:
    """The pipeline's stages, in order. Runs inside the executor (the child process)."""
    from services.trainer.registry import pipeline_at

    pipeline = pipeline_at(task.pipeline, task.model_type)
    report(StageReport("PREPARING_DATA", {"data_rows": str(len(task.examples))}))
    dataset = pipeline.prepare(task.examples)
    sizes = {f"{k}_rows": str(v) for k, v in dataset.sizes.items()}
    report(StageReport("TRAINING_MODEL", {**sizes, "model_type": task.model_type}))
    model = pipeline.train(dataset, _progress_reporter("TRAINING_MODEL", report))
    report(StageReport("PREDICTING", {"data_rows": str(len(dataset.examples))}))
    predictions = pipeline.predict(model, dataset)
    report(StageReport("EVALUATING", {}))
    evaluation = pipeline.evaluate(model, dataset, predictions)
    lines = _prediction_lines(task.model_run_id, predictions)
    return TrainingResult(
        evaluation=evaluation,
        hyperparameters=model.hyperparameters,
        model=write_artifact(join(task.artifacts_prefix, "model.pkl"), pickle.dumps(model)),
        predictions=write_artifact(join(task.artifacts_prefix, "predictions.ndjson"),
                                   to_ndjson(lines)),
        prediction_count=len(predictions),
        prediction_lines=len(lines),
        metrics=write_artifact(join(task.artifacts_prefix, "metrics.json"),
                               json.dumps(asdict(evaluation)).encode()),
    )


PRELOAD = (
    "services.trainer.executor", "services.trainer.registry", "numpy",
    "sklearn.feature_extraction.text", "sklearn.linear_model", "sklearn.pipeline",
    "sklearn.preprocessing", "PIL.Image", "pycrfsuite", "trainbridge.cli",
)
"""What the forkserver imports once for every child it forks (a module that is not installed
is skipped): the executor and the libraries the built-in pipelines use; the modules of the
registered pipelines are added (:func:`preloads`). And ``trainbridge.cli``: a trainer started
by its ``trainbridge`` console script (as the image starts it) has each child run that script
again as multiprocessing's ``__mp_main__``, which imports the CLI (26 ms and 81 modules a
job, unless the forkserver has them)."""


def preloads() -> list[str]:
    """:data:`PRELOAD` and the module of every registered pipeline (built-in or plug-in)."""
    from services.trainer.registry import pipeline_modules

    return [*PRELOAD, *pipeline_modules()]


# multiprocessing's start is not thread-safe (it reaps other children while it starts one),
# and several jobs start their children from worker threads at once.
_STARTING = threading.Lock()


def _start(process: multiprocessing.process.BaseProcess) -> None:
    with _STARTING:
        process.start()


def _child(task: TrainingTask, connection: Connection, memory_limit: int | None,
           path: Sequence[str]) -> None:
    stage = "PREPARING_DATA"
    if list(path) != sys.path:
        # The parent's import path, as a spawned child would have it: the forkserver keeps
        # the one it started with, and plug-in pipelines are imported from it.
        sys.path[:] = path
        importlib.invalidate_caches()
    if memory_limit:
        # A blow-up becomes a MemoryError here instead of a visit from the OOM killer,
        # which might pick the trainer itself.
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    def report(message: StageReport | ProgressReport) -> None:
        nonlocal stage
        if isinstance(message, ProgressReport):
            connection.send(("progress", message))
            return
        stage = message.stage
        connection.send(("stage", message))

    try:
        connection.send(("result", run_pipeline(task, report)))
    except BaseException as exc:
        # Plain values: an exception with its own __init__ does not survive pickling. Data
        # the pipeline cannot learn from is the user's to fix: its message says it all.
        message = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
        connection.send(("error", (
            stage, message[:255], "".join(traceback.format_exception(exc))
        )))


class ChildProcessExecutor:
    """Each run in a child process of its own. ``start_method`` ``"forkserver"`` (the
    default) forks it from a process that preloaded ``preload``; ``"spawn"`` starts a fresh
    interpreter each time."""

    def __init__(self, start_method: str = "forkserver", memory_limit: int | None = None,
                 preload: Sequence[str] | None = None) -> None:
        self._context: Any = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._context.set_forkserver_preload(list(preload or preloads()))
        self._memory_limit = memory_limit

    def warm_up(self) -> None:
        """Start the forkserver now (it imports its preloads in the background), so that the
        first run does not wait for it. Does nothing for the other start methods."""
        if self._context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    async def run(self, task: TrainingTask, on_stage: OnStage, deadline: float,
                  on_progress: OnProgress = ignore_progress) -> TrainingResult:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child, args=(task, send, self._memory_limit, list(sys.path)), daemon=True
        )
        # Off the event loop: the forkserver answers only once it has its preloads.
        starting = asyncio.ensure_future(asyncio.to_thread(_start, process))
        stage = "PREPARING_DATA"
        try:
            await asyncio.shield(starting)
            send.close()
            ends_at = time.monotonic() + deadline
            while True:
                remaining = ends_at - time.monotonic()
                if remaining <= 0:
                    raise TrainingFailure(
                        stage, f"Deadline of {deadline}s exceeded while {_doing(stage)}"
                    )
                ready = await asyncio.to_thread(receive.poll, min(remaining, 0.5))
                if not ready and process.is_alive():
                    continue
                try:
                    kind, payload = receive.recv()
                except EOFError:  # the child is gone without a word
                    await asyncio.to_thread(process.join, 5)
                    raise TrainingFailure(
                        stage, f"the training process died while {_doing(stage)} "
                        f"(exit code {process.exitcode})"
                    ) from None
                if kind == "stage":
                    stage = payload.stage
                    await on_stage(payload)
                elif kind == "progress":
                    await on_progress(payload)
                elif kind == "error":
                    raise TrainingFailure(*payload)
                else:
                    result: TrainingResult = payload
                    return result
        finally:
            if not starting.done():  # stopped while starting: let it start, to end it
                await asyncio.wait([starting])
            send.close()
            if process.pid is not None:
                if process.is_alive():
                    process.kill()
                await asyncio.to_thread(process.join, 5)
            receive.close()


_DOING = {"PREPARING_DATA": "preparing data", "TRAINING_MODEL": "training",
          "EVALUATING": "evaluating", "PREDICTING": "predicting"}


def _doing(stage: str) -> str:
    return _DOING.get(stage, stage.lower())


