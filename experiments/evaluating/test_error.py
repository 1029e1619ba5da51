"""Test errors of an experiment's runs: the exe_eval scripts' evaluations.

`evaluate_experiment` (exp_10, exp_11_1) writes under the base folder B:

  results.csv          one row per finished run (name, model_type, N or L, seed,
                       num_params, min_val_er, last_val_er, epochs, ...)
  grouped_results.csv  per model and size: mean, std, min, max, median of min_val_er and
                       last_val_er, and num_params
  results.md           the paper's mean ± std table, the grouped table, the Min-Net −
                       baseline differences with 95 % confidence intervals, the plot
  images/error_vs_params.{png,pdf}

`evaluate_seed_variance` (exp_10_1) writes results.csv, results.txt (the authors'
statistics and labels, docs/reference.md §6), results.md (theirs and ours) and
images/error_curves.{png,pdf} instead. Both then rebuild report.md.

Each evaluation reads (run_table), computes (seed_statistics), renders (tables, plots,
the section below) in memory, and only then writes its files as one set
(rendering.report.publish).
"""
from pathlib import Path

import pandas as pd

from errors import UserError
from experiments import grid
from experiments.evaluating import data_sources, seed_statistics as stats
from experiments.evaluating.run_table import FULL_TEST_SET, Runs, collect_runs, \
    fewest_test_images, grid_size, numbers, run_scope
from experiments.evaluating.seed_statistics import STD_DDOF, min_net_and_baseline
from experiments.grid import Experiment
from experiments.rendering import plots, report, tables
from experiments.robustness_suite import REPORT_SECTIONS, report_tests
from precision import digits_note, error_text
from run_folder import EXP_DATA


# He et al. (2016), Table 6: ResNet-56 (N = 9) on CIFAR-10, the line in exp_10_1's plot.
HE_ET_AL_RESNET56 = (6.97, "He et al. 2016, ResNet-56: 6.97 %")

# The test and training errors of results.csv, in percent.
PERCENT_COLUMNS = stats.METRICS + ("last_train_er",)
SECTION_FILE = REPORT_SECTIONS[0]          # results.md
# What each evaluation owns in the base folder (removed before it writes its new set).
EXPERIMENT_FILES = ("results.csv", "grouped_results.csv", f"{report.IMAGES}/error_vs_params.*")
SEED_VARIANCE_FILES = ("results.csv", "results.txt", f"{report.IMAGES}/error_curves.*")


def no_runs_message(experiment: Experiment, base_folder: Path, profile: str) -> str:
    train = grid.command(experiment, "train", profile, base_folder)
    return (f"no finished runs of {experiment.name} in {Path(base_folder) / EXP_DATA}: train "
            f"them first with {train}, or place the authors' runs there with "
            f"{grid.MOVE_AUTHORS_RUNS}")


def _start(experiment: Experiment, base_folder: Path, profile) -> tuple:
    """(the runs, the smoke note of their outputs, the robustness tests report.md names
    when they were not run); a UserError when none finished."""
    profile = profile or grid.infer_profile(experiment, base_folder)
    runs = collect_runs(experiment, base_folder)
    if runs.table.empty:
        raise UserError(no_runs_message(experiment, base_folder, profile))
    return (runs, report.smoke_note(run_scope(experiment, base_folder, runs.table.name)),
            report_tests(experiment, base_folder, profile))


def evaluate_experiment(experiment: Experiment, base_folder: Path, profile: str = None) -> int:
    """exp_10, exp_11_1: results.csv, grouped_results.csv, results.md, the plot,
    report.md. `profile` (default: inferred from the folder) is named in the hints.
    Returns 0; a UserError when no run has finished."""
    base_folder = Path(base_folder)
    runs, note, tests = _start(experiment, base_folder, profile)
    grouped = stats.summarize(runs.table)
    differences = stats.min_net_differences(runs.table, experiment)

    files = report.Outputs(section=SECTION_FILE, owned=EXPERIMENT_FILES, note=note)
    files.add_text("results.csv", tables.csv_text(runs.table, experiment, PERCENT_COLUMNS))
    files.add_text("grouped_results.csv", tables.csv_text(
        grouped, experiment, [c for c in grouped.columns if c.startswith(stats.METRICS)]))
    png = files.add_figure(f"{report.IMAGES}/error_vs_params",
                           plots.error_vs_params(runs.table, grouped, experiment, note))
    digits = tables.paper_digits(fewest_test_images(runs))
    files.text = experiment_section(runs, grouped, differences, experiment, png, note, digits)
    files.shown = [report.markdown_table(tables.paper_table(grouped, experiment, digits)),
                   f"wrote {base_folder / 'results.csv'}, grouped_results.csv, {SECTION_FILE}, "
                   f"{report.REPORT_FILE} and {base_folder / report.IMAGES}/error_vs_params"
                   ".png/.pdf"]
    return report.publish(files, base_folder, experiment.name, REPORT_SECTIONS, tests)


def _curves(runs: Runs, key: str) -> list:
    """One curve per finished run (table order); None where `key` is unusable."""
    def curve(log):
        try:
            return numbers(log, key) or None
        except UserError:
            return None

    return [curve(runs.logs[name]) for name in runs.table.name]


def seed_variance_figure(runs: Runs, experiment: Experiment, reference, note: str):
    """exp_10_1's error curves with the authors' min and max runs."""
    train, test = _curves(runs, "er"), _curves(runs, "val_er")
    low, high = stats.extreme_runs(stats.stacked_curves(test))
    seeds = runs.table.seed.tolist()
    extremes = {label: (train[i], test[i])
                for label, i in zip(plots.extreme_labels(seeds[low], seeds[high]), (low, high))}
    return plots.error_curves([c for c in train if c is not None], test, extremes, reference,
                              f"{experiment.name}, {report.counted(len(test), 'run')}", note)


def evaluate_seed_variance(experiment: Experiment, base_folder: Path,
                           reference=HE_ET_AL_RESNET56, profile: str = None) -> int:
    """exp_10_1: the spread of one model's error over many seeds. Writes results.csv,
    results.txt (the authors' statistics and labels), results.md, the error curves and
    report.md. Returns 0; a UserError when no run has finished."""
    base_folder = Path(base_folder)
    runs, note, tests = _start(experiment, base_folder, profile)
    val_er = stats.stacked_curves(_curves(runs, "val_er"))
    results_txt = tables.results_txt(stats.authors_variance_summary(val_er), len(runs.table))

    files = report.Outputs(section=SECTION_FILE, owned=SEED_VARIANCE_FILES, note=note)
    files.add_text("results.csv", tables.csv_text(runs.table, experiment, PERCENT_COLUMNS))
    files.add_text("results.txt", results_txt)
    png = files.add_figure(f"{report.IMAGES}/error_curves",
                           seed_variance_figure(runs, experiment, reference, note))
    files.text = seed_variance_section(runs, experiment, results_txt,
                                       stats.our_variance_summary(runs.table), reference, png,
                                       note)
    files.shown = [results_txt.rstrip("\n"),
                   f"wrote {base_folder / 'results.txt'}, results.csv, {SECTION_FILE}, "
                   f"{report.REPORT_FILE} and {base_folder / report.IMAGES}/error_curves.png/.pdf"]
    return report.publish(files, base_folder, experiment.name, REPORT_SECTIONS, tests)


# ------------------------------------------------------------ the markdown of results.md
# The markdown of results.md: the section report.md shows for exp_10 / exp_11_1 (test
# error per model and size) and for exp_10_1 (test error over seeds). Each function turns
# computed tables into text; none touches the disk.

def heading(what: str, runs: Runs, dataset: str = "cifar_10") -> str:
    """'## <what> on CIFAR-10' (CIFAR-100 for exp_12) only when every run recorded the
    official files."""
    from datasets import catalog

    official = data_sources.all_official(runs.opts.values(), dataset)
    return f"## {what}{' on ' + catalog.data_set(dataset).title if official else ''}"


def runs_note(runs: Runs, experiment) -> str:
    """One paragraph saying which runs of the grid the numbers are made of, and on what
    data they were trained and tested."""
    note = (f"{len(runs.table)} of the grid's {report.counted(grid_size(experiment), 'run')} "
            "finished and are evaluated. " + data_sources.data_line(
                "Trained and tested on", dict(zip(runs.table.name, runs.table.data))))
    for names, what in ((runs.unfinished, "Unfinished, left out"),
                        (runs.skipped, "Unreadable, left out"), (runs.missing, "Not started"),
                        (runs.foreign, "Not runs of this grid, ignored")):
        if names:
            note += f" {what}: {report.listed(names)}."
    return note + "\n"


def precision_text(runs: Runs, authors: str = "") -> str:
    """A paragraph saying to how many decimals the tables show errors counted on fewer
    than the full test set ('' on the full test set: the authors' format)."""
    images = fewest_test_images(runs)
    if images >= FULL_TEST_SET:
        return ""
    return f"{digits_note(images, tables.paper_digits(images))}{authors}\n\n"


def differences_text(differences: pd.DataFrame, experiment, digits: int) -> str:
    minimal, baseline = (experiment.display_name(m) for m in min_net_and_baseline(experiment))
    names = f"{minimal} − {baseline}"
    return (f"\n### {minimal} against {baseline}\n\n"
            f"Difference of the last test error, {names}, per size: negative means "
            f"{minimal} has the lower error. The interval is Welch's t-interval over seeds "
            "(unequal variances, df below); with a handful of seeds it is wide, and one "
            "that contains 0 means these seeds cannot tell the two models apart.\n\n"
            + report.markdown_table(tables.differences_table(differences, experiment, names,
                                                             digits)))


def experiment_section(runs: Runs, grouped, differences, experiment, png: str,
                       note: str, digits: int) -> str:
    """results.md of exp_10 and exp_11_1; errors to `digits` (tables.paper_digits)."""
    text = (heading("Test error", runs, experiment.dataset) + "\n\n"
            + report.banner(note)
            + runs_note(runs, experiment) + "\n" + precision_text(runs)
            + "Test error (%) after the last epoch, mean ± std over seeds "
              f"(std with ddof={STD_DDOF}), as in the paper:\n\n"
            + report.markdown_table(tables.paper_table(grouped, experiment, digits))
            + "\nPer model and size, the minimum over epochs (`min_val_er`) and the last "
            "epoch's test error (`last_val_er`):\n\n"
            + report.markdown_table(tables.grouped_table(grouped, experiment, digits)))
    if not differences.empty:
        text += differences_text(differences, experiment, digits)
    return (text + "\n" + report.image_link(png, "test error against parameters")
            + "\nPer run: [results.csv](results.csv); per model and size: "
            "[grouped_results.csv](grouped_results.csv).\n")


def seed_variance_section(runs: Runs, experiment, results_txt: str, ours: dict, reference,
                          png: str, note: str) -> str:
    """results.md of exp_10_1."""
    table, images = runs.table, fewest_test_images(runs)
    models = ", ".join(f"{experiment.display_name(m)} ({m}) {experiment.size_label}={s}"
                       for m, s in table[["model_type", "size"]].drop_duplicates().values)
    per_run = pd.DataFrame({"seed": table.seed,
                            "last_val_er": [error_text(v, images) for v in table.last_val_er],
                            "min_val_er": [error_text(v, images) for v in table.min_val_er]})
    return (heading("Test error over seeds", runs) + f": {models}\n\n"
            + report.banner(note)
            + runs_note(runs, experiment) + "\n"
            + f"Last test error (%) over {report.counted(len(table), 'seed')}, as the "
              "authors computed it ([results.txt](results.txt)) from the runs' test-error "
              "curves stacked as runs x epochs: `Std last` is numpy's std with ddof=0, "
              "`Median min` the minimum over epochs of the per-epoch median:"
            + "\n\n```\n" + results_txt + "```\n\n"
            + f"Our statistics of the same runs (std with ddof={STD_DDOF}; a run's minimum "
              "is its own minimum over epochs):\n\n"
            + precision_text(runs, " (results.txt keeps the authors' three decimals.)")
            + report.markdown_table(tables.statistics_table(ours, tables.paper_digits(images)))
            + "\n"
            + (f"Reference: {reference[1]}.\n\n" if reference else "")
            + (f"The training-error curves leave out {', '.join(runs.no_train_er)}: no "
               "usable `er` in log.json (see the warnings).\n\n" if runs.no_train_er else "")
            + report.markdown_table(per_run) + "\n"
            + report.image_link(png, "training and test error per epoch"))
