"""Trainer: consumes ``TrainingRequested``/``DataExported`` and runs the training pipeline,
appending stage events. Built under issue #4."""
