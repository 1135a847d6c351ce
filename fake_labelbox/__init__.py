"""A stateful fake of Labelbox's GraphQL API, for tests and demos.

The real ``labelbox`` SDK is pointed at it (``labelbox.Client(endpoint=...)``): it answers the
operations Trainbridge's reporter sends (model runs, pipeline status, prediction imports,
model run exports), records every request, and injects faults on demand. It never imports
the SDK itself.

- :mod:`fake_labelbox.state` — the in-memory state (pure, thread-safe)
- :mod:`fake_labelbox.server` — the Litestar app (``create_app``)
- :mod:`fake_labelbox.control` — a client for its ``/_fake`` control API
- :mod:`fake_labelbox.sample_rows` — export rows a text pipeline can learn
"""
