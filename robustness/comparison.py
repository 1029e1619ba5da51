"""Min-Net against its baseline over seeds: the difference of means with a Welch interval.

Shared by the corruption and adversarial evaluations (experiments/corruption_eval.py,
experiments/adversarial_eval.py).
"""
import math
import warnings

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def welch_difference(a, b, confidence: float = CONFIDENCE) -> dict:
    """mean(a) - mean(b) and its Welch t confidence interval (unequal variances).

    The interval is NaN with fewer than two values on a side; with no spread on either
    side it collapses to the difference."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    difference = a.mean() - b.mean() if len(a) and len(b) else math.nan
    out = dict(difference=difference, ci_low=math.nan, ci_high=math.nan, n_a=len(a), n_b=len(b))
    if len(a) < 2 or len(b) < 2:
        return out
    if a.var() == 0 and b.var() == 0:
        return dict(out, ci_low=difference, ci_high=difference)
    with warnings.catch_warnings():
        # scipy warns of precision loss when one side has no spread; the interval is right.
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    return dict(out, ci_low=float(interval.low), ci_high=float(interval.high))


def interval_text(row: dict, digits: int = 2) -> str:
    """'-1.23 [-2.00, -0.46]', or just the difference when there is no interval."""
    if math.isnan(row["difference"]):
        return "–"
    if math.isnan(row["ci_low"]):
        return f"{row['difference']:+.{digits}f} (no CI: fewer than 2 seeds)"
    return f"{row['difference']:+.{digits}f} [{row['ci_low']:+.{digits}f}, {row['ci_high']:+.{digits}f}]"
