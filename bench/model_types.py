"""Quality and training time of every built-in model type, each against its trivial
baseline measured in the same run, on the sample exports the fake Labelbox serves
(generated data resembling what a Labelbox user exports: several classes, noise, varied
sizes and positions, unlabelled rows, an 80/10/10 split; scored on the held-out test split).

For each model type: the pipeline prepares, trains, predicts every row and is scored by its
own ``evaluate``; the baseline (``services.trainer.baselines``, learnt from the training
split only) is scored by the same ``evaluate``. Times are wall-clock seconds of one process
on this machine (``prepare`` includes decoding images and building features).

    .venv/bin/python bench/model_types.py [--rows 400] [--seed 0] [--types ner,bounding_box]
                                          [--markdown]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/eventlog.py is named like the package: keep this folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import importlib
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fake_labelbox.samples.catalog import MODEL_TYPES, sample_export
from services.trainer.export_rows import read_rows
from services.trainer.pipeline import Example, Pipeline
from services.trainer.registry import load_pipelines

LEARNERS = {
    "text_single_classification": "TF-IDF + logistic regression per question (scikit-learn)",
    "image_single_classification": "colour histograms + 16x16 grey pixels + logistic "
                                   "regression per question",
    "text_multi_classification": "TF-IDF + L1 logistic regression per option (one-vs-rest)",
    "image_multi_classification": "colour + edge-orientation histograms + L1 logistic "
                                  "regression per option",
    "bounding_box": "sliding windows over colour/gradient channels, logistic screen with "
                    "hard negatives, gradient boosting, box refinement, NMS",
    "ner": "linear-chain CRF over words, shapes, affixes and context (python-crfsuite)",
}
BASELINES = {
    "text_single_classification": ("radio", "most frequent answer per question"),
    "image_single_classification": ("radio", "most frequent answer per question"),
    "text_multi_classification": ("multilabel", "most frequent answers per question"),
    "image_multi_classification": ("multilabel", "most frequent answers per question"),
    "bounding_box": ("detection", "one centred box of the mean size per class"),
    "ner": ("entities", "capitalised words as the most frequent class"),
}


@dataclass(frozen=True)
class Measured:
    model_type: str
    rows: int
    headline: str
    score: float
    baseline: float
    prepare_seconds: float
    train_seconds: float
    predict_seconds: float
    evaluated_rows: int


def examples(model_type: str, pipeline: Pipeline, rows: int | None, seed: int
             ) -> list[Example]:
    """The sample export read by the trainer's own reader; URLs answered from its files."""
    sample = sample_export(model_type, "model-1", "run-1", base_url="http://files.bench",
                           count=rows, seed=seed)
    loaded = []
    for ref in read_rows(sample.rows, "model-1", "run-1"):
        content: str | bytes = ref.row_data
        if ref.is_url:
            body = sample.files[urlsplit(ref.row_data).path]
            content = body.decode() if pipeline.media == "text" else body
        loaded.append(Example(ref.data_row_id, content, ref.annotations, ref.labelled,
                              ref.split))
    return loaded


def measure(model_type: str, pipeline: Pipeline, rows: int | None, seed: int) -> Measured:
    data = examples(model_type, pipeline, rows, seed)
    started = time.perf_counter()
    dataset = pipeline.prepare(data)
    prepared = time.perf_counter()
    model = pipeline.train(dataset)
    trained = time.perf_counter()
    predictions = pipeline.predict(model, dataset)
    predicted = time.perf_counter()
    evaluation = pipeline.evaluate(model, dataset, predictions)
    module, _ = BASELINES[model_type]
    baseline = importlib.import_module(f"services.trainer.baselines.{module}").baseline
    trivial = pipeline.evaluate(model, dataset, baseline(dataset))
    return Measured(
        model_type=model_type, rows=len(data), headline=evaluation.headline,
        score=evaluation.scores[evaluation.headline],
        baseline=trivial.scores[evaluation.headline],
        prepare_seconds=prepared - started, train_seconds=trained - prepared,
        predict_seconds=predicted - trained, evaluated_rows=evaluation.examples,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None,
                        help="data rows per model type (default: each sample's own default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--types", default=",".join(MODEL_TYPES),
                        help="comma-separated model types (default: all six)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    pipelines = load_pipelines()
    results = []
    for model_type in args.types.split(","):
        result = measure(model_type, pipelines[model_type], args.rows, args.seed)
        results.append(result)
        print(f"{model_type:28} {result.headline:9} {result.score:.3f} vs baseline "
              f"{result.baseline:.3f} (x{result.score / max(result.baseline, 1e-3):.1f}) "
              f"on {result.evaluated_rows} test rows of {result.rows}; prepare "
              f"{result.prepare_seconds:.1f} s, train {result.train_seconds:.1f} s, predict "
              f"{result.predict_seconds:.1f} s", flush=True)
    if args.markdown:
        print("\n| model type | learns with | score (test split) | trivial baseline | "
              "data rows | prepare + train |")
        print("|---|---|---|---|---|---|")
        for r in results:
            print(f"| `{r.model_type}` | {LEARNERS[r.model_type]} | "
                  f"{r.headline} {r.score:.2f} | {r.baseline:.2f} "
                  f"({BASELINES[r.model_type][1]}) | {r.rows} | "
                  f"{r.prepare_seconds + r.train_seconds:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
