"""Test errors of an experiment's runs: tables, statistics over seeds, plots, report section.

Reads the run folders of the experiment's grid under B/exp_data — ours, or the authors'
published ones (SPEC §4: their opt.json, and a log.json whose `epoch`, `sec`, `lr` hold two
entries per epoch) — and writes under the base folder B:

  results.csv          one row per finished run (name, model_type, N or L, seed,
                       num_params, min_val_er, last_val_er, epochs, ...)
  grouped_results.csv  per model and size: mean, std, min, max, median of min_val_er and
                       last_val_er, and num_params
  results.md           the paper's mean ± std table, the grouped table, the Min-Net −
                       baseline differences with 95 % confidence intervals, the plots
  images/error_vs_params.{png,pdf}

`evaluate_seed_variance` (exp_10_1) writes results.csv, results.txt with the authors'
labels, results.md and images/error_curves.{png,pdf} instead. Both then rebuild report.md
(experiments.report).

A run counts when its log has as many epochs as its opt.json asked for. Weights are not
needed (numbers come from log.json alone), so a folder whose model.pt was deleted still
counts, and an interrupted run does not.

Spread over seeds is the sample standard deviation (ddof=1, the default of pandas, whose
grouped `std` the tables use). The paper's numbers (SPEC §6) cannot tell ddof 0 from 1:
grid-valued test errors with the printed mean and std exist for either choice
(tests/test_evaluation.py constructs both); ddof=1 is the unbiased estimate of the
variance and the one a Welch interval needs.
"""
import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import atomic_files
import config
from errors import UserError
from experiments import report
from experiments.grid import DISPLAY_NAMES, EXP_DATA, Experiment
import run_folder as rf

STD_DDOF = 1
METRICS = ("min_val_er", "last_val_er")
DIGITS = 3                       # SPEC §6 prints exp_10's errors with three decimals
CONFIDENCE = 0.95

# He et al. (2016), Table 6: ResNet-56 (N = 9) on CIFAR-10, the line in exp_10_1's plot.
HE_ET_AL_RESNET56 = (6.97, "He et al. 2016, ResNet-56: 6.97 %")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def size_label(experiment: Experiment) -> str:
    """What the size is called in this family: blocks per stack N, or DenseNet depth L."""
    return "L" if experiment.family == "densenet" else "N"


def script_hint(experiment: Experiment, pattern: str, fallback: str) -> str:
    """The command of the experiment's script matching `pattern` (to name it in a fix)."""
    folder = config.EXPERIMENTS_FOLDER / experiment.name
    found = sorted(folder.glob(pattern))
    if found:
        return f"python {found[0].relative_to(config.REPO_ROOT).as_posix()}"
    return fallback


# --------------------------------------------------------------------------- reading runs

@dataclass
class Runs:
    """The finished runs of an experiment's grid, and what became of the others."""
    table: pd.DataFrame                             # one row per finished run
    logs: dict = field(default_factory=dict)        # run name -> log.json of finished runs
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


def read_run(folder: Path):
    """(log, its test errors, the epochs opt.json asked for) of a run folder; a UserError
    naming the file when one is malformed."""
    opt, log = rf.read_opt(folder), rf.read_log(folder)  # these name the file themselves
    try:
        val_er = numbers(log, "val_er")
    except UserError as e:
        raise UserError(f"{folder}/{e}") from None
    try:
        asked = int(opt["epochs"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{folder}/opt.json: 'epochs' is missing or not a number") from None
    return log, val_er, asked


def collect_runs(experiment: Experiment, base_folder: Path) -> Runs:
    """One row per finished run of the grid; malformed folders are skipped with a warning."""
    exp_data = Path(base_folder) / EXP_DATA
    runs = Runs(table=pd.DataFrame())
    rows = []
    for model_type in experiment.models:
        for size in experiment.sizes:
            for seed in experiment.seeds:
                name = experiment.run_name(model_type, size, seed)
                folder = exp_data / name
                if not (folder / rf.OPT_FILE).is_file():
                    runs.missing.append(name)
                    continue
                try:
                    log, val_er, asked = read_run(folder)
                except UserError as e:
                    warn(f"skipping {name}: {e}")
                    runs.skipped.append(name)
                    continue
                done = rf.epochs_done(log)
                if done < asked or not val_er:
                    runs.unfinished.append(f"{name} ({done}/{asked} epochs)")
                    continue
                train_er = optional_numbers(
                    log, "er", folder, "its training error (last_train_er, training-error "
                    "curve)")
                sec = optional_numbers(log, "sec", folder, "its training time (hours)")
                if not train_er:
                    runs.no_train_er.append(name)
                rows.append(dict(
                    name=name, model_type=model_type,
                    model=DISPLAY_NAMES.get(model_type, model_type), size=size, seed=seed,
                    num_params=num_params(folder),
                    min_val_er=min(val_er), last_val_er=val_er[-1],
                    min_val_er_epoch=int(np.argmin(val_er)),
                    last_train_er=train_er[-1] if train_er else math.nan,
                    epochs=done,
                    # `sec` holds the train and the test phase of every epoch (SPEC §4).
                    hours=sum(sec) / 3600 if sec is not None else math.nan))
                runs.logs[name] = log
    runs.table = pd.DataFrame(rows)
    if exp_data.is_dir():
        names = {experiment.run_name(m, size, seed) for m in experiment.models
                 for size in experiment.sizes for seed in experiment.seeds}
        runs.foreign = sorted(p.name for p in exp_data.iterdir()
                              if p.is_dir() and p.name not in names)
    return runs


def no_runs_message(experiment: Experiment, base_folder: Path) -> str:
    train = script_hint(experiment, "exe_train_*.py", "the experiment's exe_train script")
    return (f"no finished runs of {experiment.name} in {Path(base_folder) / EXP_DATA}: train "
            f"them first ({train}), or place the authors' runs there with "
            "python exe_move_models_to_exp_folder.py")


def runs_note(runs: Runs, experiment: Experiment) -> str:
    """One paragraph saying which runs of the grid the numbers are made of."""
    total = len(experiment.models) * len(experiment.sizes) * len(experiment.seeds)
    note = f"{len(runs.table)} of the grid's {total} runs finished and are evaluated."

    def listed(names):
        return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")

    if runs.unfinished:
        note += f" Unfinished, left out: {listed(runs.unfinished)}."
    if runs.skipped:
        note += f" Unreadable, left out: {listed(runs.skipped)}."
    if runs.missing:
        note += f" Not started: {listed(runs.missing)}."
    if runs.foreign:
        note += f" Not runs of this grid, ignored: {listed(runs.foreign)}."
    return note + "\n"


def for_csv(table: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """A table as written to a CSV file: the size column named N or L, parameter counts
    as integers (empty where unknown)."""
    return table.rename(columns={"size": size_label(experiment)}).assign(
        num_params=table.num_params.round().astype("Int64"))


# --------------------------------------------------------------------------- statistics

def std(values) -> float:
    """Spread over seeds (see the module docstring for ddof)."""
    return pd.Series(values, dtype=float).std(ddof=STD_DDOF)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per model and size: n runs, num_params and the STATS of min_val_er and last_val_er."""
    groups = table.groupby(["model_type", "size"], sort=False)
    stats = groups[list(METRICS)].agg(["mean", std, "min", "max", "median"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    out = groups.agg(model=("model", "first"), runs=("seed", "size"),
                     num_params=("num_params", "median"))
    return out.join(stats).reset_index()


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method,
    Numerical Recipes §6.4); converges quickly for x < (a + 1) / (a + b + 2)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the CDF of a Beta(a, b) variable at x."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df > 0 degrees of freedom (df need not be whole)."""
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, by bisection on the CDF (scipy is not a dependency;
    torch's StudentT has no icdf)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if student_t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def welch_interval(a, b, confidence: float = CONFIDENCE) -> dict:
    """mean(a) − mean(b) with Welch's t confidence interval (unequal variances).

    Needs at least two values on each side; otherwise the interval is NaN. When both
    samples have no spread the interval collapses to the difference itself.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    difference = a.mean() - b.mean() if len(a) and len(b) else math.nan
    out = dict(difference=difference, ci_low=math.nan, ci_high=math.nan, df=math.nan,
               n_a=len(a), n_b=len(b))
    if len(a) < 2 or len(b) < 2:
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return dict(out, ci_low=difference, ci_high=difference, df=math.inf)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = student_t_quantile(0.5 + confidence / 2.0, dof) * se
    return dict(out, ci_low=difference - half, ci_high=difference + half, df=dof)


def min_net_and_baseline(experiment: Experiment):
    """(Min-Net model, its baseline) when the experiment compares exactly those two."""
    minimal = [m for m in experiment.models if "Min" in m]
    others = [m for m in experiment.models if "Min" not in m]
    if len(minimal) == 1 and len(others) == 1:
        return minimal[0], others[0]
    return None


def min_net_differences(table: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per size: last test error of the Min-Net minus its baseline's, with a Welch CI."""
    pair = min_net_and_baseline(experiment)
    if pair is None or table.empty:
        return pd.DataFrame()
    rows = []
    for size in experiment.sizes:
        last = [table.loc[(table.model_type == m) & (table["size"] == size), "last_val_er"]
                for m in pair]
        if len(last[0]) and len(last[1]):
            rows.append(dict(size=size, **welch_interval(*last)))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- tables

def paper_table(grouped: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """SPEC §6's layout: one row per size, one column per model, last_val_er mean ± std."""
    label = size_label(experiment)
    cells = grouped.assign(cell=[report.mean_std(m, s, DIGITS) for m, s in
                                 zip(grouped.last_val_er_mean, grouped.last_val_er_std)])
    table = cells.pivot(index="size", columns="model_type", values="cell")
    table = table[[m for m in experiment.models if m in table.columns]].fillna("–")
    table.columns = [f"{DISPLAY_NAMES.get(m, m)} ({m})" for m in table.columns]
    return table.reset_index().rename(columns={"size": label})


def grouped_markdown(grouped: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    out = pd.DataFrame({
        "Model": grouped.model, "model_type": grouped.model_type,
        size_label(experiment): grouped["size"], "runs": grouped.runs,
        "params": ["–" if math.isnan(p) else f"{p:,.0f}" for p in grouped.num_params]})
    for metric in METRICS:
        out[f"{metric} mean ± std"] = [report.mean_std(m, s, DIGITS) for m, s in
                                       zip(grouped[f"{metric}_mean"], grouped[f"{metric}_std"])]
        for stat in ("min", "max", "median"):
            out[f"{metric} {stat}"] = [report.number(v, DIGITS)
                                       for v in grouped[f"{metric}_{stat}"]]
    return out


def differences_markdown(differences: pd.DataFrame, experiment: Experiment) -> str:
    minimal, baseline = (DISPLAY_NAMES.get(m, m) for m in min_net_and_baseline(experiment))
    names = f"{minimal} − {baseline}"
    table = pd.DataFrame({
        size_label(experiment): differences["size"],
        "runs (Min / base)": [f"{a} / {b}" for a, b in zip(differences.n_a, differences.n_b)],
        f"{names} (points of error)": [report.number(d, DIGITS) for d in differences.difference],
        f"{CONFIDENCE:.0%} CI (Welch)": [
            "–" if math.isnan(lo) else f"[{lo:.{DIGITS}f}, {hi:.{DIGITS}f}]"
            for lo, hi in zip(differences.ci_low, differences.ci_high)],
        "df": [report.number(d, 1) for d in differences.df]})
    return (f"Difference of the last test error, {names}, per size: negative means "
            f"{minimal} has the lower error. The interval is Welch's t-interval over seeds "
            "(unequal variances, df below); with a handful of seeds it is wide, and one "
            "that contains 0 means these seeds cannot tell the two models apart.\n\n"
            + report.markdown_table(table))


# --------------------------------------------------------------------------- plots

def plot_error_vs_params(table: pd.DataFrame, grouped: pd.DataFrame, experiment: Experiment,
                         stem: Path) -> list:
    """Test error against the number of parameters: every seed, and mean ± std per size."""
    fig, axes = report.new_figure(ncols=2)
    for ax, metric, title in zip(axes, ("last_val_er", "min_val_er"),
                                 ("last test error", "minimum test error")):
        for model_type in experiment.models:
            runs = table[table.model_type == model_type]
            means = grouped[grouped.model_type == model_type].sort_values("num_params")
            if runs.empty:
                continue
            colour = report.MODEL_COLOURS.get(model_type)
            ax.scatter(runs.num_params / 1e3, runs[metric], s=10, alpha=0.35, color=colour)
            ax.errorbar(means.num_params / 1e3, means[f"{metric}_mean"],
                        yerr=means[f"{metric}_std"].fillna(0.0), marker="o", capsize=3,
                        color=colour, label=DISPLAY_NAMES.get(model_type, model_type))
            for _, g in means.iterrows():
                ax.annotate(f"{size_label(experiment)}={g['size']}",
                            (g.num_params / 1e3, g[f"{metric}_mean"]), fontsize=7,
                            textcoords="offset points", xytext=(4, 4), color=colour)
        ax.set_xlabel("parameters (thousands)")
        ax.set_ylabel(f"{title} (%)")
        ax.set_title(f"{experiment.name}: {title}, mean ± std over seeds", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return report.save_figure(fig, stem)


def plot_error_curves(logs: list, best: dict, worst: dict, reference, stem: Path,
                      title: str) -> list:
    """Train and test error per epoch: mean and median over runs, the best and worst run
    (by last test error). Three panels: training error (log scale: it falls from ~60 %
    to ~0.1 %), test error, and the test error of the last quarter of the epochs, where
    the runs and the reference line can be told apart.

    A log whose `er` is unusable (collect_runs has warned) is left out of the training
    panel only; `val_er` is usable in every finished run (read_run checks it)."""
    def curve(log, key):
        try:
            return numbers(log, key) or None
        except UserError:
            return None

    fig, axes = report.new_figure(ncols=3, width=4.6, height=4.0)
    panels = [(axes[0], "er", "training error", 0), (axes[1], "val_er", "test error", 0),
              (axes[2], "val_er", "test error, last quarter", 3 / 4)]
    for ax, key, what, first in panels:
        curves = [c for c in (curve(log, key) for log in logs) if c is not None]
        left_out = f" ({len(curves)} of {len(logs)} runs)" if len(curves) < len(logs) else ""
        ax.set_title(f"{title}: {what}{left_out}", fontsize=9)
        if not curves:
            ax.text(0.5, 0.5, f"no usable '{key}' in the logs", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        length = min(len(c) for c in curves)
        shown = slice(int(first * length), length)
        stack = np.array([c[:length] for c in curves])[:, shown]
        epochs = np.arange(length)[shown]
        lines = {"mean": stack.mean(0), "median": np.median(stack, 0)}
        for run, label in ((best, "best"), (worst, "worst")):
            values = curve(run["log"], key)  # None: not drawn in this panel
            lines[f"{label} run (seed {run['seed']})"] = (
                None if values is None else values[shown])
        for (label, values), style in zip(lines.items(), (
                dict(color="tab:blue", lw=1.4), dict(color="black", lw=1.0, ls="--"),
                dict(color="tab:green", lw=0.8), dict(color="tab:red", lw=0.8))):
            if values is not None:
                ax.plot(epochs, values, label=label, **style)
        if key == "val_er" and reference is not None:
            ax.axhline(reference[0], color="grey", lw=1.0, ls=":", label=reference[1])
        if key == "er":
            ax.set_yscale("log")
        elif first == 0:  # the first epochs' 50 % and more would flatten everything else
            final = float(np.median(stack[:, -1]))
            ax.set_ylim(0.8 * min(stack.min(), reference[0] if reference else stack.min()),
                        min(stack.max(), 3 * final) * 1.05)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{what.split(',')[0]} (%)")
        ax.grid(alpha=0.3, which="both")
    # One legend for the three panels, below them, where it hides no curve.
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncols=5,
               fontsize=8, frameon=False)
    return report.save_figure(fig, stem)


# --------------------------------------------------------------------------- evaluations

def _start(experiment: Experiment, base_folder: Path):
    """Collect the runs; None (after saying why, one line) when there are none."""
    runs = collect_runs(experiment, base_folder)
    if runs.table.empty:
        print(f"error: {no_runs_message(experiment, base_folder)}", file=sys.stderr, flush=True)
        return None
    return runs


def evaluate_experiment(experiment: Experiment, base_folder: Path) -> int:
    """exp_10, exp_11_1: results.csv, grouped_results.csv, results.md, plots, report.md.
    Returns 0, or 1 when there is no finished run to evaluate."""
    base_folder = Path(base_folder)
    runs = _start(experiment, base_folder)
    if runs is None:
        return 1
    table = runs.table
    grouped = summarize(table)
    images = base_folder / report.IMAGES

    atomic_files.write_text(base_folder / "results.csv",
                            for_csv(table, experiment).to_csv(index=False))
    atomic_files.write_text(base_folder / "grouped_results.csv",
                            for_csv(grouped, experiment).to_csv(index=False))
    png, _ = plot_error_vs_params(table, grouped, experiment, images / "error_vs_params")

    text = (f"## Test error on CIFAR-10\n\n{runs_note(runs, experiment)}\n"
            "Test error (%) after the last epoch, mean ± std over seeds "
            f"(std with ddof={STD_DDOF}), as in the paper:\n\n"
            + report.markdown_table(paper_table(grouped, experiment))
            + "\nPer model and size, the minimum over epochs (`min_val_er`) and the last "
            "epoch's test error (`last_val_er`):\n\n"
            + report.markdown_table(grouped_markdown(grouped, experiment)))
    differences = min_net_differences(table, experiment)
    if not differences.empty:
        minimal, baseline = (DISPLAY_NAMES.get(m, m) for m in min_net_and_baseline(experiment))
        text += (f"\n### {minimal} against {baseline}\n\n"
                 + differences_markdown(differences, experiment))
    text += ("\n" + report.image_link(base_folder, png, "test error against parameters")
             + "\nPer run: [results.csv](results.csv); per model and size: "
             "[grouped_results.csv](grouped_results.csv).\n")
    report_path = report.write_section(base_folder, "results.md", text, experiment.name)

    print(report.markdown_table(paper_table(grouped, experiment)))
    print(f"wrote {base_folder / 'results.csv'}, grouped_results.csv, results.md, "
          f"{report_path.name} and {images}/error_vs_params.png/.pdf")
    return 0


def variance_summary(table: pd.DataFrame) -> dict:
    """The statistics of exp_10_1's results.txt, keyed by the authors' labels."""
    last, minimum = table.last_val_er, table.min_val_er
    return {"Median last": last.median(), "Mean last": last.mean(), "Std last": std(last),
            "Min last": last.min(), "Max last": last.max(), "Median min": minimum.median()}


def results_value(value: float, runs: int) -> str:
    """A statistic as results.txt prints it. NaN stays NaN in the computation, but printed
    as 'nan' it reads like a failure; with one run the std is the only statistic that can
    be NaN."""
    if math.isnan(value):
        return "n/a (one run)" if runs == 1 else "n/a"
    return f"{value:.{DIGITS}f}"


def evaluate_seed_variance(experiment: Experiment, base_folder: Path,
                           reference=HE_ET_AL_RESNET56) -> int:
    """exp_10_1: the spread of one model's error over many seeds. Writes results.csv,
    results.txt (the authors' labels), results.md, error curves, report.md."""
    base_folder = Path(base_folder)
    runs = _start(experiment, base_folder)
    if runs is None:
        return 1
    table = runs.table
    summary = variance_summary(table)
    results_txt = "".join(f"{label}: {results_value(value, len(table))}\n"
                          for label, value in summary.items())
    atomic_files.write_text(base_folder / "results.csv",
                            for_csv(table, experiment).to_csv(index=False))
    atomic_files.write_text(base_folder / "results.txt", results_txt)

    def run(row):
        return dict(seed=int(row.seed), log=runs.logs[row["name"]])

    best = run(table.loc[table.last_val_er.idxmin()])
    worst = run(table.loc[table.last_val_er.idxmax()])
    models = ", ".join(f"{DISPLAY_NAMES.get(m, m)} ({m}) {size_label(experiment)}={s}"
                       for m, s in table[["model_type", "size"]].drop_duplicates().values)
    png, _ = plot_error_curves([runs.logs[n] for n in table.name], best, worst, reference,
                               base_folder / report.IMAGES / "error_curves",
                               f"{experiment.name}, {len(table)} runs")

    per_run = pd.DataFrame({"seed": table.seed, "last_val_er": table.last_val_er.map(
        lambda v: f"{v:.2f}"), "min_val_er": table.min_val_er.map(lambda v: f"{v:.2f}")})
    text = (f"## Test error over seeds: {models}\n\n{runs_note(runs, experiment)}\n"
            f"Last test error (%) over {len(table)} seeds (std with ddof={STD_DDOF}); "
            "`Median min` is the median of each run's minimum over epochs "
            "([results.txt](results.txt)):\n\n```\n" + results_txt + "```\n\n"
            + (f"Reference: {reference[1]}.\n\n" if reference else "")
            + (f"The training-error curves leave out {', '.join(runs.no_train_er)}: no "
               "usable `er` in log.json (see the warnings).\n\n" if runs.no_train_er else "")
            + report.markdown_table(per_run) + "\n"
            + report.image_link(base_folder, png, "training and test error per epoch"))
    report_path = report.write_section(base_folder, "results.md", text, experiment.name)

    print(results_txt, end="")
    print(f"wrote {base_folder / 'results.txt'}, results.csv, results.md, {report_path.name} "
          f"and {base_folder / report.IMAGES}/error_curves.png/.pdf")
    return 0


# --------------------------------------------------------------------------- command line

def eval_cli(experiment: Experiment, evaluate, description: str):
    """main(argv) of an exe_eval script: --profile, --base_folder, --debug."""
    def main(argv) -> int:
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--profile", choices=("paper", "smoke"), default="paper",
                            help="which base folder to evaluate (default: paper)")
        parser.add_argument("--base_folder", type=Path, default=None,
                            help="evaluate this folder instead of the profile's "
                                 f"(default: {experiment.base_folder('paper')})")
        parser.add_argument("--debug", action="store_true", help="show full tracebacks")
        args = parser.parse_args(argv)
        base_folder = args.base_folder or experiment.base_folder(args.profile)
        return evaluate(experiment.evaluated_grid(args.profile, base_folder), base_folder)
    return main
