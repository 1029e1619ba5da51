"""Robustness to JPEG compression (SPEC §5): test error and POCP per quality level.

Reads B/jpeg_model_predictions/<run>.npy — ours or the authors' published files: an
integer array (n, 11), column 0 the label, columns 1–10 the predicted class for the
original image (version 0) and its JPEG versions at quality 90, 80, …, 10 (versions 1–9)
— for every run of the experiment's grid, and the run's log.json for the error on the
uncompressed test set. Writes under the base folder B:

  jpeg_results.csv             one row per run: error on every version, POCP per level
  images/er_result_table.txt   LaTeX: Model, N, [k,] 100% … 10% — mean test error (%)
  images/nc_result_table.txt   LaTeX: Model, N, [k,] 90% … 10% — mean POCP (%)
  jpeg_results.md              both tables in markdown, the plots (report.md's section)
  images/jpeg_<N|L><size>.{png,pdf}, images/jpeg_pocp_vs_error.{png,pdf}

Predictions of the cleaner "rgb" JPEG protocol (standard RGB JPEGs, SPEC §5; kept in
B/jpeg_model_predictions_rgb, see predictions.PREDICTIONS_FOLDERS) are evaluated with
`protocol="rgb"` into the same files with an `_rgb` suffix, so neither overwrites the other.

POCP, the percentage of changed predictions, is the share of test images whose predicted
class at a level differs from the prediction on the uncompressed image, right or wrong.
Tables show means over seeds, as the paper's; the plots show the spread (min–max) too.
"""
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import atomic_files
from errors import UserError
from experiments import grid, report
from experiments.predictions import BadPredictions, load_predictions, predictions_file
from experiments.evaluation import script_hint, size_label, warn
from experiments.grid import DENSENET_GROWTH_RATE, DISPLAY_NAMES, Experiment
import run_folder as rf

LEVELS = tuple(range(1, 10))
QUALITIES = tuple(100 - 10 * i for i in LEVELS)   # level i is JPEG quality 100 − 10 i
DIGITS = 1                                        # the paper's JPEG tables: one decimal
CSV_DECIMALS = 4          # jpeg_results.csv: counts of 10,000 images need 2, no float noise
FULL_TEST_SET = 10_000                            # CIFAR-10's test images
# Largest difference (points of error) between a prediction file's error on the
# uncompressed images and its run's last val_er before the file is taken to be another
# model's. The same weights on the same images agree up to a few near-ties (the numerics
# of another batch size, device or --amp). It catches clearly different models; a run
# retrained with the same options may differ by less (seeds spread by 0.1–0.5 points,
# SPEC §6) and then goes unnoticed.
LOG_TOLERANCE = 0.5


def output_names(protocol: str) -> dict:
    """The files one protocol's evaluation writes (the paper's: the authors' names)."""
    suffix = "" if protocol == "paper" else f"_{protocol}"
    return dict(csv=f"jpeg_results{suffix}.csv", section=f"jpeg_results{suffix}.md",
                er=f"er_result_table{suffix}.txt", nc=f"nc_result_table{suffix}.txt",
                plots=f"jpeg{suffix}_")


# --------------------------------------------------------------------------- one file

def jpeg_metrics(array: np.ndarray) -> dict:
    """Test error (%) of versions 0–9 and POCP (%) of levels 1–9 of one prediction array.

    Also checks SPEC §5's bookkeeping at every level, in exact counts: accuracy =
    P(now correct), and original accuracy − P(was correct, now wrong) + P(was wrong, now
    correct) = accuracy. For integer predictions this is an identity, so it only guards
    the arithmetic here (it is cheap); the checks in `load_predictions` catch a bad file,
    and `collect_jpeg` compares version 0's error with the run's log, which catches
    predictions of another model.
    """
    labels, predictions = array[:, 0], array[:, 1:]
    n = len(labels)
    correct = predictions == labels[:, None]
    errors = 100.0 * (1.0 - correct.mean(axis=0))
    was = correct[:, 0]
    for level in LEVELS:
        now = correct[:, level]
        accuracy = 1.0 - errors[level] / 100.0
        lost, gained = int((was & ~now).sum()), int((~was & now).sum())
        consistent = (int(was.sum()) - lost + gained == int(now.sum())
                      and math.isclose(accuracy, now.sum() / n, abs_tol=1e-12))
        if not consistent:
            raise BadPredictions(f"fails the consistency check at level {level}")
    pocp = 100.0 * (predictions[:, 1:] != predictions[:, :1]).mean(axis=0)
    return dict(n=n, errors=errors, pocp=pocp)


def logged_test(folder: Path):
    """(last val_er: the tables' 100% column, the number of test images it was measured
    on) of a run folder.

    The error is NaN (with a warning) when log.json has none. The number is the log's
    last `val_num_samples` (written by the authors' trainer and ours); failing that,
    opt.json's `test_subset` when it is below the full test set (the authors' opt.json
    has none), else 10,000; None when neither file says."""
    try:
        log = rf.read_log(folder)
    except UserError as e:
        warn(f"{e}; the 100% column leaves this run out")
        return math.nan, None
    val_er, counts = log.get("val_er"), log.get("val_num_samples")
    try:
        error = float(val_er[-1])
        if not math.isfinite(error):
            raise ValueError
    except (TypeError, IndexError, ValueError, KeyError):
        warn(f"{folder / rf.LOG_FILE} has no test error ('val_er'); the 100% column leaves "
             "this run out")
        error = math.nan
    count = counts[-1] if isinstance(counts, list) and counts else None
    if isinstance(count, (int, float)) and not isinstance(count, bool) \
            and math.isfinite(count) and count > 0:
        return error, int(count)
    try:
        subset = rf.read_opt(folder).get("test_subset")
    except UserError:
        return error, None
    if isinstance(subset, int) and not isinstance(subset, bool) and 0 < subset < FULL_TEST_SET:
        return error, subset
    return error, FULL_TEST_SET


def disagrees_with_log(er_orig: float, val_er: float, n: int, validated_on) -> bool:
    """Whether a prediction file's error on the uncompressed images contradicts the run's
    last test error: only comparable when both count the same test images."""
    return (validated_on == n and not math.isnan(val_er)
            and abs(er_orig - val_er) > LOG_TOLERANCE)


# --------------------------------------------------------------------------- all files

def error_column(quality) -> str:
    return f"er_{quality}"


def pocp_column(quality) -> str:
    return f"pocp_{quality}"


def collect_jpeg(experiment: Experiment, base_folder: Path, protocol: str = "paper"):
    """(one row per usable prediction file of the grid, names of the files skipped, names
    of the files whose error on the uncompressed images disagrees with their run's log:
    used all the same, with a warning)."""
    base_folder = Path(base_folder)
    rows, skipped, disagreeing = [], [], []
    for model_type in experiment.models:
        for size in experiment.sizes:
            for seed in experiment.seeds:
                name = experiment.run_name(model_type, size, seed)
                path = predictions_file(base_folder, name, protocol)
                if not path.is_file():
                    continue
                try:
                    metrics = jpeg_metrics(load_predictions(path))
                except BadPredictions as e:
                    warn(f"skipping {path}: it {e}")
                    skipped.append(path.name)
                    continue
                val_er, validated_on = logged_test(base_folder / grid.EXP_DATA / name)
                er_orig = float(metrics["errors"][0])
                if disagrees_with_log(er_orig, val_er, metrics["n"], validated_on):
                    rerun = script_hint(experiment, "exe_*jpeg*.py",
                                        "the experiment's exe_*_jpeg_tests script")
                    protocol_option = "" if protocol == "paper" else f" --protocol {protocol}"
                    warn(f"{path}: its error on the uncompressed images, {er_orig:.2f} %, "
                         f"differs from its run's last test error in log.json, "
                         f"{val_er:.2f} %, by more than {LOG_TOLERANCE} points: the "
                         "predictions are probably from another model (e.g. a run retrained "
                         "after they were made); delete the file and rerun "
                         f"{rerun} --run-predictions{protocol_option} (used as it is for now)")
                    disagreeing.append(path.name)
                row = dict(name=name, model_type=model_type,
                           model=DISPLAY_NAMES.get(model_type, model_type), size=size,
                           seed=seed, n=metrics["n"], last_val_er=val_er, er_orig=er_orig)
                row.update({error_column(q): e for q, e in zip(QUALITIES, metrics["errors"][1:])})
                row.update({pocp_column(q): p for q, p in zip(QUALITIES, metrics["pocp"])})
                rows.append(row)
    return pd.DataFrame(rows), skipped, disagreeing


def metric_columns() -> list:
    """The per-run numbers of jpeg_results.csv: test errors and POCP in percent."""
    return (["last_val_er", "er_orig"] + [error_column(q) for q in QUALITIES]
            + [pocp_column(q) for q in QUALITIES])


def mean_over_seeds(runs: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per model and size, the mean of every metric over seeds; rows ordered by size,
    then by the experiment's order of models (so compared models sit together)."""
    means = runs.groupby(["model_type", "size"])[metric_columns()].mean()
    means["seeds"] = runs.groupby(["model_type", "size"]).size()
    order = {m: i for i, m in enumerate(experiment.models)}
    means = means.reset_index()
    means["order"] = means.model_type.map(order)
    return means.sort_values(["size", "order"]).drop(columns="order").reset_index(drop=True)


# --------------------------------------------------------------------------- tables

def key_columns(means: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Model, N [, k]: DenseNets are listed with their depth L as N and growth rate k, as
    in the paper."""
    keys = pd.DataFrame({"Model": [DISPLAY_NAMES.get(m, m) for m in means.model_type],
                         "N": means["size"].astype(str)})
    if experiment.family == "densenet":
        keys["k"] = str(DENSENET_GROWTH_RATE)
    return keys


def result_tables(means: pd.DataFrame, experiment: Experiment) -> dict:
    """{'er': error table, 'nc': POCP table} as text cells (one decimal, '–' if missing)."""
    keys = key_columns(means, experiment)
    er = keys.copy()
    er["100%"] = [report.number(v, DIGITS) for v in means.last_val_er]
    nc = keys.copy()
    for q in QUALITIES:
        er[f"{q}%"] = [report.number(v, DIGITS) for v in means[error_column(q)]]
        nc[f"{q}%"] = [report.number(v, DIGITS) for v in means[pocp_column(q)]]
    return {"er": er, "nc": nc}


def latex_table(table: pd.DataFrame) -> str:
    """A booktabs tabular: text columns left-aligned, numbers right-aligned."""
    text_columns = sum(1 for c in table.columns if c in ("Model", "N", "k"))
    spec = "l" * text_columns + "r" * (len(table.columns) - text_columns)

    def row(cells):
        return " & ".join(str(c).replace("%", r"\%").replace("–", "--") for c in cells) + r" \\"

    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", row(table.columns), r"\midrule"]
    lines += [row(values) for values in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots

def plot_size(runs: pd.DataFrame, experiment: Experiment, size: int, stem: Path) -> list:
    """Error and POCP against JPEG quality for one size: mean over seeds, min–max band."""
    fig, axes = report.new_figure(ncols=2)
    label = f"{size_label(experiment)}={size}"
    panels = [(axes[0], ["er_orig"] + [error_column(q) for q in QUALITIES], (100,) + QUALITIES,
               "test error (%)"),
              (axes[1], [pocp_column(q) for q in QUALITIES], QUALITIES,
               "changed predictions, POCP (%)")]
    for ax, columns, qualities, ylabel in panels:
        for model_type in experiment.models:
            values = runs.loc[(runs.model_type == model_type) & (runs["size"] == size), columns]
            if values.empty:
                continue
            colour = report.MODEL_COLOURS.get(model_type)
            name = DISPLAY_NAMES.get(model_type, model_type)
            ax.plot(qualities, values.mean().values, marker="o", ms=3, color=colour,
                    label=f"{name} (mean of {len(values)})")
            ax.fill_between(qualities, values.min().values, values.max().values,
                            color=colour, alpha=0.2, lw=0)
        ax.set_xlim(102, 8)   # falling quality from left to right
        ax.set_xticks((100,) + QUALITIES)
        ax.set_xlabel("JPEG quality (100 = original)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{experiment.name}, {label}: band = min–max over seeds", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return report.save_figure(fig, stem)


def plot_pocp_vs_error(means: pd.DataFrame, experiment: Experiment, stem: Path) -> list:
    """POCP against test error at the nine quality levels (means over seeds), one line
    per model and size from quality 90 (lower left) to 10 (upper right)."""
    fig, axes = report.new_figure(width=6.0, height=4.5)
    ax = axes[0]
    markers = dict(zip(experiment.sizes, "osD^vP*X"))
    for _, row in means.iterrows():
        ax.plot([row[error_column(q)] for q in QUALITIES], [row[pocp_column(q)] for q in QUALITIES],
                marker=markers.get(row["size"], "o"), ms=4, lw=0.8,
                color=report.MODEL_COLOURS.get(row.model_type),
                label=f"{DISPLAY_NAMES.get(row.model_type, row.model_type)} "
                      f"{size_label(experiment)}={row['size']}")
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("changed predictions, POCP (%)")
    ax.set_title(f"{experiment.name}: POCP against error, JPEG quality 90 … 10", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return report.save_figure(fig, stem)


# --------------------------------------------------------------------------- evaluation

def evaluate_jpeg(experiment: Experiment, base_folder: Path, protocol: str = "paper") -> int:
    """Tables, plots and report section of the JPEG test. Returns 0, or 1 when no usable
    prediction file exists."""
    base_folder = Path(base_folder)
    names = output_names(protocol)
    runs, skipped, disagreeing = collect_jpeg(experiment, base_folder, protocol)
    if runs.empty:
        script = script_hint(experiment, "exe_*jpeg*.py",
                             "the experiment's exe_*_jpeg_tests script")
        folder = predictions_file(base_folder, "-", protocol).parent
        print(f"error: no usable JPEG prediction files of {experiment.name} in {folder}: "
              f"compute them with {script} --run-predictions, or place the authors' files "
              "there with python exe_move_models_to_exp_folder.py", file=sys.stderr, flush=True)
        return 1
    images = base_folder / report.IMAGES
    means = mean_over_seeds(runs, experiment)
    tables = result_tables(means, experiment)
    label = size_label(experiment)

    # Rounded only here, for the file: 100 · (1 − 0.989) prints as 1.0999999999999999.
    csv = runs.round({column: CSV_DECIMALS for column in metric_columns()})
    atomic_files.write_text(base_folder / names["csv"],
                            csv.rename(columns={"size": label}).to_csv(index=False))
    atomic_files.write_text(images / names["er"], latex_table(tables["er"]))
    atomic_files.write_text(images / names["nc"], latex_table(tables["nc"]))
    size_pngs = {f"{label}={size}": plot_size(runs, experiment, size,
                                              images / f"{names['plots']}{label}{size}")[0]
                 for size in experiment.sizes if (runs["size"] == size).any()}
    scatter_png, _ = plot_pocp_vs_error(means, experiment,
                                        images / f"{names['plots']}pocp_vs_error")

    counts = sorted(runs.n.unique())
    note = (f"{len(runs)} prediction files, " + (
        f"{counts[0]:,} test images each" if len(counts) == 1 else
        f"{counts[0]:,} to {counts[-1]:,} test images (the files do not match!)")
        + "; the tables show means over the seeds counted in their last column.")
    if skipped:
        note += f" Skipped (see the warnings): {', '.join(skipped)}."
    if disagreeing:
        note += (" Predictions that disagree with their run's log (error on the uncompressed "
                 f"images more than {LOG_TOLERANCE} points from the last test error, probably "
                 "another model's; used all the same, see the warnings): "
                 f"{', '.join(disagreeing)}.")
    heading = "## Robustness to JPEG compression"
    if protocol != "paper":
        heading += f" ({protocol} protocol)"
        note = (f"JPEG test set of the {protocol} protocol (SPEC §5: standard RGB JPEGs, not "
                "the authors' OpenCV call on swapped channels), so these numbers are not "
                "comparable digit for digit with the paper's. " + note)

    def markdown(table):  # the LaTeX table plus the number of seeds averaged
        return report.markdown_table(table.assign(seeds=means.seeds.values))

    text = (heading + "\n\n" + note + "\n\n"
            "Test error (%) on the original test set (100%: the last epoch's test error in "
            "log.json) and at JPEG quality 90 … 10 "
            f"([LaTeX]({report.IMAGES}/{names['er']})):\n\n" + markdown(tables["er"])
            + "\nChanged predictions, POCP (%): the share of test images whose prediction at "
            "the quality differs from the prediction on the original "
            f"([LaTeX]({report.IMAGES}/{names['nc']})):\n\n" + markdown(tables["nc"])
            + "\n" + "".join(report.image_link(base_folder, png, f"error and POCP against "
                                                             f"quality, {size}") + "\n"
                             for size, png in size_pngs.items())
            + report.image_link(base_folder, scatter_png, "POCP against error")
            + f"\nPer run: [{names['csv']}]({names['csv']}).\n")
    report_path = report.write_section(base_folder, names["section"], text, experiment.name)

    print(report.markdown_table(tables["er"]))
    print(f"wrote {images / names['er']}, {names['nc']}, {base_folder / names['csv']}, "
          f"{names['section']}, {report_path.name} and {len(size_pngs) + 1} plots (PNG and PDF)")
    return 0
