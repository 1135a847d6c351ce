"""Scores of predictions against ground truth, one module per annotation kind."""
