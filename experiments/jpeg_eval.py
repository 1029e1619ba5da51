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
B/jpeg_model_predictions_rgb, see grid.PREDICTIONS_FOLDERS) are evaluated with
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
from experiments.evaluation import script_hint, size_label, warn
from experiments.grid import DENSENET_GROWTH_RATE, DISPLAY_NAMES, Experiment
from training import run_folder as rf

LEVELS = tuple(range(1, 10))
QUALITIES = tuple(100 - 10 * i for i in LEVELS)   # level i is JPEG quality 100 − 10 i
NUM_CLASSES = 10
DIGITS = 1                                        # the paper's JPEG tables: one decimal


def output_names(protocol: str) -> dict:
    """The files one protocol's evaluation writes (the paper's: the authors' names)."""
    suffix = "" if protocol == "paper" else f"_{protocol}"
    return dict(csv=f"jpeg_results{suffix}.csv", section=f"jpeg_results{suffix}.md",
                er=f"er_result_table{suffix}.txt", nc=f"nc_result_table{suffix}.txt",
                plots=f"jpeg{suffix}_")


class BadPredictions(UserError):
    """A prediction file that cannot be used; the message says why."""


# --------------------------------------------------------------------------- one file

def load_predictions(path: Path) -> np.ndarray:
    """The (n, 11) integer array of a prediction file, checked; BadPredictions if not."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BadPredictions(f"cannot be read as a .npy array ({e})") from None
    return check_predictions(array)


def check_predictions(array: np.ndarray) -> np.ndarray:
    """`array` if it is an (n, 11) array of class indices; BadPredictions if not."""
    if array.ndim != 2 or array.shape[1] != 11 or array.shape[0] == 0:
        raise BadPredictions(f"has shape {array.shape}, expected (n, 11): the label and "
                             "the predictions for versions 0–9")
    if not np.issubdtype(array.dtype, np.integer):
        raise BadPredictions(f"has dtype {array.dtype}, expected integer class indices")
    if array.min() < 0 or array.max() >= NUM_CLASSES:
        raise BadPredictions(f"holds values outside the classes 0–{NUM_CLASSES - 1}")
    return array


def jpeg_metrics(array: np.ndarray) -> dict:
    """Test error (%) of versions 0–9 and POCP (%) of levels 1–9 of one prediction array.

    Also checks SPEC §5's bookkeeping at every level, in exact counts: accuracy =
    P(now correct), and original accuracy − P(was correct, now wrong) + P(was wrong, now
    correct) = accuracy. For integer predictions this is an identity, so it guards the
    arithmetic here; the checks in `load_predictions` are what catch a bad file.
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


def last_val_er(folder: Path) -> float:
    """The run's last test error from its log.json (the tables' 100% column), or NaN."""
    try:
        val_er = rf.read_log(folder).get("val_er")
        return float(val_er[-1])
    except UserError as e:
        warn(f"{e}; the 100% column leaves this run out")
    except (TypeError, IndexError, ValueError, AttributeError):
        warn(f"{folder / rf.LOG_FILE} has no test error ('val_er'); the 100% column leaves "
             "this run out")
    return math.nan


# --------------------------------------------------------------------------- all files

def error_column(quality) -> str:
    return f"er_{quality}"


def pocp_column(quality) -> str:
    return f"pocp_{quality}"


def collect_jpeg(experiment: Experiment, base_folder: Path, protocol: str = "paper"):
    """(one row per usable prediction file of the grid, names of the files skipped)."""
    base_folder = Path(base_folder)
    rows, skipped = [], []
    for model_type in experiment.models:
        for size in experiment.sizes:
            for seed in experiment.seeds:
                name = experiment.run_name(model_type, size, seed)
                path = grid.predictions_file(base_folder, name, protocol)
                if not path.is_file():
                    continue
                try:
                    metrics = jpeg_metrics(load_predictions(path))
                except BadPredictions as e:
                    warn(f"skipping {path}: it {e}")
                    skipped.append(path.name)
                    continue
                row = dict(name=name, model_type=model_type,
                           model=DISPLAY_NAMES.get(model_type, model_type), size=size,
                           seed=seed, n=metrics["n"],
                           last_val_er=last_val_er(base_folder / grid.EXP_DATA / name),
                           er_orig=metrics["errors"][0])
                row.update({error_column(q): e for q, e in zip(QUALITIES, metrics["errors"][1:])})
                row.update({pocp_column(q): p for q, p in zip(QUALITIES, metrics["pocp"])})
                rows.append(row)
    return pd.DataFrame(rows), skipped


def mean_over_seeds(runs: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per model and size, the mean of every metric over seeds; rows ordered by size,
    then by the experiment's order of models (so compared models sit together)."""
    numeric = ["last_val_er", "er_orig"] + [error_column(q) for q in QUALITIES] + \
              [pocp_column(q) for q in QUALITIES]
    means = runs.groupby(["model_type", "size"])[numeric].mean()
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
    runs, skipped = collect_jpeg(experiment, base_folder, protocol)
    if runs.empty:
        script = script_hint(experiment, "exe_*jpeg*.py",
                             "the experiment's exe_*_jpeg_tests script")
        folder = grid.predictions_file(base_folder, "-", protocol).parent
        print(f"error: no usable JPEG prediction files of {experiment.name} in {folder}: "
              f"compute them with {script} --run-predictions, or place the authors' files "
              "there with python exe_move_models_to_exp_folder.py", file=sys.stderr, flush=True)
        return 1
    images = base_folder / report.IMAGES
    means = mean_over_seeds(runs, experiment)
    tables = result_tables(means, experiment)
    label = size_label(experiment)

    atomic_files.write_text(base_folder / names["csv"],
                            runs.rename(columns={"size": label}).to_csv(index=False))
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
