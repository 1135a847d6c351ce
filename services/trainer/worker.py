"""The training worker: claims queued jobs (up to ``concurrency`` at once), keeps each one's
lease alive, runs its pipeline in the executor, and appends what happened. A job whose
trainer died is claimed again when its lease runs out; after ``max_claims`` the run fails
instead of looping forever."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import traceback
from functools import partial

import httpx

from eventlog import NewEvent, RecordedEvent, StoreUnavailableError, json_logs, telemetry
from eventlog.amqp import wait_first
from eventlog.artifacts import join, read_artifact
from eventlog.contract import (
    DATA_EXPORTED,
    MODEL_EVALUATED,
    PREDICTIONS_PRODUCED,
    STAGE_STARTED,
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_REQUESTED,
    attempt_of,
    ui_message,
)
from eventlog.retry import Outage, reconnection_policy, sleep_unless
from eventlog.text import storable_text
from eventlog.tracing import trace_id_of
from services.trainer.events import scores_of, trainer_event
from services.trainer.executor import Executor, StageReport, TrainingFailure, TrainingTask
from services.trainer.export_rows import ExportFormatError, RowRef, read_rows
from services.trainer.fetch import FetchError, load_examples
from services.trainer.fitness import check_export
from services.trainer.jobs import TrainingJob, TrainingJobs
from services.trainer.metrics import TrainerMetrics
from services.trainer.pipeline import DataError, Pipeline
from services.trainer.progress import ProgressThrottle, StageLog
from services.trainer.registry import pipeline_reference
from services.trainer.settings import TrainerSettings
from services.trainer.unit_of_work import TrainerStore

logger = logging.getLogger(__name__)


class LostClaimError(RuntimeError):
    """This trainer no longer holds the job it was working on."""


def _exported_rows(job: TrainingJob) -> list[RowRef]:
    raw = read_artifact(job.export_uri, job.export_sha256)
    rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return read_rows(rows, job.model_id, job.model_run_id)


def _cause_of(events: list[RecordedEvent], job: TrainingJob) -> str | None:
    """The traceparent the job's training continues: its export's (``DataExported``), else
    its request's."""
    for event_type in (DATA_EXPORTED, TRAINING_REQUESTED):
        for event in reversed(events):
            if event.event_type == event_type and attempt_of(event.data) == job.attempt:
                return event.metadata.get("traceparent")
    return None


class TrainingWorker:
    def __init__(
        self,
        store: TrainerStore,
        jobs: TrainingJobs,
        executor: Executor,
        pipelines: dict[str, Pipeline],
        settings: TrainerSettings,
        http: httpx.AsyncClient,
        metrics: TrainerMetrics,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._executor = executor
        self._pipelines = pipelines
        self._settings = settings
        self._http = http
        self._metrics = metrics

    async def run(self, stop: asyncio.Event) -> None:
        """Claim jobs and run each in a task of its own, up to ``settings.concurrency`` at
        once, until ``stop``; then wait for the running ones, which hand their jobs back."""
        database = Outage(logger, "training worker: database",
                          reconnection_policy(self._settings.poll_interval))
        running: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                if len(running) >= self._settings.concurrency:
                    await wait_first(stop.wait(), asyncio.wait(
                        set(running), return_when=asyncio.FIRST_COMPLETED))
                    continue
                try:
                    job = await self._jobs.claim()
                    database.recovered()
                except StoreUnavailableError as exc:
                    # Logged once, not once a poll; a job it held is claimed again (its lease).
                    await database.pause(exc, stop)
                    continue
                except Exception:
                    logger.exception("training worker: unexpected error; carrying on")
                    await sleep_unless(stop, self._settings.poll_interval)
                    continue
                if job is None:
                    await sleep_unless(stop, self._settings.poll_interval)
                    continue
                task = asyncio.create_task(self._run_job(stop, job, database))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            if not stop.is_set():  # cancelled rather than stopped
                for task in running:
                    task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _run_job(self, stop: asyncio.Event, job: TrainingJob, database: Outage) -> None:
        """One claimed job, start to end; an error ends this job only (its lease runs out and
        it is claimed again, at most ``max_claims`` times), never the worker or other jobs."""
        self._metrics.jobs_claimed.inc()
        if job.claims > 1:  # an earlier claim's lease ran out
            self._metrics.lease_takeovers.inc()
        try:
            with self._metrics.jobs_running.track_inprogress():
                await self._process_until(stop, job)
        except StoreUnavailableError as exc:
            database.failed(exc)
        except Exception:
            # E.g. the database went away mid-run: the job's lease runs out and it is
            # claimed again; the worker itself carries on.
            logger.exception("training worker: unexpected error in %s attempt %d; carrying on",
                             job.stream_id, job.attempt)

    async def _process_until(self, stop: asyncio.Event, job: TrainingJob) -> None:
        """Process ``job``; if the trainer is stopped first, end the run's child process and
        hand the job back at once (without counting the claim), rather than making the
        shutdown wait for the training deadline."""
        work = asyncio.create_task(self.process(job))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if work in done:
            work.result()
            return
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        await self._jobs.release(job)
        logger.info("%s attempt %d: handed back for another trainer (shutting down)",
                    job.stream_id, job.attempt)

    async def process(self, job: TrainingJob) -> None:
        json_logs.model_run_id.set(job.model_run_id)
        events = await self._store.read_stream(job.stream_id)
        requested = next((e for e in events if e.event_type == TRAINING_REQUESTED
                          and attempt_of(e.data) == job.attempt), None)
        json_logs.correlation_id.set(requested.correlation_id if requested else None)
        json_logs.trace_id.set(trace_id_of(_cause_of(events, job)))
        emit = partial(trainer_event, stream_id=job.stream_id, attempt=job.attempt,
                       correlation_id=requested.correlation_id if requested else None,
                       traceparent=requested.metadata.get("traceparent") if requested else None)
        if job.claims > self._settings.max_claims:
            await self._fail(job, emit, "TRAINING_MODEL",
                             f"Training was interrupted {job.claims - 1} times (its trainer "
                             "stopped); giving up", "")
            return
        with telemetry.span(f"train {job.model_type}", cause=_cause_of(events, job),
                            attributes={"trainbridge.stream_id": job.stream_id,
                               "trainbridge.attempt": job.attempt}):
            work = asyncio.create_task(self._train_or_fail(job, emit))
            keeper = asyncio.create_task(self._keep_lease(job, work))
            try:
                await work
            except asyncio.CancelledError:
                if not keeper.done():  # we are being stopped, not displaced
                    raise
                logger.warning("%s attempt %d: another trainer took the job over",
                               job.stream_id, job.attempt)
            except LostClaimError:
                logger.warning("%s attempt %d: another trainer took the job over; its "
                               "outcome was not recorded here", job.stream_id, job.attempt)
            finally:
                keeper.cancel()

    async def _keep_lease(self, job: TrainingJob, work: asyncio.Task[None]) -> None:
        lease_ends = time.monotonic() + self._settings.lease_seconds
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            try:
                if not await self._jobs.heartbeat(job):
                    work.cancel()  # another trainer holds the job now
                    return
                lease_ends = time.monotonic() + self._settings.lease_seconds
                self._metrics.lease_renewals.inc()
            except StoreUnavailableError as exc:
                # Keep training through a database blip; stop only once the lease has
                # really run out, when another trainer may take the job.
                if time.monotonic() >= lease_ends:
                    logger.warning("%s attempt %d: lease lost during a database outage",
                                   job.stream_id, job.attempt)
                    work.cancel()
                    return
                logger.warning("%s attempt %d: heartbeat failed (%s); retrying",
                               job.stream_id, job.attempt, exc)

    async def _train_or_fail(self, job: TrainingJob, emit: partial[NewEvent]) -> None:
        try:
            await self._train(job, emit)
        except (StoreUnavailableError, LostClaimError):
            raise  # the lease decides: another claim will run the job again
        except Exception as exc:
            logger.exception("%s attempt %d: unexpected error", job.stream_id, job.attempt)
            await self._fail(job, emit, "TRAINING_MODEL", f"{type(exc).__name__}: {exc}",
                             "".join(traceback.format_exception(exc)))

    async def _train(self, job: TrainingJob, emit: partial[NewEvent]) -> None:
        pipeline = self._pipelines.get(job.model_type)
        if pipeline is None:
            await self._fail(job, emit, "PREPARING_DATA",
                             f"No pipeline trains modelType {job.model_type!r} here", "")
            return
        try:
            # Off the event loop: the relay, the consumer and the heartbeat share it.
            refs = await asyncio.to_thread(_exported_rows, job)
            check_export(refs, pipeline)
        except DataError as exc:
            await self._fail(job, emit, "PREPARING_DATA", str(exc), repr(exc))
            return
        except (ExportFormatError, ValueError, OSError) as exc:
            await self._fail(job, emit, "PREPARING_DATA", f"Could not read the export: {exc}",
                             repr(exc))
            return
        try:
            examples = await load_examples(refs, pipeline.media, self._http,
                                           self._settings.fetch)
        except (FetchError, ValueError, OSError) as exc:
            await self._fail(job, emit, "PREPARING_DATA", f"Could not load the data: {exc}",
                             repr(exc))
            return
        task = TrainingTask(
            model_type=job.model_type, model_run_id=job.model_run_id, examples=examples,
            artifacts_prefix=join(self._settings.artifacts_url, job.stream_id,
                                  f"attempt-{job.attempt}"),
            pipeline=pipeline_reference(pipeline),
        )

        stages = StageLog(job.stream_id,
                          observe=self._metrics.stage_observer(job.model_type))
        stage_spans = telemetry.SpanSequence()

        async def on_stage(report: StageReport) -> None:
            stages.started(report.stage, report.metadata)
            stage_spans.next(f"stage {report.stage}")
            await self._store.append(job.stream_id, [emit(
                STAGE_STARTED, {"stage": report.stage, "metadata": report.metadata},
                step=report.stage)])

        on_progress = ProgressThrottle(self._store, job.stream_id, emit,
                                       self._settings.progress_interval)
        deadline = self._settings.deadline_for(job.model_type)
        try:
            result = await self._executor.run(task, on_stage, deadline, on_progress)
        except TrainingFailure as failure:
            stages.ended("failed")
            stage_spans.end(failed=True)
            await self._fail(job, emit, failure.stage, failure.message, failure.detail)
            return
        except BaseException:  # still logged and timed
            stages.ended("failed")
            stage_spans.end(failed=True)
            raise
        stages.ended("finished")
        stage_spans.end()
        evaluation = result.evaluation
        headline = {name: f"{value:.4f}" for name, value in evaluation.scores.items()}
        await self._finish(job, succeeded=True, events=[
            emit(MODEL_EVALUATED, {"metrics": scores_of(evaluation),
                                   "metricsUri": result.metrics.uri,
                                   "metricsSha256": result.metrics.sha256}),
            emit(PREDICTIONS_PRODUCED, {"uri": result.predictions.uri,
                                        "sha256": result.predictions.sha256,
                                        "count": result.prediction_count,
                                        "lines": result.prediction_lines}),
            emit(TRAINING_COMPLETED, {
                "modelUri": result.model.uri, "modelSha256": result.model.sha256,
                "metadata": headline,
                "config": {"model_type": job.model_type, **result.hyperparameters},
            }),
        ])
        logger.info("%s attempt %d: trained (%s %.3f)", job.stream_id, job.attempt,
                    evaluation.headline, evaluation.scores.get(evaluation.headline, 0.0))

    async def _finish(self, job: TrainingJob, *, succeeded: bool,
                      events: list[NewEvent]) -> None:
        """Append the run's outcome and close the job in one transaction, and only while this
        trainer still holds the job: a displaced trainer appends nothing."""
        async with self._store.unit_of_work() as uow:
            if not await uow.jobs.finish(job, claimed_by=self._jobs.trainer_id,
                                         succeeded=succeeded):
                raise LostClaimError(f"{job.stream_id} attempt {job.attempt}")
            await uow.append(job.stream_id, events)
        self._metrics.jobs_finished.labels(result="succeeded" if succeeded else "failed").inc()

    async def _fail(self, job: TrainingJob, emit: partial[NewEvent], stage: str,
                    message: str, detail: str) -> None:
        # An error's text may quote what came from outside (fetched row data, a pipeline's
        # exception): stored with a marker for what PostgreSQL refuses, never refused.
        message, detail = storable_text(message), storable_text(detail or message)
        await self._finish(job, succeeded=False, events=[emit(
            TRAINING_FAILED, {"stage": stage, "message": ui_message(message),
                               "detail": detail, "retryable": False})])
        logger.warning("%s attempt %d failed while %s: %s", job.stream_id, job.attempt, stage,
                       message)
