"""Starts the fake Labelbox app with uvicorn on a free 127.0.0.1 port, in a thread."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn

from fake_labelbox.control import FakeLabelboxControl
from fake_labelbox.server import create_app
from fake_labelbox.state import FakeLabelboxState

if TYPE_CHECKING:
    import labelbox


@dataclass(frozen=True)
class FakeLabelbox:
    base_url: str
    """``http://127.0.0.1:PORT``"""
    endpoint: str
    """``http://127.0.0.1:PORT/graphql``: pass it to ``labelbox.Client(endpoint=...)``."""
    api_key: str | None
    control: FakeLabelboxControl
    state: FakeLabelboxState
    """The server's own state object, for direct inspection."""

    def client(self, *, enable_experimental: bool = True) -> labelbox.Client:
        """A real SDK client pointed at the fake."""
        import labelbox

        return labelbox.Client(api_key=self.api_key or "any-key", endpoint=self.endpoint,
                               enable_experimental=enable_experimental)


def without_sdk_retries(client: labelbox.Client) -> labelbox.Client:
    """Makes ``client`` skip the SDK's own google-api-core retry of 5xx answers and timeouts
    (which otherwise retries for up to 120 s), so a fault surfaces at once."""
    from lbox.request_client import RequestClient

    request_client = client._request_client
    unretried = RequestClient.execute.__wrapped__  # type: ignore[attr-defined]
    request_client.execute = functools.partial(unretried, request_client)
    return client


@contextmanager
def running_fake_labelbox(
    *, api_key: str | None = "test-key", auto_create: bool = False, seed: int = 0
) -> Iterator[FakeLabelbox]:
    state = FakeLabelboxState(seed=seed)
    app = create_app(state, api_key=api_key, auto_create_model_runs=auto_create)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
    # (without it every answer waits ~40 ms for a delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="on",
        timeout_graceful_shutdown=2,
    ))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"fake-labelbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake Labelbox server did not start")
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}"
    control = FakeLabelboxControl(base_url)
    try:
        yield FakeLabelbox(base_url, f"{base_url}/graphql", api_key, control, state)
    finally:
        control.close()
        state.close()  # ends hanging requests
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
