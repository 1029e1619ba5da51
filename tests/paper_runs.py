"""Run folders and prediction files with known numbers, for the evaluation tests (a helper
module, not a test module).

The generators write run folders exactly as the authors published them (docs/reference.md §4:
opt.json with `"fixed_steps": ["100", "150"]` and a model_kw string; log.json whose
`epoch`, `sec`, `lr` hold two entries per epoch) with last test errors chosen to have the
mean and std of the paper's tables (docs/reference.md §6), and JPEG prediction files with
exactly the errors of the paper's JPEG table.
"""
import json
import math
from pathlib import Path

import numpy as np

from experiments.evaluating import run_table as rt
from experiments.evaluating import seed_statistics as stats
from experiments.grid import EXP_10
from helpers import write_run
from robustness.jpeg import OUTPUT_FOLDERS

# docs/reference.md §6: last test error, mean and std over seeds.
PAPER_EXP_10 = {  # N: (Min-Net CifarMinFP-LS, ResNet CifarPyrResNet)
    3: ((8.048, 0.216), (8.324, 0.384)), 5: ((6.860, 0.228), (7.198, 0.056)),
    7: ((6.188, 0.097), (6.780, 0.145)), 9: ((5.988, 0.110), (6.268, 0.127))}

PAPER_EXP_11_1 = {  # L: (DenseNet, DenseMin)
    22: ((9.76, 0.19), (9.22, 0.17)), 58: ((5.90, 0.30), (5.67, 0.07)),
    100: ((4.79, 0.06), (4.55, 0.14))}

PAPER_EXP_10_1 = dict(median=7.10, mean=7.267, std=0.502, min=6.70, max=8.26)


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


N_TEST = 10_000

PREDICTIONS = OUTPUT_FOLDERS["paper"]   # B/jpeg_model_predictions


def predictions(wrong, also_changed, seed=0, n=N_TEST):
    """int64 (n, 11) with exactly wrong[v] errors in version v = 0…9 (wrong[v] ≥ wrong[0])
    and, at level v ≥ 1, exactly wrong[v] − wrong[0] + also_changed[v − 1] predictions
    that differ from version 0's: the images wrong in version 0 stay wrong, and
    `also_changed` of them switch to another wrong class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    order = rng.permutation(n)                 # the hardest images first
    array = np.tile(labels[:, None], (1, 11)).astype(np.int64)
    for version, k in enumerate(wrong):
        array[order[:k], 1 + version] = (labels[order[:k]] + 1) % 10
        if version:
            switch = order[:also_changed[version - 1]]
            array[switch, 1 + version] = (labels[switch] + 2) % 10
    return array

# Counts of wrong predictions (of 10,000) for versions 0…9; the paper's N = 9 numbers at
# quality 90, 50 and 10 (docs/reference.md §6: Min-Net 10.1 / 24.2 / 58.8, ResNet 10.9 / 25.6 / 59.1).
MIN_NET_WRONG = [599, 1010, 1300, 1620, 1980, 2420, 2950, 3640, 4530, 5880]

RESNET_WRONG = [627, 1090, 1400, 1750, 2130, 2560, 3090, 3790, 4670, 5910]

SPREAD = (-20, -10, 0, 10, 20)   # per seed; means over the five seeds stay as above


def write_exp_10_n9(base_folder, models=("CifarMinFP-LS", "CifarPyrResNet"),
                    predictions_folder=PREDICTIONS):
    """Prediction files and logs of exp_10's N = 9 runs (last val_er as in docs/reference.md §6)."""
    for model_type, wrong, step, (mean, std) in zip(
            ("CifarMinFP-LS", "CifarPyrResNet"), (MIN_NET_WRONG, RESNET_WRONG), (50, 30),
            PAPER_EXP_10[9]):
        if model_type not in models:
            continue
        for i, (seed, last) in enumerate(zip(EXP_10.seeds, values_with_mean_std(mean, std, 5))):
            name = EXP_10.run_name(model_type, 9, seed)
            array = predictions([k + SPREAD[i] for k in wrong], [step * v for v in range(1, 10)],
                                seed=seed)
            path = base_folder / predictions_folder / f"{name}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, array)
            write_authors_run(base_folder, EXP_10, model_type, 9, seed, last)


def write_short_run(base_folder, experiment, model_type, size, seed, val_er, **opt_extra):
    """A run folder of len(val_er) epochs, as our trainer writes it (opt.json asks for
    exactly those epochs, so the run is finished; no model.pt: never read here)."""
    folder = base_folder / "exp_data" / experiment.run_name(model_type, size, seed)
    epochs = len(val_er)
    write_run(folder, epochs, model=False, model_type=model_type, seed=seed, **opt_extra)
    log = dict(val_er=list(val_er), er=[50.0 - e for e in range(epochs)], sec=[1.0] * 2 * epochs,
               val_num_samples=[1000] * epochs)
    (folder / "log.json").write_text(json.dumps(log), encoding="utf-8")
    (folder / "model_specs.json").write_text(json.dumps({"num_params": 1000.0}),
                                             encoding="utf-8")
    return folder


# Three runs, three epochs: the last-epoch std is 1.247 with ddof=0 and 1.528 with ddof=1;
# the median curve (10, 8, 8) has its minimum at 8, the runs' minima (5, 6, 8) their
# median at 6.
CURVES = {257: [10.0, 5.0, 9.0], 408: [10.0, 9.0, 6.0], 464: [10.0, 8.0, 8.0]}
