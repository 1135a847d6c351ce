"""What the trainer does with each event it consumes (inside the consumer's unit of work).

``TrainingRequested`` → ask the reporter for the data (``DataExportRequested``), or fail the
run at once when no pipeline here trains its model type. ``DataExported`` → queue a training
job; the training itself happens outside the delivery (see :mod:`services.trainer.worker`)."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from eventlog import RecordedEvent, UnitOfWork
from eventlog.consumer import Handler
from services.trainer import jobs
from services.trainer.events import trainer_event

SUBSCRIBED = ("TrainingRequested", "DataExported")


def make_handler(model_types: Collection[str]) -> Handler:
    async def handle(uow: UnitOfWork, event: RecordedEvent) -> None:
        attempt = int(event.data.get("attempt", 1))
        caused = partial(trainer_event, stream_id=event.stream_id, attempt=attempt,
                         correlation_id=event.correlation_id, causation_id=event.event_id,
                         traceparent=event.metadata.get("traceparent"))
        if event.event_type == "TrainingRequested":
            model_type = str(event.data.get("modelType"))
            if model_type not in model_types:
                message = f"No pipeline trains modelType {model_type!r} on this server"
                await uow.append(event.stream_id, [caused(
                    "TrainingFailed", {"stage": "EXPORTING_DATA", "message": message,
                                       "detail": message, "retryable": False})])
                return
            await uow.append(event.stream_id, [caused(
                "DataExportRequested",
                {"modelRunId": event.data.get("modelRunId"), "modelId": event.data.get("modelId"),
                 "modelType": model_type})])
        elif event.event_type == "DataExported":
            requested = next(
                (e for e in await uow.read_stream(event.stream_id)
                 if e.event_type == "TrainingRequested"
                 and int(e.data.get("attempt", 1)) == attempt),
                None,
            )
            if requested is None:
                raise ValueError(f"{event.stream_id}: DataExported for unknown attempt {attempt}")
            connection = getattr(uow, "connection", None)
            if connection is None:
                raise TypeError("training jobs need the PostgreSQL unit of work")
            await jobs.enqueue(
                connection,
                stream_id=event.stream_id, attempt=attempt,
                model_type=str(requested.data["modelType"]),
                model_run_id=str(requested.data["modelRunId"]),
                model_id=requested.data.get("modelId"),
                export_uri=str(event.data["uri"]), export_sha256=str(event.data["sha256"]),
            )

    return handle
