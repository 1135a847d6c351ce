"""The events of a model run's stream (``model_run-<modelRunId>``) and the payload each
carries: the one place their names and keys are written. Payloads stay plain JSON in the
log (SQL audits read them); these types say what is in them.

Every payload also carries ``attempt`` (1, then one more per retry of the run)."""

from __future__ import annotations

from typing import Any, Final, TypedDict

TRAINING_REQUESTED: Final = "TrainingRequested"
DATA_EXPORT_REQUESTED: Final = "DataExportRequested"
DATA_EXPORTED: Final = "DataExported"
STAGE_STARTED: Final = "StageStarted"
TRAINING_PROGRESSED: Final = "TrainingProgressed"
MODEL_EVALUATED: Final = "ModelEvaluated"
PREDICTIONS_PRODUCED: Final = "PredictionsProduced"
TRAINING_COMPLETED: Final = "TrainingCompleted"
TRAINING_FAILED: Final = "TrainingFailed"

EVENT_TYPES: Final = (
    TRAINING_REQUESTED, DATA_EXPORT_REQUESTED, DATA_EXPORTED, STAGE_STARTED,
    TRAINING_PROGRESSED, MODEL_EVALUATED, PREDICTIONS_PRODUCED, TRAINING_COMPLETED,
    TRAINING_FAILED,
)
STREAM_PREFIX: Final = "model_run-"


MAX_UI_MESSAGE: Final = 255


def ui_message(text: str) -> str:
    """A message fit for the Labelbox UI (``TrainingFailed.message``, the FAILED status's
    error message): one line, at most 255 characters."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_UI_MESSAGE else line[: MAX_UI_MESSAGE - 1] + "…"


def stream_of(model_run_id: str) -> str:
    return f"{STREAM_PREFIX}{model_run_id}"


def model_run_id_of(stream_id: str) -> str:
    return stream_id.removeprefix(STREAM_PREFIX)


def attempt_of(data: dict[str, Any] | Any) -> int:
    """The attempt a payload belongs to (1 when it predates retries)."""
    value = data.get("attempt", 1)
    return value if isinstance(value, int) else int(str(value))


class TrainingRequestedData(TypedDict, total=False):
    """Written by ingest for a verified ``POST /model_run``."""

    attempt: int
    modelType: str
    modelRunId: str
    modelId: str | None
    organizationId: str | None


class DataExportRequestedData(TypedDict):
    attempt: int
    modelRunId: str
    modelId: str | None
    modelType: str


class DataExportedData(TypedDict, total=False):
    """Written by the reporter: the export's rows in the artifact store."""

    attempt: int
    uri: str
    sha256: str
    bytes: int
    exportTaskId: str
    rows: int
    labels: int
    splits: dict[str, int]


class StageStartedData(TypedDict):
    attempt: int
    stage: str
    """``PREPARING_DATA``, ``TRAINING_MODEL``, ``EVALUATING`` or ``PREDICTING``."""
    metadata: dict[str, str]


class TrainingProgressedData(TypedDict, total=False):
    """A long stage's progress; the reporter mirrors only the latest to Labelbox."""

    attempt: int
    stage: str
    step: int
    total: int
    unit: str
    """What a step is: ``epoch``, ``round``, ..."""
    loss: float | None
    etaSeconds: float | None


class Scores(TypedDict, total=False):
    """``ModelEvaluated.metrics``: what Labelbox shows as the run's metadata."""

    scores: dict[str, float]
    """Run-level scores, e.g. ``{"map50": 0.81}``, ``{"micro_f1": 0.9}``, ``accuracy``."""
    perClass: dict[str, dict[str, float]]
    """Per ontology class, e.g. ``{"ap50": {"car": 0.9}}`` or ``{"f1": {"person": 0.8}}``."""
    evaluated_split: str
    evaluated_rows: int
    confusion: dict[str, dict[str, dict[str, int]]]
    """Radio answers only: ``confusion[feature][true][predicted]`` counts."""


class ModelEvaluatedData(TypedDict):
    attempt: int
    metrics: Scores
    metricsUri: str
    metricsSha256: str


class PredictionsProducedData(TypedDict):
    """The NDJSON predictions (``eventlog.contract.ndjson``) in the artifact store."""

    attempt: int
    uri: str
    sha256: str
    count: int
    """Data rows predicted."""
    lines: int


class TrainingCompletedData(TypedDict):
    attempt: int
    modelUri: str
    modelSha256: str
    metadata: dict[str, str]
    """Shown as the run's metadata (``model_weights``, the headline scores)."""
    config: dict[str, Any]
    """The hyper-parameters, sent with ``ModelRun.update_config``."""


class TrainingFailedData(TypedDict):
    attempt: int
    stage: str
    message: str
    """One line, at most 255 characters: what the Labelbox UI shows."""
    detail: str
    retryable: bool
