"""Calibration: are a model's confidences honest? The expected calibration error (ECE) of
top-1 confidences, its Min-Net - baseline comparison, and reliability diagrams.

ECE (Naeini et al. 2015; Guo et al. 2017): the images are put into 15 equal-width bins of
their top-1 confidence (the softmax probability of the predicted class), and the ECE is
the mean over bins of |accuracy - mean confidence|, weighted by the bins' shares of the
images (the L1 norm). The bins are left-closed, [k/15, (k+1)/15), and a confidence of
exactly 1 (float32 softmax saturates) has a slot of its own, as torchmetrics'
multiclass_calibration_error(n_bins=15, norm='l1') bins them; tests/test_evaluating_
calibration.py checks the two agree. The tables give it in % (100 x the fraction).

The per-run files keep each image's predicted class and confidence (the corruption and
CIFAR-10.1 tests); files written before confidences were kept have none, and their
calibration cells say "not recorded".
"""
import numpy as np
import pandas as pd

from datasets.cifar10c import CORRUPTIONS, SEVERITIES, severity_rows
from experiments.evaluating.seed_statistics import welch_interval
from experiments.evaluating.seed_statistics import min_net_and_baseline
from experiments.rendering import report, tables
from experiments.rendering.tables import interval_text

N_BINS = 15
NOT_RECORDED = "not recorded"


def bin_edges(n_bins: int = N_BINS) -> np.ndarray:
    """The n_bins + 1 bin edges 0 ... 1 in float32, bit for bit those of torchmetrics
    (torch.linspace(0, 1, n_bins + 1) on the CPU: the first half counted up from 0, the
    second down from 1, each edge rounded once, as a fused multiply-add does), without
    importing torch in the evaluation. tests/test_evaluating_calibration.py compares them."""
    step = np.float32(1) / np.float32(n_bins)
    index = np.arange(n_bins + 1)
    up = (np.float64(step) * index).astype(np.float32)
    down = (1.0 - np.float64(step) * (n_bins - index)).astype(np.float32)
    return np.where(index < (n_bins + 1) // 2, up, down)


def calibration_bins(confidence, correct, n_bins: int = N_BINS) -> tuple:
    """(images, sum of confidences, correct predictions) per bin: n_bins + 1 slots, the
    last one for confidences of exactly 1. Binned in float32 as torchmetrics does, so
    that a confidence on a boundary falls on the same side; summed in float64."""
    confidence = np.asarray(confidence, dtype=np.float32)
    # Left-closed bins: an edge belongs to the bin above it (torch.bucketize, right=True).
    slots = np.searchsorted(bin_edges(n_bins), confidence, side="right") - 1
    counts = np.bincount(slots, minlength=n_bins + 1)
    sums = np.bincount(slots, weights=confidence.astype(np.float64), minlength=n_bins + 1)
    hits = np.bincount(slots, weights=np.asarray(correct, dtype=np.float64),
                       minlength=n_bins + 1)
    return counts, sums, hits


def ece_of_bins(counts, sums, hits) -> float:
    """The ECE (a fraction) of binned images: sum over bins of |hits - sums| / images."""
    counts, sums, hits = (np.asarray(a, dtype=np.float64) for a in (counts, sums, hits))
    return float(np.abs(hits - sums).sum() / counts.sum()) if counts.sum() else float("nan")


def expected_calibration_error(confidence, correct, n_bins: int = N_BINS) -> float:
    """The ECE (a fraction, 0 to 1) of top-1 `confidence`s and whether each prediction
    was `correct`."""
    return ece_of_bins(*calibration_bins(confidence, correct, n_bins))


def ece_percent(confidence, predicted, labels) -> float:
    """The ECE in % of one set of predictions (NaN when no confidence was recorded)."""
    if confidence is None:
        return float("nan")
    return 100.0 * expected_calibration_error(confidence, np.asarray(predicted) == labels)


# --------------------------------------------------------------------- Min-Net vs baseline

def ece_differences(per_run: pd.DataFrame, experiment, by: list) -> pd.DataFrame:
    """Per size and each group of the columns `by`: Min-Net - baseline ECE over seeds
    (`per_run`: one row per run and group, column 'ece'), with a Welch interval."""
    pair = min_net_and_baseline(experiment)
    per_run = per_run.dropna(subset=["ece"])
    if pair is None or per_run.empty:
        return pd.DataFrame()
    rows = []
    for keys, group in per_run.groupby(["size"] + by, sort=False):
        values = [group.loc[group.model_type == m, "ece"] for m in pair]
        if len(values[0]) and len(values[1]):
            rows.append(dict(zip(["size"] + by, keys), **welch_interval(*values)))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- reliability diagram

def pooled_bins(bins_column) -> tuple:
    """The bins of several runs' images together (a column of calibration_bins tuples)."""
    arrays = [np.asarray(b, dtype=np.float64) for b in bins_column]
    return tuple(np.sum(arrays, axis=0)) if arrays else ()


def plot_reliability(ax, bins: tuple, label: str, **style) -> None:
    """Accuracy against mean confidence per bin (bins with images only); the slot of
    confidence 1 is drawn with the last bin."""
    counts, sums, hits = (np.asarray(a, dtype=np.float64).copy() for a in bins)
    for a in (counts, sums, hits):
        a[-2] += a[-1]
    shown = counts[:-1] > 0
    ax.plot(sums[:-1][shown] / counts[:-1][shown], hits[:-1][shown] / counts[:-1][shown],
            marker="o", ms=3, label=label, **style)


def reliability_axes(ax, title: str) -> None:
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="calibrated")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"confidence (mean per bin, {N_BINS} bins)")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


# --------------------------------------------------------------------- common corruptions

def corruption_ece(found: dict, corruption: str, severity: int) -> float:
    """The ECE in % of one corruption and severity of a read corruption prediction file
    (robustness.corruptions.read_predictions); NaN when its confidences were not kept."""
    confidence = found["confidences"].get(corruption)
    rows = severity_rows(found["n"], severity)
    return ece_percent(None if confidence is None else confidence[rows],
                       found["predictions"][corruption][rows], found["labels"][rows])


def _mean_table(per_run: pd.DataFrame, experiment, column: str, order, digits: int) -> str:
    """Per model and size (rows), the mean ECE over seeds per value of `column` (in the
    order of `order`)."""
    table = per_run.pivot_table(index=["model_type", "size"], columns=column, values="ece",
                                aggfunc="mean", sort=False)
    table = table[[c for c in order if c in table.columns]]
    table.columns = [str(c) for c in table.columns]
    table["seeds"] = per_run.groupby(["model_type", "size"]).seed.nunique()
    table = tables.by_size_then_model(table.reset_index(), experiment)
    cells = pd.DataFrame({"Model": [experiment.display_name(m) for m in table.model_type],
                          experiment.size_label: table["size"].astype(str)})
    for name in table.columns.drop(["model_type", "size", "seeds"]):
        cells[name] = [report.number(v, digits) for v in table[name]]
    cells["seeds"] = table["seeds"].astype(int).astype(str)
    return report.markdown_table(cells)


def corruption_calibration_text(runs: pd.DataFrame, experiment, fix_command: str,
                                digits: int) -> str:
    """The corruption section's calibration part: ECE (%) per severity (mean over the
    corruptions every run has) and per corruption (mean over severities), Min-Net -
    baseline per severity with Welch intervals; the runs whose files kept no
    confidences are named, with the command that computes them again."""
    head = "### Calibration under corruption (expected calibration error)\n\n"
    recorded = runs.dropna(subset=["ece"])
    unrecorded = sorted(set(runs.name) - set(recorded.name))
    whose = (f"for {report.listed(unrecorded)}" if len(recorded)
             else f"({report.counted(len(unrecorded), 'run')})")
    why = (f"Calibration {NOT_RECORDED} {whose}: their files were written before the test "
           "kept each image's confidence; compute them again with "
           f"{fix_command}.\n") if unrecorded else ""
    if recorded.empty:
        return head + why
    common = set.intersection(*recorded.groupby("name").corruption.apply(set))
    recorded = recorded[recorded.corruption.isin(common)]
    per_severity = recorded.groupby(["model_type", "size", "seed", "severity"],
                                    as_index=False).ece.mean()
    overall = recorded.groupby(["model_type", "size", "seed"], as_index=False).ece.mean()
    per_severity = pd.concat([per_severity, overall.assign(severity="all")])
    per_corruption = recorded.groupby(["model_type", "size", "seed", "corruption"],
                                      as_index=False).ece.mean()
    text = (head + why + "The clean test set's ECE, from the same weights, is in the CIFAR-10.1 "
            f"section.\n\nECE (%, {N_BINS} bins) per severity, mean over {len(common)} "
            "corruptions and the seeds:\n\n"
            + _mean_table(per_severity, experiment, "severity", SEVERITIES + ("all",), digits)
            + "\nECE (%) per corruption, mean over the severities and the seeds:\n\n"
            + _mean_table(per_corruption, experiment, "corruption", CORRUPTIONS, digits))
    diffs = ece_differences(per_severity, experiment, ["severity"])
    if not diffs.empty:
        cells = pd.DataFrame({experiment.size_label: diffs["size"].astype(str),
                              "severity": diffs.severity.astype(str),
                              "Min-Net − baseline ECE, 95% CI": [
                                  interval_text(r, digits) for r in diffs.to_dict("records")]})
        text += ("\nMin-Net − baseline ECE (points; below 0 the Min-Net is better "
                 "calibrated), Welch interval over seeds:\n\n" + report.markdown_table(cells))
    return text
