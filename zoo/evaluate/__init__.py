"""Judging a trained model: the metrics (each defined once), their intervals, the evaluator."""
