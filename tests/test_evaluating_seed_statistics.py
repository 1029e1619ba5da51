"""experiments/evaluating/seed_statistics.py: the statistics over seeds (the declared ddof,
Welch's interval) and the paper's printed numbers they must allow.
"""
import math

import numpy as np
import pandas as pd
import pytest

from experiments.evaluating import seed_statistics as stats
from paper_runs import (PAPER_EXP_10, PAPER_EXP_10_1, PAPER_EXP_11_1, values_with_mean_std,
                        values_with_stats)


def grid_valued_solution(n, printed, ddof, fixed=(), bounds=None, seed=0, trials=20000):
    """Search test errors on the grid of a 10,000-image test set (multiples of 0.01)
    whose mean, std (with `ddof`) and any other printed statistic print as the paper's.

    `printed` maps a statistic to (value, decimals). `fixed` are values that must be in
    the set; the free ones stay within `bounds`. Returns one solution or None.
    """
    rng = np.random.default_rng(seed)
    mean, std = printed["mean"][0], printed["std"][0]
    free = n - len(fixed)
    if bounds is None:
        start = np.asarray(values_with_mean_std(mean, std, free, ddof))
    else:  # the continuous solution without its fixed min, max and middle values
        start = np.asarray(values_with_stats(n, *bounds, mean, std, ddof))
        start = np.delete(start, [0, n // 2 - 1, n // 2, n - 1])
    cents = np.round(start * 100) + rng.integers(-4, 5, size=(trials, free))
    target = round(mean * n * 100)
    cents[:, -1] += target - sum(round(v * 100) for v in fixed) - cents.sum(axis=1)
    values = np.concatenate([np.tile(np.round(np.asarray(fixed) * 100), (trials, 1)), cents],
                            axis=1) / 100
    stats = {"mean": values.mean(1), "std": values.std(1, ddof=ddof),
             "median": np.median(values, 1), "min": values.min(1), "max": values.max(1)}
    ok = np.ones(trials, bool)
    for name, (value, decimals) in printed.items():
        ok &= np.array([f"{v:.{decimals}f}" == f"{value:.{decimals}f}" for v in stats[name]])
    return values[np.argmax(ok)] if ok.any() else None


@pytest.mark.parametrize("ddof", [0, 1])
def test_the_papers_numbers_allow_either_ddof(ddof):
    """Why STD_DDOF is a choice: for every mean ± std of docs/reference.md §6, test errors that a
    10,000-image test set can produce exist with that printed mean and std under ddof 0
    and under ddof 1, so the published numbers cannot tell which the authors used."""
    cases = [(5, {"mean": (m, 3), "std": (s, 3)}) for pair in PAPER_EXP_10.values()
             for m, s in pair]
    cases += [(3, {"mean": (m, 2), "std": (s, 2)}) for pair in PAPER_EXP_11_1.values()
              for m, s in pair]
    for n, printed in cases:
        assert grid_valued_solution(n, printed, ddof) is not None, (n, printed, ddof)
    p = PAPER_EXP_10_1
    printed = {"mean": (p["mean"], 3), "std": (p["std"], 3), "median": (p["median"], 2),
               "min": (p["min"], 2), "max": (p["max"], 2)}
    solution = grid_valued_solution(12, printed, ddof, fixed=(p["min"], p["max"], 7.10, 7.10),
                                    bounds=(p["min"], p["max"], p["median"]))
    assert solution is not None


def test_std_over_seeds_uses_the_declared_ddof():
    table = pd.DataFrame(dict(model_type="M", model="M", size=3, seed=[1, 2, 3],
                              num_params=1.0, min_val_er=[1.0, 2.0, 3.0],
                              last_val_er=[1.0, 2.0, 6.0]))
    row = stats.summarize(table).iloc[0]
    assert row.min_val_er_std == pytest.approx(np.std([1, 2, 3], ddof=stats.STD_DDOF))
    assert (row.last_val_er_mean, row.last_val_er_median, row.last_val_er_min,
            row.last_val_er_max, row.runs) == (3.0, 2.0, 1.0, 6.0, 3)


@pytest.mark.parametrize("n, expected", [
    (2, 4.302653), (3, 2.776445), (5, 2.306004), (6, 2.228139), (16, 2.042272)])
def test_welch_interval_uses_the_t_quantile_of_tables(n, expected):
    """Two samples of n values with equal variances: Welch's df is 2n − 2, and the 95 %
    interval's half width is the tabulated t quantile (df = 2, 4, 8, 10, 30) times the
    standard error."""
    a = np.arange(n, dtype=float)
    w = stats.welch_interval(a, a + 1.0)
    se = math.sqrt(2 * np.var(a, ddof=1) / n)
    assert w["df"] == pytest.approx(2 * n - 2)
    assert (w["ci_high"] - w["difference"]) / se == pytest.approx(expected, abs=2e-6)


def test_welch_interval():
    # Equal sizes and variances: Welch's df is 2n − 2 and the interval the pooled one.
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 5.0, 6.0, 7.0]
    w = stats.welch_interval(a, b)
    half = 2.306004 * math.sqrt(2 * 2.5 / 5)
    assert w["difference"] == -2.0 and w["df"] == pytest.approx(8.0)
    assert (w["ci_low"], w["ci_high"]) == pytest.approx((-2.0 - half, -2.0 + half), abs=1e-5)
    # Unequal variances: df from the Welch–Satterthwaite formula.
    w = stats.welch_interval([6.0, 6.2, 6.1], [7.0, 8.0, 6.0, 9.0])
    va, vb = np.var([6.0, 6.2, 6.1], ddof=1) / 3, np.var([7.0, 8.0, 6.0, 9.0], ddof=1) / 4
    assert w["df"] == pytest.approx((va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3))
    assert math.isnan(stats.welch_interval([1.0], [2.0, 3.0])["ci_low"])
    assert stats.welch_interval([1.0, 1.0], [2.0, 2.0])["ci_high"] == -1.0
