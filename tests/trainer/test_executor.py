"""Pipelines run in a child process: stages are reported as they start, artifacts land in
the store with their sha256, and a crash, an error or the deadline ends the run cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog.artifacts import read_artifact
from services.trainer.executor import (
    ChildProcessExecutor,
    ProgressReport,
    StageReport,
    TrainingFailure,
    TrainingTask,
)
from services.trainer.registry import load_pipelines, pipeline_reference
from tests.trainer.datasets import label_of, text_examples


def task(tmp_path: Path, model_type: str = "text_single_classification", **kw: object
         ) -> TrainingTask:
    return TrainingTask(
        model_type=model_type, model_run_id="run-1",
        examples=kw.pop("examples", text_examples(150, unlabelled=5)),  # type: ignore[arg-type]
        artifacts_prefix=f"file://{tmp_path}/model_run-run-1/attempt-1",
        pipeline=pipeline_reference(load_pipelines()[model_type]),
    )


async def test_a_run_reports_its_stages_and_stores_its_artifacts(tmp_path: Path) -> None:
    stages: list[StageReport] = []
    progress: list[ProgressReport] = []

    async def on_stage(report: StageReport) -> None:
        stages.append(report)

    async def on_progress(report: ProgressReport) -> None:
        progress.append(report)

    result = await ChildProcessExecutor().run(task(tmp_path), on_stage, deadline=120,
                                              on_progress=on_progress)

    assert [s.stage for s in stages] == [
        "PREPARING_DATA", "TRAINING_MODEL", "PREDICTING", "EVALUATING"
    ]
    assert stages[1].metadata["unlabelled_rows"] == "5"
    assert all(isinstance(v, str) for s in stages for v in s.metadata.values())
    assert [(p.stage, p.progress.step, p.progress.total, p.progress.unit) for p in progress] == [
        ("TRAINING_MODEL", 1, 1, "question")]
    assert progress[0].eta_seconds == 0
    assert result.evaluation.scores["accuracy"] >= 0.9
    assert result.hyperparameters["classifier"] == "logistic_regression"
    assert result.prediction_count == 155
    lines = read_artifact(result.predictions.uri, result.predictions.sha256).splitlines()
    assert len(lines) == result.prediction_lines == 2 * 155  # an answer and a metric per row
    stored = json.loads(read_artifact(result.metrics.uri))
    assert stored["scores"] == result.evaluation.scores
    assert result.model.uri.endswith("attempt-1/model.pkl") and result.model.size > 0


async def test_a_pipeline_error_fails_the_run_with_its_stage(tmp_path: Path) -> None:
    async def ignore(_: StageReport) -> None:
        pass

    one_class = [e for e in text_examples(30) if label_of(e) == "sports"]
    with pytest.raises(TrainingFailure) as failed:
        await ChildProcessExecutor().run(task(tmp_path, examples=one_class), ignore, deadline=60)

    assert failed.value.stage == "TRAINING_MODEL"
    assert failed.value.message.startswith("radio answers: need at least 2 different answers")
    assert "Traceback" in failed.value.detail


async def test_the_deadline_ends_a_run_that_takes_too_long(tmp_path: Path) -> None:
    async def ignore(_: StageReport) -> None:
        pass

    many = text_examples(60_000)
    with pytest.raises(TrainingFailure) as failed:
        await ChildProcessExecutor().run(task(tmp_path, examples=many), ignore, deadline=0.1)

    assert failed.value.message.startswith("Deadline of 0.1s exceeded while")
    assert len(failed.value.message) <= 255


@pytest.fixture
def crashing_pipeline(tmp_path: Path) -> Iterator[None]:
    """A third-party pipeline whose training kills its own process, as an OOM kill would."""
    (tmp_path / "crashing_pipeline.py").write_text(textwrap.dedent('''
        import os
        from services.trainer.pipelines.text_classification import TextClassification

        class Crashing(TextClassification):
            model_type = "crashing"

            def train(self, dataset, progress=None):
                os._exit(137)

        class Greedy(TextClassification):
            model_type = "greedy"

            def train(self, dataset, progress=None):
                hog = bytearray(8 * 1024 ** 3)
                return hog
    '''))
    dist_info = tmp_path / "crashing_pipeline-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: crashing\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[trainbridge.pipelines]\ncrashing = crashing_pipeline:Crashing\n"
        "greedy = crashing_pipeline:Greedy\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield
    sys.path.remove(str(tmp_path))


async def test_a_crashing_pipeline_cannot_take_the_trainer_down(
    tmp_path: Path, crashing_pipeline: None
) -> None:
    async def ignore(_: StageReport) -> None:
        pass

    with pytest.raises(TrainingFailure) as failed:
        await ChildProcessExecutor().run(task(tmp_path, "crashing"), ignore, deadline=60)

    assert failed.value.stage == "TRAINING_MODEL"
    assert failed.value.message == "the training process died while training (exit code 137)"


async def test_a_memory_blow_up_fails_the_run_inside_its_limit(
    tmp_path: Path, crashing_pipeline: None
) -> None:
    async def ignore(_: StageReport) -> None:
        pass

    limited = ChildProcessExecutor(memory_limit=3 * 1024**3)
    with pytest.raises(TrainingFailure) as failed:
        await limited.run(task(tmp_path, "greedy"), ignore, deadline=60)

    assert failed.value.stage == "TRAINING_MODEL"
    assert failed.value.message.startswith("MemoryError")


def test_the_trainer_process_itself_never_imports_the_pipelines_libraries() -> None:
    """They are imported by the forkserver its training children are forked from, so the
    trainer's own memory stays small."""
    code = textwrap.dedent("""
        import sys
        from services.trainer.entrypoint import serve
        from services.trainer.executor import ChildProcessExecutor
        from services.trainer.registry import installed, load_pipelines

        installed(load_pipelines())
        ChildProcessExecutor()
        heavy = ("sklearn", "numpy", "scipy", "PIL", "pycrfsuite")
        print(sorted(name for name in heavy if name in sys.modules))
    """)
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout
    assert imported.strip() == "[]"
