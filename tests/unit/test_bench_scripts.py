"""Every benchmark script still imports and parses its arguments: a module it imports that moved
breaks the benchmark long before anyone runs it (bench/reporter.py once stayed broken that way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if "argparse" in p.read_text())


def test_there_are_benchmark_scripts() -> None:
    assert {p.name for p in SCRIPTS} >= {"e2e.py", "eventlog.py", "reporter.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_benchmark_script_imports_and_answers_help(script: Path) -> None:
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                            text=True, timeout=120, cwd=BENCH.parent)

    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
