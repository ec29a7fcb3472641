"""Judging a trained model: the metrics (each defined once), their intervals, the evaluator."""


def clip_pool(multilabel: bool) -> str:
    """How a clip's windows make its probabilities: their mean (one label per clip), or their maximum
    (several labels: a sound anywhere in the clip is in the clip). The evaluator and `zoo predict` agree."""
    return "max" if multilabel else "mean"
