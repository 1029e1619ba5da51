"""Robustness to common corruptions (CIFAR-10-C; CIFAR-100-C for exp_12): tables, plots and
a report section from the per-run prediction files (robustness/corruptions.py) of an
experiment's grid.

Writes under the base folder B, as one set (rendering.report.publish):

  corruption_results.csv  one row per run x corruption x severity: name, model_type,
                          N or L, seed, corruption, severity, n, er (test error in %),
                          data (the corrupted images' folder in words), ece
                          (expected calibration error in %; the column is left out
                          when no file kept confidences)
  corruption_results.md   per model and size the error per corruption (mean over
                          severities and seeds), the mean corruption error over the 15
                          benchmark corruptions (only when all 15 are there), the Min-Net
                          - baseline differences with 95 % Welch intervals, the plots,
                          the calibration (experiments.evaluating.calibration) (report.md's
                          section)
  images/corruption_severity_<N|L><size>.{png,pdf}, images/corruption_difference.{png,pdf}

Only finished runs count: the files of an unfinished run are left out and named, as in
the other tables (experiments.evaluating.result_files).
"""
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.cifar10c import BENCHMARK_CORRUPTIONS, CORRUPTIONS, SEVERITIES, \
    corruption_set, missing_benchmark_corruptions
from experiments import robustness_suite as suite
from experiments.evaluating.data_sources import NOT_RECORDED_FILE, data_line, is_stand_in
from experiments.evaluating import calibration
from experiments.evaluating.result_files import ResultFiles, collect_results, evaluate_files
from experiments.evaluating.result_files import left_out_lines, one_setting
from experiments.evaluating.seed_statistics import CONFIDENCE, welch_interval
from experiments.evaluating.seed_statistics import min_net_and_baseline
from experiments.grid import Experiment
from experiments.rendering import plots, report, tables
from experiments.rendering.tables import interval_text
from experiments.evaluating.run_table import FULL_TEST_SET
from precision import digits_note, error_digits
from robustness.corruptions import OUTPUT_FOLDER, errors_by_severity, output_file, \
    read_predictions

CSV_FILE = "corruption_results.csv"
SECTION_FILE = suite.CORRUPTIONS.sections[0]     # corruption_results.md
PLOTS = f"{report.IMAGES}/corruption_"
OWNED = (CSV_FILE, f"{PLOTS}severity_*", f"{PLOTS}difference.*")
MEAN_COLUMN = "mCE"     # the mean corruption error over the 15 benchmark corruptions
RUN_COLUMNS = ["name", "model_type", "size", "seed"]


# --------------------------------------------------------------------------- the files

def corruption_rows(path: Path, num_classes: int = 10) -> list:
    """A file's rows, each with the data it was computed on, in words (its record's),
    and the expected calibration error of each corruption and severity."""
    found = read_predictions(path, num_classes)
    source = (found["record"] or {}).get("data_source") or NOT_RECORDED_FILE
    return [dict(row, data=source,
                 ece=calibration.corruption_ece(found, row["corruption"], row["severity"]))
            for row in errors_by_severity(found)]


def collect_corruptions(experiment: Experiment, base_folder, fix_command: str = "") -> ResultFiles:
    """Rows (name, model_type, size, seed, corruption, severity, n, er, data, ece) of the
    finished runs' usable prediction files, and the runs left out."""
    classes = corruption_set(experiment.dataset).num_classes
    found = collect_results(experiment, Path(base_folder),
                            lambda name: [output_file(base_folder, name)],
                            lambda path: corruption_rows(path, classes),
                            RUN_COLUMNS + ["corruption", "severity", "n", "er", "data", "ece"],
                            fix_command)
    return one_setting(found, ["n"])     # the same images per severity for every run


# --------------------------------------------------------------------------- the tables

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
    return tables.by_size_then_model(table.reset_index(), experiment)


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


def table_markdown(table: pd.DataFrame, experiment: Experiment, digits: int) -> str:
    cells = pd.DataFrame({"Model": [experiment.display_name(m) for m in table.model_type],
                          experiment.size_label: table["size"].astype(str)})
    for column in table.columns:
        if column not in ("model_type", "size", "seeds"):
            cells[column] = [report.number(v, digits) for v in table[column]]
    cells["seeds"] = table["seeds"].astype(int).astype(str)
    return report.markdown_table(cells)


def differences_markdown(diffs: pd.DataFrame, experiment: Experiment, digits: int) -> str:
    label = experiment.size_label
    cells = pd.DataFrame({label: diffs["size"].astype(str), "corruption": diffs.corruption,
                          f"Min-Net − baseline, {CONFIDENCE:.0%} CI": [
                              interval_text(r, digits) for r in diffs.to_dict("records")]})
    return report.markdown_table(cells)


# --------------------------------------------------------------------------- the plots

def plot_severity(runs: pd.DataFrame, experiment: Experiment, size: int, note: str = ""):
    """Error against severity for one size, mean over the corruptions every run has:
    mean over seeds with the min-max band (plots.mean_and_band)."""
    fig, axes = report.new_figure(note=note)
    ax = axes[0]
    names = corruptions_in(runs)
    chosen = runs[(runs["size"] == size) & runs.corruption.isin(names)]
    per_seed = chosen.groupby(["model_type", "seed", "severity"]).er.mean().unstack("severity")
    banded = False
    for model_type in experiment.models:
        if model_type in per_seed.index.get_level_values(0):
            banded |= plots.mean_and_band(ax, SEVERITIES, per_seed.loc[model_type],
                                          report.MODEL_COLOURS.get(model_type),
                                          experiment.display_name(model_type))
    ax.set_xticks(SEVERITIES)
    ax.set_xlabel("severity")
    ax.set_ylabel(f"test error (%), mean over {report.counted(len(names), 'corruption')}")
    ax.set_title(f"{experiment.name}, {experiment.size_label}={size}: "
                 f"{plots.band_words(banded)}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_differences(diffs: pd.DataFrame, experiment: Experiment, note: str = ""):
    """Per corruption the Min-Net - baseline difference with its interval, one marker
    series per size."""
    fig, axes = report.new_figure(width=8.0, height=4.2, note=note)
    ax = axes[0]
    names = list(dict.fromkeys(diffs.corruption))
    sizes = list(dict.fromkeys(diffs["size"]))
    for i, size in enumerate(sizes):
        part = diffs[diffs["size"] == size].set_index("corruption").reindex(names)
        x = np.arange(len(names)) + (i - (len(sizes) - 1) / 2) * 0.8 / max(len(sizes), 1)
        low = (part.difference - part.ci_low).fillna(0).clip(lower=0)
        high = (part.ci_high - part.difference).fillna(0).clip(lower=0)
        ax.errorbar(x, part.difference, yerr=[low, high], fmt="o", ms=3, capsize=2,
                    label=f"{experiment.size_label}={size}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("Min-Net − baseline error (points)")
    ax.set_title(f"{experiment.name}: below 0 the Min-Net has the lower error; bars = "
                 f"{CONFIDENCE:.0%} Welch CI", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


def corruption_figures(files: report.Outputs, runs: pd.DataFrame, diffs: pd.DataFrame,
                       experiment: Experiment, note: str) -> list:
    """Add the per-size severity plots and the differences plot; their PNG paths."""
    label = experiment.size_label
    pngs = [files.add_figure(f"{PLOTS}severity_{label}{size}",
                             plot_severity(runs, experiment, size, note))
            for size in experiment.sizes if (runs["size"] == size).any()]
    if not diffs.empty:
        pngs.append(files.add_figure(f"{PLOTS}difference",
                                     plot_differences(diffs, experiment, note)))
    return pngs


# --------------------------------------------------------------------------- the section

def figure_note(note: str, title: str) -> str:
    """The plots' title line: the smoke note, and the stand-in's name when it made them."""
    return "; ".join(filter(None, [note, title if is_stand_in(title) else ""]))


def data_title(runs: pd.DataFrame, experiment: Experiment) -> str:
    """CIFAR-10-C (exp_12: CIFAR-100-C), unless a file was computed on the offline stand-in."""
    stand_in = [text for text in runs.data.unique() if is_stand_in(text)]
    return stand_in[0] if stand_in else corruption_set(experiment.dataset).folder



def section_text(experiment: Experiment, found: ResultFiles, table, diffs, pngs: list,
                 note: str, fix_command: str) -> str:
    """corruption_results.md: the summary, both tables, the plots."""
    runs = found.table
    names = corruptions_in(runs)
    absent = missing_benchmark_corruptions(names)
    images = int(runs.n.max())          # one_setting: the same for every run
    digits = error_digits(images)
    lines = [f"{report.counted(runs.name.nunique(), 'run')}, "
             f"{report.counted(len(names), 'corruption')}, {images:,} images per "
             "severity; errors in %, means over the five severities and the seeds."]
    if images < FULL_TEST_SET:
        lines.append(digits_note(images, digits))
    if absent:
        lines.append(f"No mean corruption error: the benchmark corruptions "
                     f"{', '.join(absent)} are missing.")
    else:
        lines.append(f"{MEAN_COLUMN}: the mean over the 15 benchmark corruptions and five "
                     "severities.")
    lines.append(data_line("Corrupted images", dict(zip(runs.name, runs.data))))
    lines += left_out_lines(found, fix_command)
    text = (f"## Robustness to common corruptions ({data_title(runs, experiment)})\n\n"
            + report.banner(note)
            + "\n".join(lines) + "\n\n"
            + "Test error (%) per corruption, mean over the severities and the seeds:\n\n"
            + table_markdown(table, experiment, digits))
    if not diffs.empty:
        text += ("\nMin-Net − baseline error (points; below 0 the Min-Net is better), "
                 f"{CONFIDENCE:.0%} Welch interval over seeds:\n\n"
                 + differences_markdown(diffs, experiment, digits))
    text += "\n" + "\n".join(report.image_link(png, "corruption plot") for png in pngs)
    text += f"\nPer run and severity: [{CSV_FILE}]({CSV_FILE}).\n"
    return text + "\n" + calibration.corruption_calibration_text(runs, experiment, fix_command,
                                                                 digits)


def corruption_outputs(found: ResultFiles, experiment: Experiment, base_folder: Path,
                       note: str, fix_command: str) -> report.Outputs:
    """Every file of the evaluation, in memory."""
    runs = found.table
    table, diffs = error_table(runs, experiment), differences(runs, experiment)
    files = report.Outputs(section=SECTION_FILE, owned=OWNED, note=note)
    recorded = runs if runs.ece.notna().any() else runs.drop(columns="ece")
    files.add_text(CSV_FILE, tables.csv_text(recorded, experiment, ["er", "ece"]))
    title = data_title(runs, experiment)
    pngs = corruption_figures(files, runs, diffs, experiment, figure_note(note, title))
    files.text = section_text(experiment, found, table, diffs, pngs, note, fix_command)
    files.shown = [f"on {title}:", table_markdown(table, experiment, error_digits(int(runs.n.max()))),
                   f"wrote {base_folder / CSV_FILE}, {SECTION_FILE}, {report.REPORT_FILE} "
                   f"and {report.counted(len(pngs), 'plot')} (PNG and PDF)"]
    return files


def evaluate_corruptions(experiment: Experiment, base_folder, profile: str = None) -> int:
    """The common-corruption test's CSV, tables, plots and section (evaluate_files)."""
    return evaluate_files(suite.CORRUPTIONS, experiment, base_folder, profile, collect_corruptions,
                          corruption_outputs, folder=Path(base_folder) / OUTPUT_FOLDER)
