"""experiments/evaluation.py and the exe_eval scripts, on run folders in the authors' format.

The generator below writes run folders exactly as the authors published them (docs/reference.md §4:
opt.json with `"fixed_steps": ["100", "150"]` and a model_kw string; log.json whose
`epoch`, `sec`, `lr` hold two entries per epoch) with last test errors chosen to have the
mean and std of the paper's tables (docs/reference.md §6), and checks that the evaluation prints them.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from errors import UserError
from experiments.evaluating import test_error as ev
from experiments.evaluating import run_table as rt
from experiments.evaluating import seed_statistics as stats
from experiments.grid import EXP_10, EXP_10_1, EXP_11_1

REPO_ROOT = Path(__file__).resolve().parents[1]

# docs/reference.md §6: last test error, mean and std over seeds.
PAPER_EXP_10 = {  # N: (Min-Net CifarMinFP-LS, ResNet CifarPyrResNet)
    3: ((8.048, 0.216), (8.324, 0.384)), 5: ((6.860, 0.228), (7.198, 0.056)),
    7: ((6.188, 0.097), (6.780, 0.145)), 9: ((5.988, 0.110), (6.268, 0.127))}
PAPER_EXP_11_1 = {  # L: (DenseNet, DenseMin)
    22: ((9.76, 0.19), (9.22, 0.17)), 58: ((5.90, 0.30), (5.67, 0.07)),
    100: ((4.79, 0.06), (4.55, 0.14))}
PAPER_EXP_10_1 = dict(median=7.10, mean=7.267, std=0.502, min=6.70, max=8.26)


# --------------------------------------------------------------------------- generators

def values_with_mean_std(mean, std, n, ddof=stats.STD_DDOF):
    """n values with exactly this mean and standard deviation (to float precision)."""
    z = np.arange(n, dtype=float) ** 1.5          # uneven, so min/max/median are not trivial
    z = (z - z.mean()) / z.std(ddof=ddof)
    return list(mean + std * z)


def values_with_stats(n, minimum, maximum, median, mean, std, ddof=stats.STD_DDOF):
    """n (even) values with exactly this min, max, median, mean and std: the two middle
    values at the median, the others in two equal groups below and above it."""
    rest = (n - 4) // 2
    fixed = [minimum, maximum, median, median]
    total = n * mean - sum(fixed)                   # what the two groups add up to
    ssd = std ** 2 * (n - ddof) - sum((v - mean) ** 2 for v in fixed)
    # a, b with rest·(a + b) = total and rest·((a − mean)² + (b − mean)²) = ssd
    s = total / rest - 2 * mean                     # (a − mean) + (b − mean)
    q = ssd / rest                                  # (a − mean)² + (b − mean)²
    root = math.sqrt(2 * q - s * s)
    a, b = mean + (s - root) / 2, mean + (s + root) / 2
    assert minimum <= a <= median <= b <= maximum
    return [minimum] + [a] * rest + [median, median] + [b] * rest + [maximum]


def authors_opt(experiment, model_type, size, seed, folder):
    recipe = experiment.recipe
    return {"lr": 0.1, "wd": 0.0001, "mom": 0.9, "bs": recipe["bs"], "opt": "SGD",
            "opt_kw": recipe["opt_kw"], "seed": seed, "folder": str(folder), "in_dim": 3,
            "out_dim": 10, "model_type": model_type, "model_kw": experiment.model_kw(size),
            "epochs": recipe["epochs"], "fixed_steps": [str(s) for s in recipe["fixed_steps"]],
            "dataset": "cifar_10", "comment": "", "torch_version": "1.8.0+cu111",
            "start_time": "2021-05-03 10:12:00"}


def authors_log(epochs, last_val_er, min_val_er):
    """A log.json in the authors' schema shaped like a real run (plateaus ending at the
    learning-rate drops at 1/2 and 3/4 of the epochs) whose test error ends at
    `last_val_er` and reaches its minimum `min_val_er` four epochs before the end."""
    keys = ["epoch", "loss", "sec", "lr", "num_samples", "acc", "er",
            "val_loss", "val_num_samples", "val_acc", "val_er"]
    log = {k: [] for k in keys}
    noise = np.random.default_rng(round(last_val_er * 1000)).uniform(-1, 1, size=(epochs, 2))
    for e in range(epochs):
        if e < epochs // 2:
            val_er = last_val_er + 6 + 45 * math.exp(-e / 6) + 1.5 * noise[e, 0]
            train_er = 8 + 50 * math.exp(-e / 8) + 0.5 * noise[e, 1]
            lr = 0.1
        elif e < 3 * epochs // 4:
            val_er = last_val_er + 0.6 + 0.1 * noise[e, 0]
            train_er = 1.0 + 2 * math.exp(-(e - epochs // 2) / 10) + 0.1 * noise[e, 1]
            lr = 0.01
        else:
            val_er = last_val_er + 0.1 + 0.05 * noise[e, 0]
            train_er = 0.2 + 0.05 * noise[e, 1]
            lr = 0.001
        if e == epochs - 1:
            val_er = last_val_er
        elif e == epochs - 5:
            val_er = min_val_er
        for k, v in dict(epoch=e, loss=train_er / 50, sec=21.5, lr=lr, num_samples=50000,
                         acc=1 - train_er / 100, er=train_er).items():
            log[k].append(v)
        for k, v in dict(epoch=e, sec=1.5, lr=-1.0, val_loss=val_er / 30,
                         val_num_samples=10000, val_acc=1 - val_er / 100,
                         val_er=val_er).items():
            log[k].append(v)
    return log


def write_authors_run(base_folder, experiment, model_type, size, seed, last_val_er,
                      min_val_er=None, epochs_done=None, num_params=123456.0):
    """One run folder as the authors published it (model.pt left out: never read here)."""
    folder = Path(base_folder) / rt.EXP_DATA / experiment.run_name(model_type, size, seed)
    folder.mkdir(parents=True, exist_ok=True)
    opt = authors_opt(experiment, model_type, size, seed, folder)
    epochs = opt["epochs"] if epochs_done is None else epochs_done
    min_val_er = last_val_er - 0.2 if min_val_er is None else min_val_er
    (folder / "opt.json").write_text(json.dumps(opt))
    (folder / "log.json").write_text(json.dumps(authors_log(epochs, last_val_er, min_val_er)))
    (folder / "model_specs.json").write_text(json.dumps(
        {"num_trainable": num_params, "num_params": num_params}))
    return folder


PARAMS = {("CifarMinFP-LS", 3): 217082, ("CifarMinFP-LS", 5): 411962,
          ("CifarMinFP-LS", 7): 606842, ("CifarMinFP-LS", 9): 801722,
          ("CifarPyrResNet", 3): 270298, ("CifarPyrResNet", 5): 465178,
          ("CifarPyrResNet", 7): 660058, ("CifarPyrResNet", 9): 854938,
          ("CifarDenseNet", 22): 71686, ("CifarDenseNet", 58): 314470,
          ("CifarDenseNet", 100): 769162, ("CifarDenseMin", 22): 57040,
          ("CifarDenseMin", 58): 298564, ("CifarDenseMin", 100): 751786}


def write_paper_runs(base_folder, experiment, paper):
    """Every run of the grid, the last test errors per model and size as in docs/reference.md §6."""
    for size, per_model in paper.items():
        for model_type, (mean, std) in zip(experiment.models, per_model):
            for seed, value in zip(experiment.seeds,
                                   values_with_mean_std(mean, std, len(experiment.seeds))):
                write_authors_run(base_folder, experiment, model_type, size, seed, value,
                                  num_params=float(PARAMS[model_type, size]))


def paper_table_cells(results_md: str) -> dict:
    """{(size, column header): cell} of the first markdown table of results.md."""
    lines = [line for line in results_md.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = {}
    for line in lines[2:]:
        row = [c.strip() for c in line.strip("|").split("|")]
        if len(row) != len(header) or not row[0].isdigit():
            break
        cells.update({(int(row[0]), h): c for h, c in zip(header[1:], row[1:])})
    return cells


# --------------------------------------------------------------------------- paper numbers

def test_exp_10_tables_reproduce_the_paper(tmp_path):
    write_paper_runs(tmp_path, EXP_10, PAPER_EXP_10)
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0

    cells = paper_table_cells((tmp_path / "results.md").read_text())
    for n, ((min_mean, min_std), (res_mean, res_std)) in PAPER_EXP_10.items():
        assert cells[n, "Min-Net (CifarMinFP-LS)"] == f"{min_mean:.3f} ± {min_std:.3f}"
        assert cells[n, "ResNet (CifarPyrResNet)"] == f"{res_mean:.3f} ± {res_std:.3f}"
    assert cells[3, "Min-Net (CifarMinFP-LS)"] == "8.048 ± 0.216"

    grouped = pd.read_csv(tmp_path / "grouped_results.csv")
    row = grouped[(grouped.model_type == "CifarPyrResNet") & (grouped.N == 5)].iloc[0]
    assert (round(row.last_val_er_mean, 3), round(row.last_val_er_std, 3)) == (7.198, 0.056)
    assert row.runs == 5 and row.num_params == 465178
    assert {"min_val_er_median", "last_val_er_max", "last_val_er_min"} <= set(grouped.columns)

    results = pd.read_csv(tmp_path / "results.csv")
    assert len(results) == 40
    assert list(results.columns[:7]) == ["name", "model_type", "model", "N", "seed",
                                         "num_params", "min_val_er"]
    assert (results.epochs == 200).all()
    assert results.min_val_er.tolist() == pytest.approx((results.last_val_er - 0.2).tolist())


def test_exp_11_1_tables_reproduce_the_paper(tmp_path):
    write_paper_runs(tmp_path, EXP_11_1, PAPER_EXP_11_1)
    assert ev.evaluate_experiment(EXP_11_1, tmp_path) == 0
    cells = paper_table_cells((tmp_path / "results.md").read_text())
    for depth, ((dn_mean, dn_std), (dm_mean, dm_std)) in PAPER_EXP_11_1.items():
        # The paper prints two decimals; ours has three, the paper's plus a 0.
        assert cells[depth, "DenseNet (CifarDenseNet)"] == f"{dn_mean:.2f}0 ± {dn_std:.2f}0"
        assert cells[depth, "Min-DenseNet (CifarDenseMin)"] == f"{dm_mean:.2f}0 ± {dm_std:.2f}0"
    assert "L" in pd.read_csv(tmp_path / "results.csv").columns


def test_exp_10_1_results_txt_reproduces_the_paper(tmp_path):
    p = PAPER_EXP_10_1
    # results.txt is the authors': numpy's std, ddof=0 (docs/reference.md §6).
    last = values_with_stats(12, p["min"], p["max"], p["median"], p["mean"], p["std"], ddof=0)
    for seed, value in zip(EXP_10_1.seeds, last):
        write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, value, min_val_er=value - 0.3)
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    assert (tmp_path / "results.txt").read_text() == (
        "Median last: 7.100\nMean last: 7.267\nStd last: 0.502\n"
        "Min last: 6.700\nMax last: 8.260\nMedian min: 6.800\n")
    for suffix in ("png", "pdf"):
        assert (tmp_path / "images" / f"error_curves.{suffix}").stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert "He et al. 2016, ResNet-56: 6.97 %" in md
    assert "![training and test error per epoch](images/error_curves.png)" in md


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


# --------------------------------------------------------------------------- statistics

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


def test_min_net_differences_in_results_md(tmp_path):
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    table = stats.min_net_differences(rt.collect_runs(EXP_10, tmp_path).table, EXP_10)
    row = table.iloc[0]
    assert row["size"] == 3 and row.difference == pytest.approx(8.048 - 8.324)
    expected = stats.welch_interval(values_with_mean_std(8.048, 0.216, 5),
                                 values_with_mean_std(8.324, 0.384, 5))
    assert row.ci_low == pytest.approx(expected["ci_low"])
    md = (tmp_path / "results.md").read_text()
    assert "| 3 | 5 / 5 | -0.276 | [" in md and "Welch" in md


# --------------------------------------------------------------------------- robustness

def test_malformed_unfinished_and_missing_runs(tmp_path, capsys):
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    bad = tmp_path / "exp_data" / EXP_10.run_name("CifarMinFP-LS", 3, 9)
    (bad / "log.json").write_text('{"val_er": [1.0, ')               # cut off mid-write
    not_numbers = tmp_path / "exp_data" / EXP_10.run_name("CifarMinFP-LS", 3, 507)
    (not_numbers / "log.json").write_text('{"val_er": ["a"]}')
    write_authors_run(tmp_path, EXP_10, "CifarPyrResNet", 5, 9, 7.0, epochs_done=120)
    (tmp_path / "exp_data" / EXP_10.run_name("CifarPyrResNet", 3, 16) / "model_specs.json").unlink()

    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    err = capsys.readouterr().err
    assert f"warning: skipping {bad.name}: {bad}/log.json is not valid JSON" in err
    assert f"warning: skipping {not_numbers.name}: {not_numbers}/log.json: 'val_er'" in err
    assert "no parameter count" in err
    results = pd.read_csv(tmp_path / "results.csv")
    assert len(results) == 8 and bad.name not in results.name.tolist()
    md = (tmp_path / "results.md").read_text()
    assert "8 of the grid's 40 runs finished" in md
    assert "CifarPyrResNet_s9_N5 (120/200 epochs)" in md and bad.name in md


def edit_log(folder, **changes):
    """Rewrite some keys of a run folder's log.json (None removes the key)."""
    log = json.loads((folder / "log.json").read_text())
    for key, value in changes.items():
        if value is None:
            log.pop(key, None)
        else:
            log[key] = value
    (folder / "log.json").write_text(json.dumps(log))


def test_malformed_train_error_and_time_keep_the_run(tmp_path, capsys):
    """`er` and `sec` are only needed for last_train_er and hours: a run whose test errors
    are fine still counts, with those cells empty and a warning naming folder and key."""
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    folders = {seed: tmp_path / "exp_data" / EXP_10.run_name("CifarMinFP-LS", 3, seed)
               for seed in (9, 16, 507)}
    log = json.loads((folders[9] / "log.json").read_text())
    edit_log(folders[9], er=log["er"][:-1] + [None])                 # er[-1] = null
    edit_log(folders[16], sec=log["sec"][:3] + ["21.5"] + log["sec"][4:])  # a string in sec
    edit_log(folders[507], er=None)                                   # no er at all

    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    err = capsys.readouterr().err
    assert f"warning: {folders[9]}/log.json: 'er' is missing or not a list of finite " \
           "numbers; left out: its training error" in err
    assert f"warning: {folders[507]}/log.json: 'er' is missing" in err
    assert f"warning: {folders[16]}/log.json: 'sec' is missing or not a list of finite " \
           "numbers; left out: its training time (hours)" in err
    assert "Traceback" not in err
    results = pd.read_csv(tmp_path / "results.csv").set_index("seed")
    minimal = results[results.model_type == "CifarMinFP-LS"]
    assert len(results) == 10                     # every run counts
    assert sorted(minimal.index[minimal.last_train_er.isna()]) == [9, 507]
    assert minimal.index[minimal.hours.isna()].tolist() == [16]
    assert minimal.loc[723, "hours"] == pytest.approx(200 * 23.0 / 3600)
    assert minimal.last_val_er.notna().all()
    cells = paper_table_cells((tmp_path / "results.md").read_text())
    assert cells[3, "Min-Net (CifarMinFP-LS)"] == "8.048 ± 0.216"   # their val_er still counts
    assert (tmp_path / "images" / "error_vs_params.png").is_file()


def test_exp_10_1_run_without_train_error_is_left_out_of_the_curves(tmp_path, capsys):
    """One run's `er` unusable: the curves leave it out (named), results.txt counts it."""
    values = [7.0, 7.2, 8.0]
    for seed, value in zip(EXP_10_1.seeds, values):
        write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, value)
    worst = tmp_path / "exp_data" / EXP_10_1.run_name("CifarResNet", 9, EXP_10_1.seeds[2])
    edit_log(worst, er="not a list")             # the worst run: its line is drawn too

    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    err = capsys.readouterr().err
    assert f"warning: {worst}/log.json: 'er' is missing or not a list of finite numbers; " \
           "left out: its training error (last_train_er, training-error curve)" in err
    text = (tmp_path / "results.txt").read_text()
    assert "Median last: 7.200\nMean last: 7.400\n" in text and "Max last: 8.000\n" in text
    assert (tmp_path / "images" / "error_curves.png").stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert f"The training-error curves leave out {worst.name}" in md
    assert "3 of the grid's" in md


def test_exp_10_1_one_run_prints_no_nan(tmp_path, capsys):
    """One run: no std to print. Its `er` is bad too, so the training panel has no curve."""
    write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, EXP_10_1.seeds[0], 7.25,
                      min_val_er=7.0)
    run = tmp_path / "exp_data" / EXP_10_1.run_name("CifarResNet", 9, EXP_10_1.seeds[0])
    edit_log(run, er=None)
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    assert (tmp_path / "results.txt").read_text() == (
        "Median last: 7.250\nMean last: 7.250\nStd last: n/a (one run)\n"
        "Min last: 7.250\nMax last: 7.250\nMedian min: 7.000\n")
    # NaN stays in the computation; only the printing changes.
    logs = rt.collect_runs(EXP_10_1, tmp_path).logs.values()
    stack = stats.stacked_curves([log["val_er"] for log in logs])
    assert math.isnan(stats.authors_variance_summary(stack)["Std last"])
    assert (tmp_path / "images" / "error_curves.png").stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert "Std last: n/a (one run)" in md and "nan" not in md


def test_no_finished_runs_is_one_line_and_non_zero(tmp_path, capsys):
    write_authors_run(tmp_path, EXP_10, "CifarPyrResNet", 3, 9, 7.0, epochs_done=3)
    with pytest.raises(UserError) as experiment_error:
        ev.evaluate_experiment(EXP_10, tmp_path)
    with pytest.raises(UserError) as variance_error:
        ev.evaluate_seed_variance(EXP_10_1, tmp_path)
    # What errors.run_main prints of them: one line each.
    lines = f"error: {experiment_error.value}\nerror: {variance_error.value}".splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"error: no finished runs of exp_10 in {tmp_path / 'exp_data'}")
    assert "exe_move_models_to_exp_folder.py" in lines[0] and "train" in lines[0]
    assert not (tmp_path / "results.csv").exists()


def test_report_keeps_the_other_section(tmp_path):
    write_paper_runs(tmp_path, EXP_10, {9: PAPER_EXP_10[9]})
    (tmp_path / "jpeg_results.md").write_text("## Robustness to JPEG compression\n\nJPEG PART\n")
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# exp_10: report")
    assert report.index("## Test error on CIFAR-10") < report.index("JPEG PART")
    assert "![test error against parameters](images/error_vs_params.png)" in report
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files


# --------------------------------------------------------------------------- scripts

def run_script(path, *args):
    # No PYTHONPATH: the scripts find the repository themselves.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(REPO_ROOT / path), *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script, experiment, paper", [
    ("experiments/exp_10/exe_eval_exp_10.py", EXP_10, {9: PAPER_EXP_10[9]}),
    ("experiments/exp_11_1/exe_eval_exp_11_1.py", EXP_11_1, {22: PAPER_EXP_11_1[22]})])
def test_eval_scripts_end_to_end(tmp_path, script, experiment, paper):
    write_paper_runs(tmp_path, experiment, paper)
    result = run_script(script, "--base_folder", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("results.csv", "grouped_results.csv", "results.md", "report.md",
                 "images/error_vs_params.png", "images/error_vs_params.pdf"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "images/error_vs_params.pdf").read_bytes().startswith(b"%PDF")


def test_eval_exp_10_1_script_end_to_end(tmp_path):
    for seed, value in zip(EXP_10_1.seeds, values_with_mean_std(7.267, 0.502, 12, ddof=0)):
        write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, value)
    result = run_script("experiments/exp_10_1/exe_eval_exp_10_1.py", "--base_folder", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Mean last: 7.267\nStd last: 0.502\n" in (tmp_path / "results.txt").read_text()
    assert (tmp_path / "images" / "error_curves.png").is_file()


def test_eval_script_without_runs(tmp_path):
    result = run_script("experiments/exp_10/exe_eval_exp_10.py", "--base_folder", str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and str(tmp_path) in result.stderr
    result = run_script("experiments/exp_10/exe_eval_exp_10.py", "--profile", "nonsense")
    assert result.returncode == 2 and "invalid choice" in result.stderr
