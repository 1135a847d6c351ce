"""Ingest: Labelbox's signed webhook (``GET /models``, ``POST /model_run``) becomes a durable
``TrainingRequested`` event. Built under issue #3."""
