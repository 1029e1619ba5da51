"""The markdown of results.md: the section report.md shows for exp_10 / exp_11_1 (test
error per model and size) and for exp_10_1 (test error over seeds). Each function turns
computed tables into text; none touches the disk."""
import pandas as pd

from experiments import report, tables
from experiments.grid import DISPLAY_NAMES
from experiments.run_table import Runs, grid_size, size_label
from experiments.seed_statistics import STD_DDOF, min_net_and_baseline


def runs_note(runs: Runs, experiment) -> str:
    """One paragraph saying which runs of the grid the numbers are made of."""
    note = (f"{len(runs.table)} of the grid's {report.counted(grid_size(experiment), 'run')} "
            "finished and are evaluated.")
    for names, what in ((runs.unfinished, "Unfinished, left out"),
                        (runs.skipped, "Unreadable, left out"), (runs.missing, "Not started"),
                        (runs.foreign, "Not runs of this grid, ignored")):
        if names:
            note += f" {what}: {report.listed(names)}."
    return note + "\n"


def differences_text(differences: pd.DataFrame, experiment) -> str:
    minimal, baseline = (DISPLAY_NAMES.get(m, m) for m in min_net_and_baseline(experiment))
    names = f"{minimal} − {baseline}"
    return (f"\n### {minimal} against {baseline}\n\n"
            f"Difference of the last test error, {names}, per size: negative means "
            f"{minimal} has the lower error. The interval is Welch's t-interval over seeds "
            "(unequal variances, df below); with a handful of seeds it is wide, and one "
            "that contains 0 means these seeds cannot tell the two models apart.\n\n"
            + report.markdown_table(tables.differences_table(differences, experiment, names)))


def experiment_section(runs: Runs, grouped, differences, experiment, png: str,
                       note: str) -> str:
    """results.md of exp_10 and exp_11_1."""
    text = (f"## Test error on CIFAR-10\n\n"
            + (f"**{report.with_note('', note).strip()}**\n\n" if note else "")
            + runs_note(runs, experiment) + "\n"
            + report.with_note("Test error (%) after the last epoch, mean ± std over seeds "
                               f"(std with ddof={STD_DDOF}), as in the paper:", note)
            + "\n\n" + report.markdown_table(tables.paper_table(grouped, experiment))
            + "\nPer model and size, the minimum over epochs (`min_val_er`) and the last "
            "epoch's test error (`last_val_er`):\n\n"
            + report.markdown_table(tables.grouped_table(grouped, experiment)))
    if not differences.empty:
        text += differences_text(differences, experiment)
    return (text + "\n" + report.image_link(png, "test error against parameters")
            + "\nPer run: [results.csv](results.csv); per model and size: "
            "[grouped_results.csv](grouped_results.csv).\n")


def seed_variance_section(runs: Runs, experiment, results_txt: str, ours: dict, reference,
                          png: str, note: str) -> str:
    """results.md of exp_10_1."""
    table = runs.table
    models = ", ".join(f"{DISPLAY_NAMES.get(m, m)} ({m}) {size_label(experiment)}={s}"
                       for m, s in table[["model_type", "size"]].drop_duplicates().values)
    per_run = pd.DataFrame({"seed": table.seed,
                            "last_val_er": table.last_val_er.map(lambda v: f"{v:.2f}"),
                            "min_val_er": table.min_val_er.map(lambda v: f"{v:.2f}")})
    return (f"## Test error over seeds: {models}\n\n"
            + (f"**{report.with_note('', note).strip()}**\n\n" if note else "")
            + runs_note(runs, experiment) + "\n"
            + report.with_note(
                f"Last test error (%) over {report.counted(len(table), 'seed')}, as the "
                "authors computed it ([results.txt](results.txt)) from the runs' test-error "
                "curves stacked as runs x epochs: `Std last` is numpy's std with ddof=0, "
                "`Median min` the minimum over epochs of the per-epoch median:", note)
            + "\n\n```\n" + results_txt + "```\n\n"
            + f"Our statistics of the same runs (std with ddof={STD_DDOF}; a run's minimum "
              "is its own minimum over epochs):\n\n"
            + report.markdown_table(tables.statistics_table(ours)) + "\n"
            + (f"Reference: {reference[1]}.\n\n" if reference else "")
            + (f"The training-error curves leave out {', '.join(runs.no_train_er)}: no "
               "usable `er` in log.json (see the warnings).\n\n" if runs.no_train_er else "")
            + report.markdown_table(per_run) + "\n"
            + report.image_link(png, "training and test error per epoch"))
