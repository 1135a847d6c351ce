"""What the trainer does with each event it consumes (inside the consumer's unit of work).

``TrainingRequested`` → ask the reporter for the data (``DataExportRequested``), or fail the
run at once when no pipeline here trains its model type. ``DataExported`` → queue a training
job; the training itself happens outside the delivery (see :mod:`services.trainer.worker`)."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from eventlog import RecordedEvent
from eventlog.consumer import HandlerOf
from eventlog.contract import (
    DATA_EXPORT_REQUESTED,
    DATA_EXPORTED,
    TRAINING_FAILED,
    TRAINING_REQUESTED,
    attempt_of,
)
from services.trainer.events import trainer_event
from services.trainer.unit_of_work import TrainerUnitOfWork

SUBSCRIBED = (TRAINING_REQUESTED, DATA_EXPORTED)


def make_handler(model_types: Collection[str]) -> HandlerOf[TrainerUnitOfWork]:
    async def handle(uow: TrainerUnitOfWork, event: RecordedEvent) -> None:
        attempt = attempt_of(event.data)
        caused = partial(trainer_event, stream_id=event.stream_id, attempt=attempt,
                         correlation_id=event.correlation_id, causation_id=event.event_id,
                         traceparent=event.metadata.get("traceparent"))
        if event.event_type == TRAINING_REQUESTED:
            model_type = str(event.data.get("modelType"))
            if model_type not in model_types:
                message = f"No pipeline trains modelType {model_type!r} on this server"
                await uow.append(event.stream_id, [caused(
                    TRAINING_FAILED, {"stage": "EXPORTING_DATA", "message": message,
                                       "detail": message, "retryable": False})])
                return
            await uow.append(event.stream_id, [caused(
                DATA_EXPORT_REQUESTED,
                {"modelRunId": event.data.get("modelRunId"), "modelId": event.data.get("modelId"),
                 "modelType": model_type})])
        elif event.event_type == DATA_EXPORTED:
            requested = next(
                (e for e in await uow.read_stream(event.stream_id)
                 if e.event_type == TRAINING_REQUESTED and attempt_of(e.data) == attempt),
                None,
            )
            if requested is None:
                raise ValueError(f"{event.stream_id}: DataExported for unknown attempt {attempt}")
            await uow.jobs.enqueue(
                stream_id=event.stream_id, attempt=attempt,
                model_type=str(requested.data["modelType"]),
                model_run_id=str(requested.data["modelRunId"]),
                model_id=requested.data.get("modelId"),
                export_uri=str(event.data["uri"]), export_sha256=str(event.data["sha256"]),
            )

    return handle
