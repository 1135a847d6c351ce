"""The reporter's plan: what Labelbox must show, worked out from a run's stream alone."""

from __future__ import annotations

from services.reporter.plan import plan_run
from tests.reporter.events import (
    completed,
    evaluated,
    export_requested,
    failed,
    new_event,
    predictions,
    progressed,
    recorded,
    requested,
    stage,
)

RUN = "run-1"
STREAM = f"model_run-{RUN}"


def keys(events: list) -> list[str]:
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None
    return [d.key for d in plan.deliveries]


def statuses(events: list) -> list[str | None]:
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None
    return [d.status for d in plan.deliveries if d.action in ("status", "complete")]


def full_run(attempt: int = 1) -> list:
    return [requested(RUN, attempt), export_requested(RUN, attempt),
            stage(RUN, "PREPARING_DATA", attempt, rows="60"),
            stage(RUN, "TRAINING_MODEL", attempt, C="1.0"),
            stage(RUN, "EVALUATING", attempt), evaluated(RUN, attempt),
            stage(RUN, "PREDICTING", attempt),
            predictions(RUN, "file:///p.ndjson", "ab", 60, attempt), completed(RUN, attempt)]


def test_a_stream_without_a_training_request_plans_nothing() -> None:
    assert plan_run(recorded(STREAM, [export_requested(RUN)])) is None


def test_a_full_run_plans_every_status_in_order_with_predictions_before_complete() -> None:
    assert keys(full_run()) == [
        "attempt-1/status/EXPORTING_DATA", "attempt-1/export",
        "attempt-1/stage/PREPARING_DATA", "attempt-1/stage/TRAINING_MODEL",
        "attempt-1/stage/EVALUATING", "attempt-1/metrics", "attempt-1/stage/PREDICTING",
        "attempt-1/predictions", "attempt-1/config", "attempt-1/status/COMPLETE",
    ]
    assert statuses(full_run()) == ["EXPORTING_DATA", "PREPARING_DATA", "TRAINING_MODEL",
                                    "TRAINING_MODEL", "TRAINING_MODEL", "TRAINING_MODEL",
                                    "COMPLETE"]


def test_metadata_values_are_strings() -> None:
    plan = plan_run(recorded(STREAM, full_run()))
    assert plan is not None
    for delivery in plan.deliveries:
        assert all(isinstance(v, str) for v in delivery.metadata.values()), delivery.key
    metrics = next(d for d in plan.deliveries if d.key.endswith("/metrics"))
    assert metrics.metadata["accuracy"] == "0.9375"
    assert metrics.metadata["f1 sentiment/negative"] == "0.8750"
    complete = plan.deliveries[-1]
    assert complete.metadata["accuracy"] == "0.9375"


def test_artifacts_are_handed_to_the_deliverer_to_link_never_put_in_the_metadata() -> None:
    events = full_run()
    events[-1] = completed(RUN, model_weights="file:///models/run-1.joblib")  # an older trainer
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None
    metrics = next(d for d in plan.deliveries if d.key.endswith("/metrics"))
    complete = plan.deliveries[-1]

    assert metrics.links == (("metrics", "file:///m.json"),)
    assert complete.links == (("model_weights", "file:///models/run-1.joblib"),)
    for delivery in plan.deliveries:
        assert not any("file://" in value for value in delivery.metadata.values()), delivery


def test_a_status_never_goes_backwards() -> None:
    events = [requested(RUN), export_requested(RUN), stage(RUN, "TRAINING_MODEL"),
              stage(RUN, "PREPARING_DATA")]
    assert statuses(events) == ["EXPORTING_DATA", "TRAINING_MODEL", "TRAINING_MODEL"]


def test_nothing_follows_the_terminal_status_of_an_attempt() -> None:
    late_stage = new_event("StageStarted", {"stage": "TRAINING_MODEL", "metadata": {}},
                           run=RUN, step="late")
    events = [*full_run(), late_stage]
    assert keys(events)[-1] == "attempt-1/status/COMPLETE"


def test_a_failure_is_the_terminal_status_with_its_message() -> None:
    events = [requested(RUN), export_requested(RUN), stage(RUN, "PREPARING_DATA"),
              failed(RUN, "Deadline of 2.0s exceeded while training")]
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None
    last = plan.deliveries[-1]
    assert (last.status, last.error_message) == ("FAILED",
                                                 "Deadline of 2.0s exceeded while training")
    assert last.metadata == {"failed_stage": "TRAINING_MODEL"}


def test_a_failed_predictions_import_turns_complete_into_failed() -> None:
    events = [*full_run(), failed(RUN, "Labelbox failed the predictions import",
                                  stage_name="UPLOADING_PREDICTIONS")]
    assert statuses(events)[-1] == "FAILED"
    assert "attempt-1/status/COMPLETE" not in keys(events)


def test_an_attempt_that_already_failed_is_not_exported() -> None:
    events = [requested(RUN), export_requested(RUN), failed(RUN, "no pipeline")]
    assert keys(events) == ["attempt-1/status/EXPORTING_DATA", "attempt-1/status/FAILED"]


def test_ui_messages_are_one_line_of_at_most_255_characters() -> None:
    events = [requested(RUN), export_requested(RUN), failed(RUN, "boom\n" * 200)]
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None
    message = plan.deliveries[-1].error_message
    assert message is not None and len(message) <= 255 and "\n" not in message


def test_only_the_latest_attempt_is_delivered() -> None:
    events = [requested(RUN), export_requested(RUN), failed(RUN, "first try failed"),
              requested(RUN, 2), export_requested(RUN, 2)]
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None
    assert plan.attempt == 2
    assert [d.key for d in plan.deliveries] == ["attempt-2/status/EXPORTING_DATA",
                                                "attempt-2/export"]


def test_the_plan_names_the_model_run_and_carries_the_correlation_id() -> None:
    plan = plan_run(recorded(STREAM, full_run()))
    assert plan is not None
    assert (plan.model_run_id, plan.model_id, plan.correlation_id) == (
        RUN, "model-1", f"corr-{RUN}")


def test_a_request_is_acknowledged_before_the_trainer_asks_for_the_export() -> None:
    plan = plan_run(recorded(STREAM, [requested(RUN)]))
    assert plan is not None
    (acknowledgement,) = plan.deliveries
    assert (acknowledgement.key, acknowledgement.status) == (
        "attempt-1/status/EXPORTING_DATA", "EXPORTING_DATA")
    assert acknowledgement.acknowledges
    assert acknowledgement.cause.event_type == "TrainingRequested"


def test_only_the_first_status_of_an_attempt_acknowledges() -> None:
    plan = plan_run(recorded(STREAM, [*full_run(), requested(RUN, 2)]))
    assert plan is not None
    assert [d.key for d in plan.deliveries if d.acknowledges] == [
        "attempt-2/status/EXPORTING_DATA"]
    plan = plan_run(recorded(STREAM, full_run()))
    assert plan is not None
    assert [d.key for d in plan.deliveries if d.acknowledges] == [
        "attempt-1/status/EXPORTING_DATA"]


def test_hyperparameters_go_to_the_run_config_before_complete() -> None:
    plan = plan_run(recorded(STREAM, full_run()))
    assert plan is not None
    config, complete = plan.deliveries[-2:]
    assert (config.action, config.cause.data["config"]) == (
        "config", {"model_type": "text_single_classification", "C": 1.0})
    assert "C" not in complete.metadata


def test_only_the_latest_progress_is_mirrored_under_the_current_status() -> None:
    events = [requested(RUN), export_requested(RUN), stage(RUN, "PREPARING_DATA"),
              stage(RUN, "TRAINING_MODEL"), progressed(RUN, 1), progressed(RUN, 2),
              progressed(RUN, 3)]
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None

    progress = [d for d in plan.deliveries if "/progress/" in d.key]
    assert [d.key for d in progress] == ["attempt-1/progress/7"]
    assert progress[0].status == "TRAINING_MODEL"
    assert progress[0].metadata == {"progress": "epoch 3 of 10", "loss": "0.3333",
                                    "eta_seconds": "14"}


def test_progress_made_stale_by_a_later_stage_is_not_mirrored() -> None:
    events = [requested(RUN), export_requested(RUN), stage(RUN, "TRAINING_MODEL"),
              progressed(RUN, 9), stage(RUN, "PREDICTING")]
    assert not [k for k in keys(events) if "/progress/" in k]


def test_progress_never_moves_a_status_backwards_and_complete_closes_it() -> None:
    events = [requested(RUN), export_requested(RUN), stage(RUN, "PREPARING_DATA"),
              stage(RUN, "TRAINING_MODEL"), progressed(RUN, 10, total=10)]
    assert statuses(events)[-1] == "TRAINING_MODEL"
    finished = [*events, *full_run()[4:]]
    plan = plan_run(recorded(STREAM, finished))
    assert plan is not None
    complete = plan.deliveries[-1]
    assert (complete.metadata["progress"], complete.metadata["eta_seconds"]) == ("done", "0")


def test_a_failed_run_says_its_progress_stopped() -> None:
    events = [requested(RUN), export_requested(RUN), stage(RUN, "TRAINING_MODEL"),
              progressed(RUN, 4), failed(RUN, "Deadline of 2.0s exceeded while training")]
    plan = plan_run(recorded(STREAM, events))
    assert plan is not None
    assert plan.deliveries[-1].metadata == {"failed_stage": "TRAINING_MODEL",
                                            "progress": "stopped", "eta_seconds": ""}
