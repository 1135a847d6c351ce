"""Fixtures of the trainer's tests on the real event log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.trainer.settings import TrainerSettings


@pytest.fixture
def settings(tmp_path: Path) -> TrainerSettings:
    return TrainerSettings(artifacts_url=f"file://{tmp_path}/artifacts", trainer_id="trainer-a",
                           lease_seconds=30, poll_interval=0.1)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
