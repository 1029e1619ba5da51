"""The evaluations' figures. Each function draws one figure from computed numbers and
returns it (rendering.report renders and writes it); a smoke run's figures carry the
smoke note as their title (report.new_figure)."""
import numpy as np
import pandas as pd

from experiments.rendering import report
from experiments.evaluating.seed_statistics import EXTREME_RUN_EPOCHS

# Curves this short are drawn with a marker at every epoch: a one-epoch smoke run's
# curve is a single point, invisible as a line.
MARKED_EPOCHS = 10


def error_vs_params(table: pd.DataFrame, grouped: pd.DataFrame, experiment, note: str = ""):
    """Test error against the number of parameters: every seed, and mean ± std per size."""
    fig, axes = report.new_figure(ncols=2, note=note)
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
                        color=colour, label=experiment.display_name(model_type))
            for _, g in means.iterrows():
                ax.annotate(f"{experiment.size_label}={g['size']}",
                            (g.num_params / 1e3, g[f"{metric}_mean"]), fontsize=7,
                            textcoords="offset points", xytext=(4, 4), color=colour)
        ax.set_xlabel("parameters (thousands)")
        ax.set_ylabel(f"{title} (%)")
        spread = "mean ± std over seeds" if (grouped.runs > 1).any() else "one seed per model"
        ax.set_title(f"{experiment.name}: {title}, {spread}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


CURVE_STYLES = (dict(color="tab:blue", lw=1.4), dict(color="black", lw=1.0, ls="--"),
                dict(color="tab:green", lw=0.8), dict(color="tab:red", lw=0.8))


def _curve_lines(curves: list, shown: slice, extremes: dict) -> dict:
    """label -> values of the lines of one panel: mean, median, the two extreme runs."""
    length = min(len(c) for c in curves)
    stack = np.array([c[:length] for c in curves])[:, shown]
    lines = {"mean": stack.mean(0), "median": np.median(stack, 0)}
    for label, values in extremes.items():
        lines[label] = None if values is None else np.asarray(values)[:length][shown]
    return lines


def error_curves(train_curves: list, test_curves: list, extremes: dict, reference,
                 title: str, note: str = ""):
    """Train and test error per epoch: mean and median over runs, and the two runs of
    `extremes` ({label: (train curve or None, test curve)}). Three panels: training error
    (log scale: it falls from ~60 % to ~0.1 %), test error, and the test error of the
    last quarter of the epochs, where the runs and the reference line can be told apart.
    `train_curves` holds only the runs with a usable training error."""
    fig, axes = report.new_figure(ncols=3, width=4.6, height=4.0, note=note)
    panels = [(axes[0], 0, train_curves, "training error", 0),
              (axes[1], 1, test_curves, "test error", 0),
              (axes[2], 1, test_curves, "test error, last quarter", 3 / 4)]
    for ax, which, curves, what, first in panels:
        left_out = (f" ({len(curves)} of {report.counted(len(test_curves), 'run')})"
                    if len(curves) < len(test_curves) else "")
        ax.set_title(f"{title}: {what}{left_out}", fontsize=9)
        if not curves:
            ax.text(0.5, 0.5, f"no usable {what} in the logs", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        length = min(len(c) for c in curves)
        shown = slice(int(first * length), length)
        epochs = np.arange(length)[shown]
        marker = dict(marker="o", ms=4) if len(epochs) <= MARKED_EPOCHS else {}
        lines = _curve_lines(curves, shown, {k: v[which] for k, v in extremes.items()})
        for (label, values), style in zip(lines.items(), CURVE_STYLES):
            if values is not None:
                ax.plot(epochs, values, label=label, **style, **marker)
        _finish_axes(ax, which, first, np.array([c[:length] for c in curves])[:, shown],
                     reference, what)
    # One legend for the three panels, below them, where it hides no curve.
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize=8, frameon=False)
    return fig


def _finish_axes(ax, which: int, first: float, stack: np.ndarray, reference, what: str):
    if which == 1 and reference is not None:
        ax.axhline(reference[0], color="grey", lw=1.0, ls=":", label=reference[1])
    if which == 0:
        ax.set_yscale("log")
    elif first == 0:  # the first epochs' 50 % and more would flatten everything else
        final = float(np.median(stack[:, -1]))
        low = min(stack.min(), reference[0]) if reference else stack.min()
        ax.set_ylim(0.8 * low, max(min(stack.max(), 3 * final), low) * 1.05)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{what.split(',')[0]} (%)")
    ax.grid(alpha=0.3, which="both")


def extreme_labels(low_seed, high_seed) -> tuple:
    """Legend labels saying which rule picks the two single runs drawn."""
    rule = f"mean test error over the last {EXTREME_RUN_EPOCHS} epochs"
    return (f"min run (seed {low_seed}): lowest {rule}",
            f"max run (seed {high_seed}): highest {rule}")


def mean_and_band(ax, x, values: pd.DataFrame, colour, name: str) -> bool:
    """One model's line: the mean over its seeds (the rows of `values`) with the min–max
    band over them, or its one seed's line without a band. Returns whether a band was
    drawn."""
    seeds = len(values)
    label = f"{name} (one seed)" if seeds == 1 else f"{name} (mean of {seeds})"
    ax.plot(x, values.mean().values, marker="o", ms=3, color=colour, label=label)
    if seeds > 1:
        ax.fill_between(x, values.min().values, values.max().values, color=colour,
                        alpha=0.2, lw=0)
    return seeds > 1


def band_words(banded: bool) -> str:
    """What a plot of mean_and_band lines shows, for its title."""
    return "band = min–max over seeds" if banded else "one seed per model"


def jpeg_size(runs: pd.DataFrame, experiment, size: int, qualities, columns: dict,
              note: str = ""):
    """Error and POCP against JPEG quality for one size: mean over seeds, min–max band
    (mean_and_band). `columns`: {'er': error columns of versions 0–9, 'pocp': POCP
    columns of levels 1–9}."""
    fig, axes = report.new_figure(ncols=2, note=note)
    label = f"{experiment.size_label}={size}"
    panels = [(axes[0], columns["er"], (100,) + tuple(qualities), "test error (%)"),
              (axes[1], columns["pocp"], tuple(qualities), "changed predictions, POCP (%)")]
    for ax, cols, x, ylabel in panels:
        banded = False
        for model_type in experiment.models:
            values = runs.loc[(runs.model_type == model_type) & (runs["size"] == size), cols]
            if not values.empty:
                banded |= mean_and_band(ax, x, values, report.MODEL_COLOURS.get(model_type),
                                        experiment.display_name(model_type))
        ax.set_xlim(102, 8)   # falling quality from left to right
        ax.set_xticks((100,) + tuple(qualities))
        ax.set_xlabel("JPEG quality (100 = original)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{experiment.name}, {label}: {band_words(banded)}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def pocp_vs_error(means: pd.DataFrame, experiment, qualities, error_columns, pocp_columns,
                  note: str = ""):
    """POCP against test error at the quality levels `qualities` (means over seeds), one
    line per model and size from quality 90 (lower left) to 10 (upper right); the points
    of each model's first line are labelled with their quality."""
    fig, axes = report.new_figure(width=6.0, height=4.5, note=note)
    ax = axes[0]
    markers = dict(zip(experiment.sizes, "osD^vP*X"))
    labelled = set()
    for _, row in means.iterrows():
        x, y = [row[c] for c in error_columns], [row[c] for c in pocp_columns]
        colour = report.MODEL_COLOURS.get(row.model_type)
        ax.plot(x, y, marker=markers.get(row["size"], "o"), ms=4, lw=0.8, color=colour,
                label=f"{experiment.display_name(row.model_type)} "
                      f"{experiment.size_label}={row['size']}")
        if row.model_type not in labelled:   # one labelled line per model is readable
            labelled.add(row.model_type)
            for quality, point in zip(qualities, zip(x, y)):
                ax.annotate(str(quality), point, fontsize=6, color=colour,
                            textcoords="offset points", xytext=(3, -8))
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("changed predictions, POCP (%)")
    ax.set_title(f"{experiment.name}: POCP against error, JPEG quality "
                 f"{qualities[0]} … {qualities[-1]} (labelled)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return fig
