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
sections) in memory, and only then writes its files as one set (outputs.publish).
"""
from pathlib import Path

from errors import UserError
from experiments import commands, outputs, plots, report, sections, tables
from experiments import seed_statistics as stats
from experiments.grid import EXP_DATA, Experiment
from experiments.run_table import Runs, collect_runs, numbers, run_scope

# He et al. (2016), Table 6: ResNet-56 (N = 9) on CIFAR-10, the line in exp_10_1's plot.
HE_ET_AL_RESNET56 = (6.97, "He et al. 2016, ResNet-56: 6.97 %")

# The test and training errors of results.csv, in percent.
PERCENT_COLUMNS = stats.METRICS + ("last_train_er",)
# What each evaluation owns in the base folder (removed before it writes its new set).
EXPERIMENT_FILES = ("results.csv", "grouped_results.csv", f"{report.IMAGES}/error_vs_params.*")
SEED_VARIANCE_FILES = ("results.csv", "results.txt", f"{report.IMAGES}/error_curves.*")


def no_runs_message(experiment: Experiment, base_folder: Path, profile: str) -> str:
    train = commands.command(experiment, "train", profile, base_folder)
    return (f"no finished runs of {experiment.name} in {Path(base_folder) / EXP_DATA}: train "
            f"them first with {train}, or place the authors' runs there with "
            f"{commands.MOVE_AUTHORS_RUNS}")


def _start(experiment: Experiment, base_folder: Path, profile) -> tuple:
    """(the runs, the smoke note of their outputs); a UserError when none finished."""
    profile = profile or commands.infer_profile(experiment, base_folder)
    runs = collect_runs(experiment, base_folder)
    if runs.table.empty:
        raise UserError(no_runs_message(experiment, base_folder, profile))
    return runs, report.smoke_note(run_scope(experiment, base_folder, runs.table.name))


def evaluate_experiment(experiment: Experiment, base_folder: Path, profile: str = None) -> int:
    """exp_10, exp_11_1: results.csv, grouped_results.csv, results.md, the plot,
    report.md. `profile` (default: inferred from the folder) is named in the hints.
    Returns 0; a UserError when no run has finished."""
    base_folder = Path(base_folder)
    runs, note = _start(experiment, base_folder, profile)
    grouped = stats.summarize(runs.table)
    differences = stats.min_net_differences(runs.table, experiment)

    files = outputs.Outputs(section="results.md", owned=EXPERIMENT_FILES)
    files.add_text("results.csv", tables.csv_text(runs.table, experiment, PERCENT_COLUMNS))
    files.add_text("grouped_results.csv", tables.csv_text(
        grouped, experiment, [c for c in grouped.columns if c.startswith(stats.METRICS)]))
    png = files.add_figure(f"{report.IMAGES}/error_vs_params",
                           plots.error_vs_params(runs.table, grouped, experiment, note))
    text = sections.experiment_section(runs, grouped, differences, experiment, png, note)
    report_path = outputs.publish(files, base_folder, text, experiment.name, note)

    report.show(report.markdown_table(tables.paper_table(grouped, experiment)))
    report.show(f"wrote {base_folder / 'results.csv'}, grouped_results.csv, results.md, "
                f"{report_path.name} and {base_folder / report.IMAGES}/error_vs_params.png/.pdf")
    return 0


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
    runs, note = _start(experiment, base_folder, profile)
    val_er = stats.stacked_curves(_curves(runs, "val_er"))
    results_txt = tables.results_txt(stats.authors_variance_summary(val_er), len(runs.table))

    files = outputs.Outputs(section="results.md", owned=SEED_VARIANCE_FILES)
    files.add_text("results.csv", tables.csv_text(runs.table, experiment, PERCENT_COLUMNS))
    files.add_text("results.txt", results_txt)
    png = files.add_figure(f"{report.IMAGES}/error_curves",
                           seed_variance_figure(runs, experiment, reference, note))
    text = sections.seed_variance_section(runs, experiment, results_txt,
                                          stats.our_variance_summary(runs.table), reference,
                                          png, note)
    report_path = outputs.publish(files, base_folder, text, experiment.name, note)

    report.show(results_txt.rstrip("\n"))
    report.show(f"wrote {base_folder / 'results.txt'}, results.csv, results.md, "
                f"{report_path.name} and {base_folder / report.IMAGES}/error_curves.png/.pdf")
    return 0
