"""Reading an experiment's run folders into one table (the evaluations' input).

Reads the run folders of the experiment's grid under B/exp_data: ours, or the authors'
published ones (docs/reference.md §4: their opt.json, and a log.json whose `epoch`,
`sec`, `lr` hold two entries per epoch).

A run counts when its log has as many epochs as its opt.json asked for. Weights are not
needed (numbers come from log.json alone), so a folder whose model.pt was deleted still
counts, and an interrupted run does not.
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from errors import UserError, warn
from experiments.evaluating.data_sources import training_data
from run_folder import EXP_DATA
import run_folder as rf

FULL_TRAIN_SET = 50_000                            # CIFAR-10's (CIFAR-100's) training images
FULL_TEST_SET = 10_000                             # CIFAR-10's (CIFAR-100's) test images


@dataclass
class Runs:
    """The finished runs of an experiment's grid, and what became of the others."""
    table: pd.DataFrame                             # one row per finished run
    logs: dict = field(default_factory=dict)        # run name -> log.json of finished runs
    opts: dict = field(default_factory=dict)        # run name -> opt.json of finished runs
    unfinished: list = field(default_factory=list)  # "name (k/200 epochs)"
    missing: list = field(default_factory=list)     # no opt.json: not started
    skipped: list = field(default_factory=list)     # unreadable files (warned)
    foreign: list = field(default_factory=list)     # folders in exp_data not of the grid
    no_train_er: list = field(default_factory=list)  # finished, but 'er' unusable (warned)


def numbers(log: dict, key: str) -> list:
    """log[key] as a list of finite floats; a UserError if it is missing or malformed."""
    values = log.get(key)
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values):
        raise UserError(f"log.json: '{key}' is missing or not a list of finite numbers")
    return [float(v) for v in values]


def optional_numbers(log: dict, key: str, folder: Path, what: str):
    """numbers(log, key), or None after a warning naming the folder, the key and what is
    left out: a run whose test errors are fine still counts when a field only some
    columns or plots need is missing, empty or malformed."""
    try:
        values = numbers(log, key)
        if not values:  # a finished run logged at least one epoch
            raise UserError(f"log.json: '{key}' is empty")
        return values
    except UserError as e:
        warn(f"{folder}/{e}; left out: {what} (the run's test errors still count; restore "
             "its log.json to have it)")
        return None


def num_params(folder: Path) -> float:
    """model_specs.json's parameter count; NaN (with a warning) when it cannot be read."""
    try:
        return float(rf.read_json(folder / rf.SPECS_FILE)["num_params"])
    except (UserError, KeyError, TypeError, ValueError) as e:
        warn(f"{folder}: no parameter count ({e}); num_params left empty")
        return math.nan


def asked_epochs(opt: dict, folder: Path) -> int:
    try:
        return int(opt["epochs"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{folder}/opt.json: 'epochs' is missing or not a number") from None


def refuse_other_data(experiment, folder: Path, opt=None) -> None:
    """A UserError when the run in `folder` was trained on another data set than the
    experiment's (a CIFAR-100 run in a CIFAR-10 table, or the reverse: the same run
    names, other numbers). An unreadable opt.json is left to the caller's warnings."""
    from datasets import catalog
    from experiments import grid

    if opt is None:
        try:
            opt = rf.read_opt(folder)
        except UserError:
            return
    trained = catalog.of_run(opt)
    if trained.name != experiment.dataset:
        own = [e.name for e in grid.EXPERIMENTS.values() if e.dataset == trained.name
               and folder.name in {e.run_name(*point) for point in e.points()}]
        fix = (f"evaluate it with the exe scripts of {' or '.join(own)}" if own else
               "move it out of this folder")
        catalog.refuse_other_data(opt, folder, experiment.dataset, fix)


def read_run(folder: Path):
    """(opt, log, its test errors) of a run folder; a UserError naming the file when one
    is malformed."""
    opt, log = rf.read_opt(folder), rf.read_log(folder)  # these name the file themselves
    try:
        val_er = numbers(log, "val_er")
    except UserError as e:
        raise UserError(f"{folder}/{e}") from None
    asked_epochs(opt, folder)
    return opt, log, val_er


def run_row(experiment, model_type, size, seed, folder: Path, log: dict, val_er) -> dict:
    """One row of the table: a finished run's numbers."""
    train_er = optional_numbers(log, "er", folder, "its training error (last_train_er, "
                                "training-error curve)")
    sec = optional_numbers(log, "sec", folder, "its training time (hours)")
    return dict(
        name=folder.name, model_type=model_type,
        model=experiment.display_name(model_type), size=size, seed=seed,
        num_params=num_params(folder), min_val_er=min(val_er), last_val_er=val_er[-1],
        min_val_er_epoch=int(np.argmin(val_er)),
        last_train_er=train_er[-1] if train_er else math.nan, epochs=rf.epochs_done(log),
        # `sec` holds the train and the test phase of every epoch (docs/reference.md §4).
        hours=sum(sec) / 3600 if sec is not None else math.nan)


def collect_runs(experiment, base_folder: Path) -> Runs:
    """One row per finished run of the grid; malformed folders are skipped with a warning."""
    exp_data = Path(base_folder) / EXP_DATA
    runs = Runs(table=pd.DataFrame())
    rows = []
    for model_type, size, seed in experiment.points():
        name = experiment.run_name(model_type, size, seed)
        folder = exp_data / name
        if rf.run_state(folder) == rf.ABSENT:
            runs.missing.append(name)
            continue
        try:
            opt, log, val_er = read_run(folder)
        except UserError as e:
            warn(f"skipping {name}: {e}")
            runs.skipped.append(name)
            continue
        refuse_other_data(experiment, folder, opt)
        progress = rf.progress(folder)
        if progress.unfinished or not val_er:
            runs.unfinished.append(f"{name} ({progress.done}/{progress.asked} epochs)")
            continue
        row = run_row(experiment, model_type, size, seed, folder, log, val_er)
        row["data"] = training_data(opt)
        if math.isnan(row["last_train_er"]):
            runs.no_train_er.append(name)
        rows.append(row)
        runs.logs[name], runs.opts[name] = log, opt
    runs.table = pd.DataFrame(rows)
    if exp_data.is_dir():
        names = {experiment.run_name(*point) for point in experiment.points()}
        runs.foreign = sorted(p.name for p in exp_data.iterdir()
                              if p.is_dir() and p.name not in names)
    return runs


def test_images(log: dict, opt) -> int:
    """How many test images the log's val_er counts: its last `val_num_samples`;
    failing that, opt.json's `test_subset` when below the full test set (the authors'
    opt.json has none), else 10,000; None when neither file says."""
    counts = log.get("val_num_samples")
    count = counts[-1] if isinstance(counts, list) and counts else None
    if isinstance(count, (int, float)) and not isinstance(count, bool) \
            and math.isfinite(count) and count > 0:
        return int(count)
    if opt is None:
        return None
    subset = opt.get("test_subset")
    if isinstance(subset, int) and not isinstance(subset, bool) and 0 < subset < FULL_TEST_SET:
        return subset
    return FULL_TEST_SET


def fewest_test_images(runs: Runs) -> int:
    """The fewest test images any finished run's errors count (the tables' precision)."""
    counts = [test_images(runs.logs[name], runs.opts.get(name)) for name in runs.table.name]
    return min((c for c in counts if c), default=FULL_TEST_SET)


def grid_size(experiment) -> int:
    return sum(1 for _ in experiment.points())


# --------------------------------------------------------------------------- smoke runs

def training_scope(experiment, opts) -> dict:
    """What the runs were trained on, from their opt.json files: {'epochs': sorted
    distinct epochs, 'images': sorted distinct training-set sizes, 'short': True when
    any run trained fewer epochs than the paper's recipe or on a subset}."""
    epochs, images = set(), set()
    for opt in opts:
        try:
            epochs.add(int(opt.get("epochs")))
        except (TypeError, ValueError):
            pass
        subset = opt.get("train_subset")
        images.add(int(subset) if isinstance(subset, int) and subset > 0 else FULL_TRAIN_SET)
    short = bool(epochs) and min(epochs) < experiment.recipe["epochs"] \
        or any(n < FULL_TRAIN_SET for n in images)
    return dict(epochs=sorted(epochs), images=sorted(images), short=short)


def run_scope(experiment, base_folder: Path, names) -> dict:
    """training_scope of the named run folders (those whose opt.json can be read)."""
    opts = []
    for name in names:
        try:
            opts.append(rf.read_opt(Path(base_folder) / EXP_DATA / name))
        except UserError:
            continue
    return training_scope(experiment, opts)
