"""Model run exports (``ModelRun.export`` and its buffered stream) through the real SDK."""

from __future__ import annotations

import pytest
from labelbox.schema.export_task import ExportTask

from fake_labelbox.sample_rows import text_classification_rows
from tests.fake_labelbox import FakeLabelbox

EXPORT_SEQUENCE = [
    "exportDataRowsInModelRunPyApi",
    "GetUserPyApi",
    "GetUserCreatedTasksPyApi",
    "GetExportMetadataHeaderPyApi",
    "GetExportFileFromOffsetPyApi",
    "DownloadExportFile",
]


def test_an_export_streams_exactly_the_served_rows(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1", model_id="model-1")
    run = fake_labelbox.client().get_model_run("mr-1")

    task = run.export()
    task.wait_till_done()
    rows = [output.json for output in task.get_buffered_stream()]

    assert rows == text_classification_rows("model-1", "mr-1")
    assert fake_labelbox.control.operations()[1:] == EXPORT_SEQUENCE
    download = fake_labelbox.control.requests("DownloadExportFile")[0]
    assert (download["model_run_id"], download["status"]) == ("mr-1", 200)


def test_an_export_in_several_files_streams_the_same_rows(fake_labelbox: FakeLabelbox) -> None:
    rows = [{"data_row": {"id": f"dr-{i}", "row_data": f"héllo {i}"}} for i in range(10)]
    fake_labelbox.control.add_model_run("mr-1", data_rows=rows)
    fake_labelbox.control.set_export_behaviour("mr-1", lines_per_file=3)

    task = fake_labelbox.client().get_model_run("mr-1").export()
    streamed = [output.json for output in task.get_buffered_stream()]

    assert streamed == rows
    assert len(fake_labelbox.control.requests("DownloadExportFile")) == 4


def test_an_export_is_in_progress_until_its_nth_status_read(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.set_export_behaviour(polls_until_done=2)

    task = fake_labelbox.client().get_model_run("mr-1").export()
    assert task.status == "IN_PROGRESS"
    task.wait_till_done()  # the SDK sleeps its minimum of 2 s before reading again

    assert task.status == "COMPLETE"
    assert len(list(task.get_buffered_stream())) == 60
    assert len(fake_labelbox.control.requests("GetUserCreatedTasksPyApi")) == 2


def test_a_failed_export_refuses_to_stream(fake_labelbox: FakeLabelbox) -> None:
    fake_labelbox.control.add_model_run("mr-1")
    fake_labelbox.control.set_export_behaviour("mr-1", polls_until_done=0, fail=True)

    task = fake_labelbox.client().get_model_run("mr-1").export()
    task.wait_till_done()

    assert task.status == "FAILED"
    with pytest.raises(ExportTask.ExportTaskException, match="Task failed"):
        task.get_buffered_stream()
    assert fake_labelbox.control.exports("mr-1")[0]["status"] == "FAILED"


def test_an_export_of_a_model_run_without_rows_has_no_result_stream(
    fake_labelbox: FakeLabelbox,
) -> None:
    fake_labelbox.control.add_model_run("mr-1", data_rows=[])

    task = fake_labelbox.client().get_model_run("mr-1").export()

    assert task.status == "COMPLETE"
    with pytest.raises(ValueError, match="does not have a RESULT stream"):
        task.get_buffered_stream()
