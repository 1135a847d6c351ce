"""Running the fake as a process: ``trainbridge fake-labelbox``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fake_labelbox.state import DEFAULT_MODEL_ID, FakeLabelboxState

logger = logging.getLogger(__name__)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    api_key: str | None = None,
    auto_create: bool = False,
    sample_model_runs: Sequence[str] = (),
    model_id: str = DEFAULT_MODEL_ID,
) -> None:
    """Serves until interrupted. ``sample_model_runs`` are registered with the sample rows."""
    import uvicorn

    from fake_labelbox.server import create_app

    state = FakeLabelboxState()
    for model_run_id in sample_model_runs:
        state.add_model_run(model_run_id, model_id=model_id)
    app = create_app(state, api_key=api_key, auto_create_model_runs=auto_create)
    logger.info(
        "fake Labelbox at http://%s:%d/graphql (control API under /_fake)%s%s",
        host, port, "; API key required" if api_key else "",
        f"; model runs {', '.join(sample_model_runs)}" if sample_model_runs else "",
    )
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=2)
