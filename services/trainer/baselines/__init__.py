"""Trivial baselines each model type is measured against (tests and ``bench/``): what a
learner must clearly beat. Each module exposes ``baseline(dataset) -> list[Prediction]``,
learnt from the training split only, and scored by the pipeline's own ``evaluate``."""
