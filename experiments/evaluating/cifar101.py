"""A new test set (CIFAR-10.1, Recht et al. 2018): tables, plots and a report section from
the per-run prediction files (robustness/cifar101.py) of an experiment's grid.

Writes under the base folder B, as one set (rendering.report.publish):

  cifar101_results.csv  one row per run: name, model_type, N or L, seed, then for the
                        CIFAR-10 test set (cifar10_) and CIFAR-10.1 (cifar101_) the images
                        n, the test error er in % and the expected calibration error ece
                        in % (experiments.evaluating.calibration), and the gap (CIFAR-10.1
                        error - CIFAR-10 error)
  cifar101_results.md   per model and size: the CIFAR-10 and CIFAR-10.1 errors of the same
                        weights, the gap, and the ECE on both, mean ± std over seeds; the
                        Min-Net - baseline differences with 95 % Welch intervals; the plots
                        (report.md's section)
  images/cifar101_errors.{png,pdf}: CIFAR-10.1 error against CIFAR-10 error, per run
  images/cifar101_reliability_<model>.{png,pdf}: a reliability diagram per model

Only finished runs count: the files of an unfinished run are left out and named.
"""
from pathlib import Path

import pandas as pd

from errors import UserError
from experiments import robustness_suite as suite
from experiments.evaluating import calibration
from experiments.evaluating.result_files import ResultFiles, collect_results, evaluate_files
from experiments.evaluating.result_files import left_out_lines, one_setting
from experiments.evaluating.run_table import FULL_TEST_SET
from experiments.evaluating.seed_statistics import CONFIDENCE, welch_interval
from experiments.evaluating.seed_statistics import min_net_and_baseline
from experiments.grid import Experiment
from experiments.rendering import report, tables
from experiments.rendering.tables import interval_text
from precision import digits_note, error_digits
from robustness.cifar101 import OUTPUT_FOLDER, SETS, output_file, read_predictions

CSV_FILE = "cifar101_results.csv"
SECTION_FILE = suite.CIFAR101.sections[0]     # cifar101_results.md
PLOTS = f"{report.IMAGES}/cifar101_"
OWNED = (CSV_FILE, f"{PLOTS}*.png", f"{PLOTS}*.pdf")
RUN_COLUMNS = ["name", "model_type", "size", "seed"]
CLEAN, NEW = SETS["cifar10"], SETS["cifar101"]
# The per-run measures, in the tables' order: (column, what it is).
MEASURES = (("er_clean", f"{CLEAN} error"), ("er_new", f"{NEW} error"),
            ("gap", f"gap ({NEW} − {CLEAN})"), ("ece_clean", f"ECE {CLEAN}"),
            ("ece_new", f"ECE {NEW}"))


# --------------------------------------------------------------------------- the files

def cifar101_rows(path: Path) -> list:
    """Rows (dataset, n, er, ece, bins) of one file, CIFAR-10 first; a UserError if it
    lacks a test set (an interrupted job's file)."""
    found = read_predictions(path)
    missing = [label for name, label in SETS.items() if name not in found["sets"]]
    if missing:
        raise UserError(f"{path} lacks the {' and '.join(missing)} predictions (an "
                        "interrupted job)")
    rows = []
    for name in ("cifar10", "cifar101"):
        part = found["sets"][name]
        correct = part["predicted"] == part["labels"]
        bins = calibration.calibration_bins(part["confidence"], correct)
        rows.append(dict(dataset=SETS[name], n=len(correct), er=100.0 * (1 - correct.mean()),
                         ece=100.0 * calibration.ece_of_bins(*bins),
                         bins=tuple(tuple(b.tolist()) for b in bins)))
    return rows


def collect_cifar101(experiment: Experiment, base_folder, fix_command: str = "") -> ResultFiles:
    """Rows (name, model_type, size, seed, dataset, n, er, ece, bins) of the finished
    runs' usable files, and the runs left out."""
    found = collect_results(experiment, Path(base_folder),
                            lambda name: [output_file(base_folder, name)], cifar101_rows,
                            RUN_COLUMNS + ["dataset", "n", "er", "ece", "bins"], fix_command)
    return one_setting(found, ["n"], within=["dataset"])   # the same images for every run


# --------------------------------------------------------------------------- the tables

def per_run(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run with both test sets: name, model_type, size, seed, the images
    (n_clean, n_new) and MEASURES."""
    wide = runs.pivot_table(index=RUN_COLUMNS, columns="dataset", values=["n", "er", "ece"],
                            aggfunc="first", sort=False)
    out = pd.DataFrame({f"{what}_{which}": wide[what][dataset]
                        for what in ("n", "er", "ece")
                        for which, dataset in (("clean", CLEAN), ("new", NEW))})
    out["gap"] = out.er_new - out.er_clean
    return out.dropna(subset=["er_clean", "er_new"]).reset_index()


def csv_table(measures: pd.DataFrame) -> pd.DataFrame:
    """cifar101_results.csv's columns: a run, then each test set's n, er and ece, the gap."""
    names = {f"{what}_{which}": f"{prefix}_{what}" for which, prefix in (("clean", "cifar10"),
                                                                          ("new", "cifar101"))
             for what in ("n", "er", "ece")}
    table = measures.rename(columns=names)
    table = table[RUN_COLUMNS + list(names.values()) + ["gap"]]
    return table.astype({"cifar10_n": int, "cifar101_n": int})


def digits_of(measures: pd.DataFrame) -> int:
    """The decimals the fewer images support (CIFAR-10.1's 2,000: two)."""
    return error_digits(int(min(measures.n_clean.min(), measures.n_new.min())))


def summary_table(measures: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per model and size: each measure's mean ± std over seeds (cells), and the seeds."""
    digits = digits_of(measures)
    rows = []
    for (model_type, size), group in measures.groupby(["model_type", "size"]):
        row = {"model_type": model_type, "size": size}
        for column, label in MEASURES:
            v = group[column]
            row[label] = report.mean_std(v.mean(), v.std() if len(v) > 1 else None, digits)
        rows.append(dict(row, seeds=str(len(group))))
    table = tables.by_size_then_model(pd.DataFrame(rows), experiment)
    cells = pd.DataFrame({"Model": [experiment.display_name(m) for m in table.model_type],
                          experiment.size_label: table["size"].astype(str)})
    return pd.concat([cells, table.drop(columns=["model_type", "size"])], axis=1)


def differences(measures: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per size and measure: Min-Net - baseline over seeds, with a Welch interval."""
    pair = min_net_and_baseline(experiment)
    if pair is None:
        return pd.DataFrame()
    rows = []
    for size in experiment.sizes:
        chosen = [measures[(measures.model_type == m) & (measures["size"] == size)] for m in pair]
        if len(chosen[0]) and len(chosen[1]):
            for column, label in MEASURES:
                rows.append(dict(size=size, measure=label,
                                 **welch_interval(chosen[0][column], chosen[1][column])))
    return pd.DataFrame(rows)


def differences_markdown(diffs: pd.DataFrame, experiment: Experiment, digits: int) -> str:
    cells = pd.DataFrame({experiment.size_label: diffs["size"].astype(str),
                          "measure": diffs.measure,
                          f"Min-Net − baseline, {CONFIDENCE:.0%} CI": [
                              interval_text(r, digits) for r in diffs.to_dict("records")]})
    return report.markdown_table(cells)


# --------------------------------------------------------------------------- the plots

def plot_errors(measures: pd.DataFrame, experiment: Experiment, note: str = ""):
    """CIFAR-10.1 error against CIFAR-10 error, one point per run: above the diagonal
    a model loses on the new test set."""
    fig, axes = report.new_figure(width=5.5, height=4.5, note=note)
    ax = axes[0]
    markers = dict(zip(experiment.sizes, "osD^v<>"))
    for (model_type, size), group in measures.groupby(["model_type", "size"]):
        ax.scatter(group.er_clean, group.er_new, s=18, marker=markers.get(size, "o"),
                   color=report.MODEL_COLOURS.get(model_type),
                   label=f"{experiment.display_name(model_type)} {experiment.size_label}={size}")
    low = min(measures.er_clean.min(), measures.er_new.min())
    high = max(measures.er_clean.max(), measures.er_new.max())
    ax.plot([low, high], [low, high], color="black", lw=0.8, ls="--", label="no gap")
    ax.set_xlabel(f"{CLEAN} test error (%)")
    ax.set_ylabel(f"{NEW} test error (%)")
    ax.set_title(f"{experiment.name}: one point per run, the same weights on both", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def plot_reliability(runs: pd.DataFrame, experiment: Experiment, model_type: str,
                     note: str = ""):
    """One model's reliability diagrams on both test sets, a line per size (the images of
    all its seeds together)."""
    fig, axes = report.new_figure(ncols=2, width=4.2, height=4.0, note=note)
    styles = dict(zip(experiment.sizes, ("-", "--", ":", "-.")))
    chosen = runs[runs.model_type == model_type]
    for ax, dataset in zip(axes, (CLEAN, NEW)):
        for size, group in chosen[chosen.dataset == dataset].groupby("size"):
            calibration.plot_reliability(
                ax, calibration.pooled_bins(group.bins), ls=styles.get(size, "-"),
                label=f"{experiment.size_label}={size} ({group.seed.nunique()} seeds)")
        calibration.reliability_axes(
            ax, f"{experiment.display_name(model_type)} on {dataset}")
    return fig


def cifar101_figures(files: report.Outputs, runs, measures, experiment, note) -> list:
    pngs = [files.add_figure(f"{PLOTS}errors", plot_errors(measures, experiment, note))]
    pngs += [files.add_figure(f"{PLOTS}reliability_{model_type}",
                              plot_reliability(runs, experiment, model_type, note))
             for model_type in experiment.models if (runs.model_type == model_type).any()]
    return pngs


# --------------------------------------------------------------------------- the section

def section_text(experiment: Experiment, found: ResultFiles, measures, diffs, pngs: list,
                 note: str, fix_command: str) -> str:
    """cifar101_results.md: the summary, both tables, the plots."""
    runs = found.table
    counts = {d: runs.loc[runs.dataset == d, "n"].max() for d in (CLEAN, NEW)}
    lines = [f"{report.counted(len(measures), 'run')}: "
             f"the same weights on {counts[NEW]:,} {NEW} images and {counts[CLEAN]:,} "
             f"{CLEAN} test images. Errors and the gap in %, ECE ({calibration.N_BINS} "
             "bins, L1) in %, mean ± std over seeds."]
    fewest = int(min(measures.n_clean.min(), measures.n_new.min()))
    if fewest < FULL_TEST_SET:
        lines.append(digits_note(fewest, digits_of(measures)))
    lines += left_out_lines(found, fix_command)
    text = ("## A new test set (CIFAR-10.1)\n\n" + report.banner(note) + "\n".join(lines)
            + f"\n\nTest error, gap and calibration on {CLEAN} and {NEW}:\n\n"
            + report.markdown_table(summary_table(measures, experiment)))
    if not diffs.empty:
        text += ("\nMin-Net − baseline (points; below 0 the Min-Net has the lower error, "
                 f"gap or ECE), {CONFIDENCE:.0%} Welch interval over seeds:\n\n"
                 + differences_markdown(diffs, experiment, digits_of(measures)))
    text += "\n" + "\n".join(report.image_link(png, "CIFAR-10.1 plot") for png in pngs)
    return text + f"\nPer run, both test sets and the gap: [{CSV_FILE}]({CSV_FILE}).\n"


def cifar101_outputs(found: ResultFiles, experiment: Experiment, base_folder: Path,
                     note: str, fix_command: str) -> report.Outputs:
    """Every file of the evaluation, in memory."""
    runs = found.table
    measures = per_run(runs)
    diffs = differences(measures, experiment)
    files = report.Outputs(section=SECTION_FILE, owned=OWNED, note=note)
    table = csv_table(measures)
    percent = [c for c in table.columns if c.endswith(("_er", "_ece")) or c == "gap"]
    files.add_text(CSV_FILE, tables.csv_text(table, experiment, percent))
    pngs = cifar101_figures(files, runs, measures, experiment, note)
    files.text = section_text(experiment, found, measures, diffs, pngs, note, fix_command)
    files.shown = [report.markdown_table(summary_table(measures, experiment)),
                   f"wrote {base_folder / CSV_FILE}, {SECTION_FILE}, {report.REPORT_FILE} "
                   f"and {len(pngs)} plots (PNG and PDF)"]
    return files


def evaluate_cifar101(experiment: Experiment, base_folder, profile: str = None) -> int:
    """The CIFAR-10.1 test's CSV, tables, plots and section (evaluate_files)."""
    return evaluate_files(suite.CIFAR101, experiment, base_folder, profile, collect_cifar101,
                          cifar101_outputs, folder=Path(base_folder) / OUTPUT_FOLDER)
