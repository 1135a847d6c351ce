"""``trainbridge fake-labelbox`` starts a server the SDK can use."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import labelbox

from tests.ports import free_port

TRAINBRIDGE = Path(sys.executable).parent / "trainbridge"



def test_the_command_serves_a_sample_model_run_to_the_sdk() -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(TRAINBRIDGE), "fake-labelbox", "--port", str(port), "--api-key", "k",
         "--sample-model-run", "mr-demo"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_fake/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the fake did not start"
            time.sleep(0.1)
        client = labelbox.Client(api_key="k", endpoint=f"http://127.0.0.1:{port}/graphql",
                                 enable_experimental=True)

        run = client.get_model_run("mr-demo")
        run.update_status("TRAINING_MODEL")
        rows = [output.json for output in run.export().get_buffered_stream()]

        assert len(rows) == 60
        assert rows[0]["experiments"]["model-1"]["runs"]["mr-demo"]["split"] == "training"
    finally:
        process.terminate()
        # uvicorn stops gracefully, then re-raises the SIGTERM it caught
        assert process.wait(timeout=10) in (0, -signal.SIGTERM)
        if process.stderr:
            process.stderr.close()
