"""Robustness to common corruptions (CIFAR-10-C): tables, plots and a report section from
the per-run prediction files (robustness/corruptions.py) of an experiment's grid.

  corruption_results.csv  one row per run x corruption x severity: name, model_type,
                          N or L, seed, corruption, severity, n, er (test error in %)
  corruption_results.md   per model and size the error per corruption (mean over
                          severities and seeds), the mean corruption error over the 15
                          benchmark corruptions (only when all 15 are there), the Min-Net
                          - baseline differences with 95 % Welch intervals, the plots
  images/corruption_severity_<N|L><size>.{png,pdf}, images/corruption_difference.{png,pdf}

`collect_corruptions` and the table and plot functions return data; `write_corruption_results`
writes everything atomically and returns the section text, which report.md takes up.
"""
from pathlib import Path

import numpy as np
import pandas as pd

import atomic_files
import run_folder as rf
from datasets.cifar10c import BENCHMARK_CORRUPTIONS, CORRUPTIONS, SEVERITIES, \
    missing_benchmark_corruptions
from errors import UserError
from experiments import report
from experiments.run_table import size_label, warn
from experiments.seed_statistics import CONFIDENCE, min_net_and_baseline, welch_interval
from experiments.tables import interval_text
from experiments.grid import DISPLAY_NAMES, EXP_DATA, Experiment
from robustness.corruptions import PREDICTIONS_FOLDER, errors_by_severity, predictions_path, \
    read_predictions

CSV_FILE = "corruption_results.csv"
SECTION_FILE = "corruption_results.md"
DIGITS = 2
MEAN_COLUMN = "mCE"     # the mean corruption error over the 15 benchmark corruptions


def collect_corruptions(experiment: Experiment, base_folder) -> tuple:
    """(rows as a frame: name, model_type, size, seed, corruption, severity, n, er;
    names of the finished runs without a usable prediction file)."""
    base_folder = Path(base_folder)
    rows, missing = [], []
    for model_type, size, seed in experiment.points():
        name = experiment.run_name(model_type, size, seed)
        if rf.run_state(base_folder / EXP_DATA / name) != rf.FINISHED:
            continue
        path = predictions_path(base_folder, name)
        try:
            predictions = read_predictions(path) if path.is_file() else None
        except UserError as e:
            warn(f"{e}; this run is left out")
            predictions = None
        if predictions is None:
            missing.append(name)
            continue
        for row in errors_by_severity(predictions):
            rows.append(dict(name=name, model_type=model_type, size=size, seed=seed, **row))
    columns = ["name", "model_type", "size", "seed", "corruption", "severity", "n", "er"]
    return pd.DataFrame(rows, columns=columns), missing


def per_run_errors(runs: pd.DataFrame) -> pd.DataFrame:
    """Per run and corruption, the error averaged over the five severities."""
    return runs.groupby(["model_type", "size", "seed", "corruption"], as_index=False)["er"].mean()


def corruptions_in(runs: pd.DataFrame) -> list:
    """The corruptions every run has, in the benchmark's order."""
    per_run = runs.groupby("name").corruption.apply(set)
    common = set.intersection(*per_run) if len(per_run) else set()
    return [c for c in CORRUPTIONS if c in common]


def error_table(runs: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per model and size (rows) the error per corruption (columns), mean over severities
    and seeds, then the mean corruption error (NaN unless all 15 benchmark corruptions
    are there) and the number of seeds."""
    names = corruptions_in(runs)
    per_run = per_run_errors(runs[runs.corruption.isin(names)])
    table = per_run.pivot_table(index=["model_type", "size"], columns="corruption", values="er",
                                aggfunc="mean")[names]
    seeds = per_run.groupby(["model_type", "size"]).seed.nunique()
    complete = not missing_benchmark_corruptions(names)
    table[MEAN_COLUMN] = table[list(BENCHMARK_CORRUPTIONS)].mean(axis=1) if complete else np.nan
    table["seeds"] = seeds
    order = {m: i for i, m in enumerate(experiment.models)}
    table = table.reset_index()
    table["order"] = table.model_type.map(order)
    return table.sort_values(["size", "order"]).drop(columns="order").reset_index(drop=True)


def differences(runs: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per size and corruption (and mCE when complete): Min-Net - baseline error over
    seeds, each seed's value averaged over the severities, with a Welch interval."""
    pair = min_net_and_baseline(experiment)
    names = corruptions_in(runs)
    if pair is None or not names:
        return pd.DataFrame()
    per_run = per_run_errors(runs[runs.corruption.isin(names)])
    wanted = list(names)
    if not missing_benchmark_corruptions(names):
        benchmark = per_run[per_run.corruption.isin(BENCHMARK_CORRUPTIONS)]
        means = benchmark.groupby(["model_type", "size", "seed"], as_index=False).er.mean()
        per_run = pd.concat([per_run, means.assign(corruption=MEAN_COLUMN)])
        wanted.append(MEAN_COLUMN)
    rows = []
    for size in experiment.sizes:
        for corruption in wanted:
            values = [per_run.loc[(per_run.model_type == m) & (per_run["size"] == size)
                                  & (per_run.corruption == corruption), "er"] for m in pair]
            if len(values[0]) and len(values[1]):
                rows.append(dict(size=size, corruption=corruption,
                                 **welch_interval(*values)))
    return pd.DataFrame(rows)


def table_markdown(table: pd.DataFrame, experiment: Experiment) -> str:
    cells = pd.DataFrame({"Model": [DISPLAY_NAMES.get(m, m) for m in table.model_type],
                          size_label(experiment): table["size"].astype(str)})
    for column in table.columns:
        if column not in ("model_type", "size", "seeds"):
            cells[column] = [report.number(v, DIGITS) for v in table[column]]
    cells["seeds"] = table["seeds"].astype(int).astype(str)
    return report.markdown_table(cells)


def differences_markdown(diffs: pd.DataFrame, experiment: Experiment) -> str:
    label = size_label(experiment)
    cells = pd.DataFrame({label: diffs["size"].astype(str), "corruption": diffs.corruption,
                          f"Min-Net − baseline, {CONFIDENCE:.0%} CI": [
                              interval_text(r) for r in diffs.to_dict("records")]})
    return report.markdown_table(cells)


def plot_severity(runs: pd.DataFrame, experiment: Experiment, size: int, stem: Path) -> list:
    """Error against severity for one size, mean over the corruptions every run has:
    mean over seeds with the min-max band."""
    fig, axes = report.new_figure()
    ax = axes[0]
    names = corruptions_in(runs)
    chosen = runs[(runs["size"] == size) & runs.corruption.isin(names)]
    per_seed = chosen.groupby(["model_type", "seed", "severity"]).er.mean().unstack("severity")
    for model_type in experiment.models:
        if model_type not in per_seed.index.get_level_values(0):
            continue
        values = per_seed.loc[model_type]
        colour = report.MODEL_COLOURS.get(model_type)
        ax.plot(SEVERITIES, values.mean().values, marker="o", ms=3, color=colour,
                label=f"{DISPLAY_NAMES.get(model_type, model_type)} (mean of {len(values)})")
        ax.fill_between(SEVERITIES, values.min().values, values.max().values, color=colour,
                        alpha=0.2, lw=0)
    ax.set_xticks(SEVERITIES)
    ax.set_xlabel("severity")
    ax.set_ylabel(f"test error (%), mean over {len(names)} corruptions")
    ax.set_title(f"{experiment.name}, {size_label(experiment)}={size}: band = min–max over "
                 "seeds", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return report.save_figure(fig, stem)


def plot_differences(diffs: pd.DataFrame, experiment: Experiment, stem: Path) -> list:
    """Per corruption the Min-Net - baseline difference with its interval, one marker
    series per size."""
    fig, axes = report.new_figure(width=8.0, height=4.2)
    ax = axes[0]
    names = list(dict.fromkeys(diffs.corruption))
    sizes = list(dict.fromkeys(diffs["size"]))
    for i, size in enumerate(sizes):
        part = diffs[diffs["size"] == size].set_index("corruption").reindex(names)
        x = np.arange(len(names)) + (i - (len(sizes) - 1) / 2) * 0.8 / max(len(sizes), 1)
        low = (part.difference - part.ci_low).fillna(0).clip(lower=0)
        high = (part.ci_high - part.difference).fillna(0).clip(lower=0)
        ax.errorbar(x, part.difference, yerr=[low, high], fmt="o", ms=3, capsize=2,
                    label=f"{size_label(experiment)}={size}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("Min-Net − baseline error (points)")
    ax.set_title(f"{experiment.name}: below 0 the Min-Net has the lower error; bars = "
                 f"{CONFIDENCE:.0%} Welch CI", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return report.save_figure(fig, stem)


def section_text(experiment: Experiment, base_folder: Path, runs: pd.DataFrame, table, diffs,
                 pngs: list, missing_runs: list) -> str:
    names = corruptions_in(runs)
    absent = missing_benchmark_corruptions(names)
    counts = sorted(runs.n.unique())
    lines = ["## Robustness to common corruptions (CIFAR-10-C)", "",
             f"{runs.name.nunique()} runs, {len(names)} corruptions, {counts[-1]:,} images per "
             "severity; errors in %, means over the five severities and the seeds."]
    if absent:
        lines.append(f"No mean corruption error: the benchmark corruptions "
                     f"{', '.join(absent)} are missing.")
    else:
        lines.append(f"{MEAN_COLUMN}: the mean over the 15 benchmark corruptions and five "
                     "severities.")
    if missing_runs:
        lines.append(f"Finished runs without predictions (left out): {', '.join(missing_runs)}.")
    text = "\n".join(lines) + "\n\n" + table_markdown(table, experiment)
    if not diffs.empty:
        text += ("\nMin-Net − baseline error (points; below 0 the Min-Net is better), "
                 f"{CONFIDENCE:.0%} Welch interval over seeds:\n\n"
                 + differences_markdown(diffs, experiment))
    text += "\n" + "".join(report.image_link(base_folder, png, "corruption plot") + "\n"
                           for png in pngs)
    return text + f"\nPer run and severity: [{CSV_FILE}]({CSV_FILE}).\n"


def write_corruption_results(experiment: Experiment, base_folder) -> str:
    """Write the CSV, the plots and corruption_results.md; return the section's text.
    UserError when no run has a usable prediction file."""
    base_folder = Path(base_folder)
    runs, missing_runs = collect_corruptions(experiment, base_folder)
    if runs.empty:
        raise UserError(f"no usable corruption prediction files of {experiment.name} in "
                        f"{base_folder / PREDICTIONS_FOLDER}; compute them with "
                        "python run_corruption_test.py --model_folder <run folder>")
    label = size_label(experiment)
    atomic_files.write_text(base_folder / CSV_FILE,
                            runs.rename(columns={"size": label}).round({"er": 4})
                            .to_csv(index=False))
    table, diffs = error_table(runs, experiment), differences(runs, experiment)
    images = base_folder / report.IMAGES
    pngs = [plot_severity(runs, experiment, size, images / f"corruption_severity_{label}{size}")[0]
            for size in experiment.sizes if (runs["size"] == size).any()]
    if not diffs.empty:
        pngs.append(plot_differences(diffs, experiment, images / "corruption_difference")[0])
    text = section_text(experiment, base_folder, runs, table, diffs, pngs, missing_runs)
    atomic_files.write_text(base_folder / SECTION_FILE, text)
    return text
