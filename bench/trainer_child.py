"""Trainer benchmark (not a test): CPU per training job run as the trainer runs it, in a child
process forked from its forkserver (``ChildProcessExecutor``: the job's own process, deadline
and memory limit), against the same pipeline on the same examples run in this process (the
baseline: no process at all), in one run, alternating rounds. By default the trivial plug-in
pipeline of bench/e2e.py (installed in a temporary folder, as pip would), whose jobs are
nearly all process cost; ``--model-type text_single_classification`` measures a real one.

CPU is this process's tree from /proc: itself, the forkserver and the children it reaped.

    .venv/bin/python bench/trainer_child.py [--jobs 200] [--rounds 3] [--rows 20] \
        [--model-type bench_majority_class] [--started-as console-script]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/eventlog.py is named like the package: keep this folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parent))  # the repository, for bench.*

import argparse
import asyncio
import importlib.machinery
import os
import random
import shutil
import tempfile
import time

from bench import proc_usage
from eventlog.contract import Answer, Radio
from services.trainer.executor import (
    ChildProcessExecutor,
    StageReport,
    TrainingTask,
    preloads,
    run_pipeline,
)
from services.trainer.pipeline import Example
from services.trainer.registry import load_pipelines, pipeline_reference

WORDS = ["goal", "match", "stock", "bond", "rain", "storm", "the", "a", "today", "report"]


def examples(rows: int) -> list[Example]:
    """Short texts, each labelled with one of three answers to a radio question."""
    rng = random.Random(7)
    answers = ["sports", "finance", "weather"]
    return [Example(f"dr-{n}", " ".join(rng.choices(WORDS, k=8)),
                    (Radio("topic", Answer(answers[n % 3])),), True)
            for n in range(rows)]


def tree_cpu() -> float:
    """CPU seconds so far of this process, its forkserver and the children it reaped."""
    return proc_usage.tree_cpu(proc_usage.all_processes(), [os.getpid()])


def started_as(how: str) -> None:
    """Make this process's main module look like a trainer's, for multiprocessing: each child
    runs a main module given by its path again (as ``__mp_main__``), and nothing of a package's
    ``__main__``. So a child of the console script imports the CLI again (unless the forkserver
    has), and a child of ``python -m trainbridge`` nothing; neither runs this script."""
    main_module = sys.modules["__main__"]
    if how == "module":
        main_module.__spec__ = importlib.machinery.ModuleSpec("trainbridge.__main__", None)
        return
    script = shutil.which("trainbridge", path=str(Path(sys.executable).parent))
    if script is None:
        raise SystemExit("the `trainbridge` console script is not installed next to Python")
    main_module.__spec__ = None
    main_module.__file__ = script


async def ignore(_: StageReport) -> None:
    pass


async def in_children(executor: ChildProcessExecutor, tasks: list[TrainingTask]) -> float:
    started = tree_cpu()
    for task in tasks:
        await executor.run(task, ignore, deadline=60)
    return (tree_cpu() - started) / len(tasks)


def in_process(tasks: list[TrainingTask]) -> float:
    started = time.process_time()
    for task in tasks:
        run_pipeline(task, lambda _: None)
    return (time.process_time() - started) / len(tasks)


async def main() -> None:
    from bench.e2e import TRIVIAL_MODEL_TYPE, install_trivial_pipeline

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--model-type", default=TRIVIAL_MODEL_TYPE)
    parser.add_argument("--started-as", choices=("console-script", "module"),
                        default="console-script",
                        help="how the trainer whose children are measured was started: by its "
                             "`trainbridge` console script, as the image starts it, or as "
                             "`python -m trainbridge` (default: %(default)s)")
    args = parser.parse_args()
    started_as(args.started_as)

    with tempfile.TemporaryDirectory() as tmp:
        plugin = install_trivial_pipeline(Path(tmp) / "plugin")
        sys.path.insert(0, str(plugin))  # the forkserver starts with this process's path
        pipeline = load_pipelines()[args.model_type]
        executor = ChildProcessExecutor(preload=preloads())
        rows = examples(args.rows)

        def tasks(side: str, round_number: int) -> list[TrainingTask]:
            return [TrainingTask(args.model_type, f"run-{n}", rows,
                                 f"file://{tmp}/{side}-{round_number}-{n}",
                                 pipeline_reference(pipeline))
                    for n in range(args.jobs)]

        await in_children(executor, tasks("warm-up", 0)[:5])  # the forkserver started
        in_process(tasks("warm-up", 1)[:5])
        child_ms: list[float] = []
        process_ms: list[float] = []
        for round_number in range(args.rounds):
            process_ms.append(1000 * in_process(tasks("process", round_number)))
            child_ms.append(1000 * await in_children(executor, tasks("child", round_number)))
            print(f"round {round_number + 1}: CPU per job in this process "
                  f"{process_ms[-1]:.2f} ms, in a child process {child_ms[-1]:.2f} ms")
    low_process, low_child = min(process_ms), min(child_ms)
    print(f"\n{args.model_type}, {args.rows} rows, {args.jobs} jobs a round, lowest round:")
    print(f"  in this process (baseline): {low_process:.2f} ms of CPU per job")
    print(f"  in a child process:         {low_child:.2f} ms of CPU per job "
          f"({low_child / low_process:.1f}x; the process costs {low_child - low_process:.2f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
