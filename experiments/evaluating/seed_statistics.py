"""Statistics over seeds: our summaries, the authors' exp_10_1 numbers, Welch intervals.

Two conventions live side by side, each under its own name:

- Ours (results.csv, grouped_results.csv, results.md): the spread over seeds is the
  sample standard deviation (ddof=1, pandas' default, the one a Welch interval needs);
  a run's `min_val_er` is its own minimum over epochs, and `Median of run minima` is
  the median of those.
- The authors' (exp_10_1's results.txt, docs/reference.md §6): the `val_er` curves of
  the runs stacked as runs x epochs; `Std last` is numpy's std with ddof=0 over the
  last epoch; `Median min` the minimum over epochs of the per-epoch median curve.

The paper's exp_10 and exp_11_1 tables cannot tell ddof 0 from 1 (grid-valued test
errors with the printed mean and std exist for either, tests/test_evaluation.py), and
their grouped tables used pandas' std, so ddof=1 stays ours there.
"""
import math

import numpy as np
import pandas as pd
from scipy import special

STD_DDOF = 1
METRICS = ("min_val_er", "last_val_er")
CONFIDENCE = 0.95
# The authors' plot picks its "min" and "max" runs by the mean test error over this many
# last epochs (docs/reference.md §6).
EXTREME_RUN_EPOCHS = 10


def std(values) -> float:
    """Spread over seeds, ours (ddof=1)."""
    return pd.Series(values, dtype=float).std(ddof=STD_DDOF)


def round_half_even(value, decimals: int):
    """numpy's rounding (scale by 10^decimals, round half to even), as pandas'
    DataFrame.round and so the authors' tables: exactly 20.05 becomes 20.0, where
    '%.1f' prints 20.1."""
    return np.round(value, decimals)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per model and size: runs, num_params and mean, std, min, max, median of METRICS."""
    groups = table.groupby(["model_type", "size"], sort=False)
    summary = groups[list(METRICS)].agg(["mean", std, "min", "max", "median"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    out = groups.agg(model=("model", "first"), runs=("seed", "size"),
                     num_params=("num_params", "median"))
    return out.join(summary).reset_index()


# --------------------------------------------------------------------------- exp_10_1

def stacked_curves(curves) -> np.ndarray:
    """The runs' curves as runs x epochs, cut to the shortest (finished runs of one grid
    have the same length)."""
    length = min(len(c) for c in curves)
    return np.array([c[:length] for c in curves], dtype=float)


def authors_variance_summary(val_er: np.ndarray) -> dict:
    """exp_10_1's results.txt as the authors computed it, from val_er (runs x epochs),
    keyed by their labels in their order. With one run there is no spread: Std last is
    NaN (numpy's 0.0 would read as a measured spread)."""
    last = val_er[:, -1]
    return {"Median last": float(np.median(last)), "Mean last": float(np.mean(last)),
            "Std last": float(np.std(last)) if len(last) > 1 else math.nan,
            "Min last": float(np.min(last)), "Max last": float(np.max(last)),
            "Median min": float(np.min(np.median(val_er, axis=0)))}


def our_variance_summary(table: pd.DataFrame) -> dict:
    """The same runs summarized our way (results.md): sample std, median of run minima."""
    last = table.last_val_er
    return {"Std of last (ddof=1)": std(last),
            "Median of run minima": table.min_val_er.median(),
            "Mean of run minima": table.min_val_er.mean()}


def extreme_runs(val_er: np.ndarray) -> tuple:
    """(index of the lowest, of the highest run) by the mean test error over the last
    EXTREME_RUN_EPOCHS epochs: the authors' rule for their plot's min and max curves."""
    tail = val_er[:, -EXTREME_RUN_EPOCHS:].mean(axis=1)
    return int(np.argmin(tail)), int(np.argmax(tail))


# --------------------------------------------------------------------------- Min-Net vs base

def welch_interval(a, b, confidence: float = CONFIDENCE) -> dict:
    """mean(a) − mean(b) with Welch's t confidence interval (unequal variances).

    Needs at least two values on each side; otherwise the interval is NaN. When both
    samples have no spread the interval collapses to the difference itself.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    difference = a.mean() - b.mean() if len(a) and len(b) else math.nan
    out = dict(difference=difference, ci_low=math.nan, ci_high=math.nan, df=math.nan,
               n_a=len(a), n_b=len(b))
    if len(a) < 2 or len(b) < 2:
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return dict(out, ci_low=difference, ci_high=difference, df=math.inf)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    # Student's t quantile: scipy.special.stdtrit is what scipy.stats.t.ppf computes, at a
    # third of scipy.stats' import time (every evaluation pays it).
    half = float(special.stdtrit(dof, 0.5 + confidence / 2.0)) * se
    return dict(out, ci_low=difference - half, ci_high=difference + half, df=dof)


def min_net_and_baseline(experiment):
    """(Min-Net model, its baseline) when the experiment compares exactly those two."""
    minimal = [m for m in experiment.models if "Min" in m]
    others = [m for m in experiment.models if "Min" not in m]
    if len(minimal) == 1 and len(others) == 1:
        return minimal[0], others[0]
    return None


def min_net_differences(table: pd.DataFrame, experiment) -> pd.DataFrame:
    """Per size: last test error of the Min-Net minus its baseline's, with a Welch CI."""
    pair = min_net_and_baseline(experiment)
    if pair is None or table.empty:
        return pd.DataFrame()
    rows = []
    for size in experiment.sizes:
        last = [table.loc[(table.model_type == m) & (table["size"] == size), "last_val_er"]
                for m in pair]
        if len(last[0]) and len(last[1]):
            rows.append(dict(size=size, **welch_interval(*last)))
    return pd.DataFrame(rows)
