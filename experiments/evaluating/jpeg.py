"""Robustness to JPEG compression (docs/reference.md §5): the evaluation of the
exe_*_jpeg_tests scripts.

Reads B/jpeg_model_predictions/<run>.npy (ours or the authors') for every run of the
experiment's grid, and the run's log.json for the error on the uncompressed test set.
Writes under the base folder B, as one set (rendering.report.publish):

  jpeg_results.csv             one row per run: error on every version, POCP per level
  images/er_result_table.txt   LaTeX: Model, N or L, [k,] 100% … 10% — mean test error (%)
  images/nc_result_table.txt   LaTeX: Model, N or L, [k,] 90% … 10% — mean POCP (%)
  jpeg_results.md              both tables in markdown, the plots (report.md's section)
  images/jpeg_<N|L><size>.{png,pdf}, images/jpeg_pocp_vs_error.{png,pdf}

Predictions of the cleaner "rgb" JPEG protocol (B/jpeg_model_predictions_rgb) are
evaluated with `protocol="rgb"` into the same files with an `_rgb` suffix, so neither
overwrites the other. Tables show means over seeds, as the paper's, rounded as the
authors' (half to even); the plots show the spread (min–max) too.
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import run_folder as rf
from datasets.jpeg import QUALITIES
from errors import UserError
from precision import error_text
from experiments import robustness_suite as suite
from experiments.evaluating.data_sources import NOT_RECORDED_FILE, data_line
from experiments.evaluating.result_files import evaluate_files
from experiments.evaluating.run_table import refuse_other_data, test_images, warn
from experiments.rendering import plots, report, tables
from robustness.jpeg import BadPredictions, load_predictions, output_file
from robustness.provenance import read_sidecar


# Test error and POCP per JPEG quality from the prediction files of a grid's runs.
#
# A prediction file (robustness.jpeg; docs/reference.md §5) holds, per test image,
# the label and the predicted class of versions 0–9: the original, then JPEG quality 90 …
# 10 (datasets.jpeg.QUALITIES). POCP, the percentage of changed predictions, is the share
# of test images whose predicted class at a level differs from the prediction on the
# uncompressed image, right or wrong. Nothing here writes a file.

# Largest difference (points of error) between a prediction file's error on the
# uncompressed images and its run's last val_er before the file is taken to be another
# model's. The same weights on the same images agree up to a few near-ties (the numerics
# of another batch size, device or --amp). It catches clearly different models; a run
# retrained with the same options may differ by less (seeds spread by 0.1–0.5 points,
# docs/reference.md §6) and then goes unnoticed.
LOG_TOLERANCE = 0.5


def error_column(quality) -> str:
    return f"er_{quality}"


def pocp_column(quality) -> str:
    return f"pocp_{quality}"


def metric_columns() -> list:
    """The per-run numbers of jpeg_results.csv: test errors and POCP in percent."""
    return (["last_val_er", "er_orig"] + [error_column(q) for q in QUALITIES]
            + [pocp_column(q) for q in QUALITIES])


def jpeg_metrics(array: np.ndarray) -> dict:
    """Test error (%) of versions 0–9 and POCP (%) of levels 1–9 of one prediction array.

    Percentages are counts · 100 / n, so 2,005 wrong of 10,000 is exactly the float
    nearest to 20.05. A bad file is caught by `load_predictions`; predictions of another
    model by `collect_jpeg`, which compares version 0's error with the run's log.
    """
    labels, predictions = array[:, 0], array[:, 1:]
    n = len(labels)
    correct = predictions == labels[:, None]
    errors = 100.0 * (n - correct.sum(axis=0)) / n
    pocp = 100.0 * (predictions[:, 1:] != predictions[:, :1]).sum(axis=0) / n
    return dict(n=n, errors=errors, pocp=pocp)


@dataclass
class RunRecord:
    """What a run folder says about the run a prediction file belongs to."""
    last_val_er: float = math.nan       # the tables' 100% column (NaN: unknown)
    validated_on: int = None            # test images val_er counts (None: unknown)
    unfinished: str = None              # "k/E epochs" when the run is known unfinished


def run_record(folder: Path) -> RunRecord:
    """The run's last test error, on how many images, and whether it is unfinished. A
    missing or unreadable log.json leaves the error unknown (with a warning)."""
    try:
        log = rf.read_log(folder)
    except UserError as e:
        warn(f"{e}; the 100% column leaves this run out")
        return RunRecord()
    try:
        opt = rf.read_opt(folder)
    except UserError:
        opt = None
    record = RunRecord(validated_on=test_images(log, opt))
    val_er = log.get("val_er")
    try:
        record.last_val_er = float(val_er[-1])
        if not math.isfinite(record.last_val_er):
            raise ValueError
    except (TypeError, IndexError, ValueError, KeyError):
        warn(f"{folder / rf.LOG_FILE} has no test error ('val_er'); the 100% column leaves "
             "this run out")
        record.last_val_er = math.nan
    record.unfinished = rf.progress(folder).unfinished or None
    return record


def disagrees_with_log(er_orig: float, record: RunRecord, n: int) -> bool:
    """Whether a prediction file's error on the uncompressed images contradicts the run's
    last test error: only comparable when both count the same test images."""
    return (record.validated_on == n and not math.isnan(record.last_val_er)
            and abs(er_orig - record.last_val_er) > LOG_TOLERANCE)


@dataclass
class JpegRuns:
    """The usable prediction files of a grid, one row each, and those left out."""
    table: pd.DataFrame
    skipped: list = field(default_factory=list)      # unusable files (warned)
    unfinished: list = field(default_factory=list)   # "name (k/E epochs)": left out
    disagreeing: list = field(default_factory=list)  # used, but far from their log


def metrics_row(experiment, point, name: str, metrics: dict, record: RunRecord) -> dict:
    model_type, size, seed = point
    row = dict(name=name, model_type=model_type, model=experiment.display_name(model_type),
               size=size, seed=seed, n=metrics["n"], last_val_er=record.last_val_er,
               er_orig=float(metrics["errors"][0]))
    row.update({error_column(q): e for q, e in zip(QUALITIES, metrics["errors"][1:])})
    row.update({pocp_column(q): p for q, p in zip(QUALITIES, metrics["pocp"])})
    return row


def test_images_of(path: Path) -> str:
    """The data set a prediction file's images came from, in words: its sidecar's."""
    try:
        sidecar = read_sidecar(path) or {}
    except UserError:
        sidecar = {}
    return sidecar.get("data_source") or NOT_RECORDED_FILE


def collect_jpeg(experiment, base_folder: Path, protocol: str = "paper",
                 fix_command: str = "") -> JpegRuns:
    """One row per usable prediction file of the grid. An unusable file is skipped and an
    unfinished run's file left out (both named); a file whose error on the uncompressed
    images disagrees with its run's log is used, with a warning. `fix_command` is the
    command that recomputes a deleted file."""
    from datasets import catalog

    base_folder = Path(base_folder)
    found, rows = JpegRuns(table=pd.DataFrame()), []
    classes = catalog.data_set(experiment.dataset).num_classes
    for point in experiment.points():
        name = experiment.run_name(*point)
        path = output_file(base_folder, name, protocol)
        if not path.is_file():
            continue
        refuse_other_data(experiment, base_folder / rf.EXP_DATA / name)
        try:
            metrics = jpeg_metrics(load_predictions(path, classes))
        except BadPredictions as e:
            warn(f"skipping {path}: it {e}; delete it and recompute it with {fix_command}")
            found.skipped.append(path.name)
            continue
        record = run_record(base_folder / rf.EXP_DATA / name)
        if record.unfinished:
            warn(f"leaving out {path}: its run is unfinished ({record.unfinished}); once it "
                 f"has finished, delete the file and recompute it with {fix_command}")
            found.unfinished.append(f"{name} ({record.unfinished})")
            continue
        row = dict(metrics_row(experiment, point, name, metrics, record),
                   data=test_images_of(path))
        if disagrees_with_log(row["er_orig"], record, metrics["n"]):
            warn(f"{path}: its error on the uncompressed images, "
                 f"{error_text(row['er_orig'], metrics['n'])} %, differs from its run's last "
                 f"test error in log.json, {error_text(record.last_val_er, metrics['n'])} %, "
                 f"by more than {LOG_TOLERANCE} points: the "
                 "predictions are probably from another model (e.g. a run retrained after "
                 f"they were made); delete the file and rerun {fix_command} (used as it is "
                 "for now)")
            found.disagreeing.append(path.name)
        rows.append(row)
    found.table = pd.DataFrame(rows)
    return found


def mean_over_seeds(runs: pd.DataFrame, experiment) -> pd.DataFrame:
    """Per model and size, the mean of every metric over seeds; rows ordered by size,
    then by the experiment's order of models (so compared models sit together)."""
    means = runs.groupby(["model_type", "size"])[metric_columns()].mean()
    means["seeds"] = runs.groupby(["model_type", "size"]).size()
    return tables.by_size_then_model(means.reset_index(), experiment)


# -------------------------------------------------------------- tables, plots, section

def output_names(protocol: str) -> dict:
    """The files one protocol's evaluation writes (the paper's: the authors' names)."""
    suffix = "" if protocol == "paper" else f"_{protocol}"
    return dict(csv=f"jpeg_results{suffix}.csv", section=f"jpeg_results{suffix}.md",
                er=f"{report.IMAGES}/er_result_table{suffix}.txt",
                nc=f"{report.IMAGES}/nc_result_table{suffix}.txt",
                plots=f"{report.IMAGES}/jpeg{suffix}_")


def owned_files(names: dict) -> tuple:
    """Everything one protocol's evaluation writes (the per-size plots by pattern; the
    paper's `jpeg_N9` never matches the rgb protocol's `jpeg_rgb_N9`)."""
    return (names["csv"], names["er"], names["nc"], f"{names['plots']}pocp_vs_error.*",
            f"{names['plots']}[NL][0-9]*.png", f"{names['plots']}[NL][0-9]*.pdf")


def summary_note(found: JpegRuns, means) -> str:
    """Which prediction files the tables are made of."""
    runs = found.table
    counts = sorted(runs.n.unique())
    note = (f"{report.counted(len(runs), 'prediction file')}, " + (
        f"{counts[0]:,} test images each" if len(counts) == 1 else
        f"{counts[0]:,} to {counts[-1]:,} test images (the files do not match!)")
        + "; the tables show means over the seeds counted in their last column. "
        + data_line("Test images", dict(zip(runs.name, runs.data))))
    if found.unfinished:
        note += (" Left out, their runs are unfinished (as in the other tables): "
                 f"{report.listed(found.unfinished)}.")
    if found.skipped:
        note += f" Skipped (see the warnings): {', '.join(found.skipped)}."
    if found.disagreeing:
        note += (" Predictions that disagree with their run's log (error on the uncompressed "
                 f"images more than {LOG_TOLERANCE} points from the last test error, probably "
                 "another model's; used all the same, see the warnings): "
                 f"{', '.join(found.disagreeing)}.")
    return note


def jpeg_section(found: JpegRuns, means, tabled: dict, names: dict, pngs: dict,
                 protocol: str, note: str) -> str:
    """jpeg_results.md: both tables in markdown and the plots."""
    heading = "## Robustness to JPEG compression"
    intro = summary_note(found, means)
    if protocol != "paper":
        heading += f" ({protocol} protocol)"
        intro = (f"JPEG test set of the {protocol} protocol (docs/reference.md §5: standard "
                 "RGB JPEGs, not the authors' OpenCV call on swapped channels), so these "
                 "numbers are not comparable digit for digit with the paper's. " + intro)

    def markdown(table):  # the LaTeX table plus the number of seeds averaged
        return report.markdown_table(table.assign(seeds=means.seeds.values))

    return (heading + "\n\n" + report.banner(note)
            + intro + "\n\n"
            + "Test error (%) on the original test set (100%: the last epoch's test error in "
              f"log.json) and at JPEG quality 90 … 10 ([LaTeX]({names['er']})):\n\n"
            + markdown(tabled["er"])
            + "\nChanged predictions, POCP (%): the share of test images whose prediction at "
              "the quality differs from the prediction on the original "
              f"([LaTeX]({names['nc']})):\n\n" + markdown(tabled["nc"]) + "\n"
            + "".join(report.image_link(png, f"error and POCP against quality, {label}") + "\n"
                      for label, png in pngs.items() if label != "scatter")
            + report.image_link(pngs["scatter"], "POCP against error")
            + f"\nPer run: [{names['csv']}]({names['csv']}).\n")


def jpeg_figures(files: report.Outputs, found: JpegRuns, means, experiment, names: dict,
                 note: str) -> dict:
    """Add the per-size plots and the POCP-against-error plot; {label: PNG path}."""
    runs, label = found.table, experiment.size_label
    columns = dict(er=["er_orig"] + [error_column(q) for q in QUALITIES],
                   pocp=[pocp_column(q) for q in QUALITIES])
    pngs = {f"{label}={size}": files.add_figure(
                f"{names['plots']}{label}{size}",
                plots.jpeg_size(runs, experiment, size, QUALITIES, columns, note))
            for size in experiment.sizes if (runs["size"] == size).any()}
    pngs["scatter"] = files.add_figure(
        f"{names['plots']}pocp_vs_error",
        plots.pocp_vs_error(means, experiment, QUALITIES, columns["er"][1:], columns["pocp"],
                            note))
    return pngs


def jpeg_outputs(found: JpegRuns, experiment, base_folder: Path, protocol: str,
                 note: str) -> report.Outputs:
    """Every file of one protocol's evaluation, in memory."""
    names = output_names(protocol)
    means = mean_over_seeds(found.table, experiment)
    tabled = tables.jpeg_tables(means, experiment, QUALITIES, error_column, pocp_column)
    files = report.Outputs(section=names["section"], owned=owned_files(names), note=note)
    files.add_text(names["csv"], tables.csv_text(found.table, experiment, metric_columns()))
    files.add_text(names["er"], tables.latex_table(tabled["er"], note))
    files.add_text(names["nc"], tables.latex_table(tabled["nc"], note))
    pngs = jpeg_figures(files, found, means, experiment, names, note)
    files.text = jpeg_section(found, means, tabled, names, pngs, protocol, note)
    files.shown = [report.markdown_table(tabled["er"]),
                   f"wrote {base_folder / names['er']}, {Path(names['nc']).name}, "
                   f"{base_folder / names['csv']}, {names['section']}, {report.REPORT_FILE} "
                   f"and {report.counted(len(pngs), 'plot')} (PNG and PDF)"]
    return files


def evaluate_jpeg(experiment, base_folder: Path, protocol: str = "paper",
                  profile: str = None) -> int:
    """The JPEG test's CSV, LaTeX tables, plots and section for one protocol
    (evaluate_files)."""
    return evaluate_files(
        suite.JPEG, experiment, base_folder, profile,
        collect=lambda experiment_, base, fix: collect_jpeg(experiment_, base, protocol, fix),
        build=lambda found, experiment_, base, note, fix: jpeg_outputs(
            found, experiment_, base, protocol, note),
        folder=output_file(base_folder, "-", protocol).parent,
        hint=() if protocol == "paper" else ("--protocol", protocol))
