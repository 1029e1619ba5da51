"""The evaluations' tables as text: CSV files, markdown cells, LaTeX, results.txt.

Every function here turns computed numbers into text; none reads or writes a file.
Where one of our files stands in for one of the authors' (exp_10_1's results.txt, the
JPEG tables er_result_table.txt and nc_result_table.txt), numbers are rounded by the
authors' rule, numpy's half to even (seed_statistics.round_half_even), before printing.
"""
import math

import pandas as pd

from experiments.rendering import report
from experiments.grid import DENSENET_GROWTH_RATE
from experiments.evaluating.run_table import FULL_TEST_SET
from experiments.evaluating.seed_statistics import CONFIDENCE, METRICS, round_half_even
from precision import error_digits

DIGITS = 3                 # docs/reference.md §6 prints exp_10's errors with three decimals
JPEG_DIGITS = 1            # the paper's JPEG tables: one decimal
GROWTH_RATE_HEADER = "k"   # the paper's name for a DenseNet's growth rate in its tables
# CSV files: percentages of 10,000 test images need 2 decimals, their means a few more;
# beyond 4 there is only float noise (100 · (1 − 0.834) = 16.599999999999994). Other
# numbers (hours) keep 10 significant digits, which drops the noise of the last bits.
CSV_DECIMALS = 4
CSV_FLOAT_FORMAT = "%.10g"


def by_size_then_model(table: pd.DataFrame, experiment) -> pd.DataFrame:
    """Rows ordered by size, then by the experiment's order of models, so that the models
    compared sit together."""
    order = {m: i for i, m in enumerate(experiment.models)}
    ordered = table.assign(order=table.model_type.map(order))
    return ordered.sort_values(["size", "order"]).drop(columns="order").reset_index(drop=True)


def csv_text(table: pd.DataFrame, experiment, percent_columns=()) -> str:
    """A table as written to a CSV file: the size column named N or L, parameter counts
    as integers (empty where unknown), percentages to CSV_DECIMALS."""
    out = table.rename(columns={"size": experiment.size_label})
    if "num_params" in out:
        out = out.assign(num_params=out.num_params.round().astype("Int64"))
    out = out.round({c: CSV_DECIMALS for c in percent_columns if c in out})
    return out.to_csv(index=False, float_format=CSV_FLOAT_FORMAT)


def paper_digits(images: int) -> int:
    """The decimals of the test-error tables in the paper's layout (results.md): the
    authors' DIGITS on their 10,000 test images, as they printed them, and on fewer
    images only as many as those images support (precision.error_digits)."""
    return DIGITS if images >= FULL_TEST_SET else error_digits(images, most=DIGITS)


def authors_number(value, digits: int) -> str:
    """A number as the authors' files print it: rounded half to even, then fixed-point."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{round_half_even(value, digits):.{digits}f}"


# --------------------------------------------------------------------------- exp_10, exp_11_1

def paper_table(grouped: pd.DataFrame, experiment, digits: int = DIGITS) -> pd.DataFrame:
    """The paper's layout (docs/reference.md §6): one row per size, one column per
    model, last_val_er mean ± std (to `digits`: paper_digits)."""
    cells = grouped.assign(cell=[report.mean_std(m, s, digits) for m, s in
                                 zip(grouped.last_val_er_mean, grouped.last_val_er_std)])
    table = cells.pivot(index="size", columns="model_type", values="cell")
    table = table[[m for m in experiment.models if m in table.columns]].fillna("–")
    table.columns = [f"{experiment.display_name(m)} ({m})" for m in table.columns]
    return table.reset_index().rename(columns={"size": experiment.size_label})


def grouped_table(grouped: pd.DataFrame, experiment, digits: int = DIGITS) -> pd.DataFrame:
    """Per model and size: runs, parameters, mean ± std, min, max, median of METRICS."""
    out = pd.DataFrame({
        "Model": grouped.model, "model_type": grouped.model_type,
        experiment.size_label: grouped["size"], "runs": grouped.runs,
        "params": ["–" if math.isnan(p) else f"{p:,.0f}" for p in grouped.num_params]})
    for metric in METRICS:
        out[f"{metric} mean ± std"] = [report.mean_std(m, s, digits) for m, s in
                                       zip(grouped[f"{metric}_mean"], grouped[f"{metric}_std"])]
        for stat in ("min", "max", "median"):
            out[f"{metric} {stat}"] = [report.number(v, digits)
                                       for v in grouped[f"{metric}_{stat}"]]
    return out


def differences_table(differences: pd.DataFrame, experiment, names: str,
                      digits: int = DIGITS) -> pd.DataFrame:
    """Per size: Min-Net − baseline last test error, its Welch interval and df."""
    return pd.DataFrame({
        experiment.size_label: differences["size"],
        "runs (Min / base)": [f"{a} / {b}" for a, b in zip(differences.n_a, differences.n_b)],
        f"{names} (points of error)": [report.number(d, digits) for d in differences.difference],
        f"{CONFIDENCE:.0%} CI (Welch)": [
            f"– ({no_interval_reason(row)})" if math.isnan(row["ci_low"])
            else f"[{report.fixed(row['ci_low'], digits)}, {report.fixed(row['ci_high'], digits)}]"
            for row in differences.to_dict("records")],
        "df": [report.number(d, 1) for d in differences.df]})


def no_interval_reason(row: dict) -> str:
    """Why a Welch interval (seed_statistics.welch_interval's row) is empty: it needs
    two seeds of each model."""
    fewest = min(row["n_a"], row["n_b"])
    return "one seed" if fewest == 1 else "no seeds" if fewest == 0 else "no interval"


def interval_text(row: dict, digits: int = 2) -> str:
    """'-1.23 [-2.00, -0.46]', or the difference and why there is no interval."""
    if math.isnan(row["difference"]):
        return "–"
    difference = report.fixed(row["difference"], digits, sign=True)
    if math.isnan(row["ci_low"]):
        return f"{difference} (no interval: {no_interval_reason(row)})"
    low, high = (report.fixed(row[k], digits, sign=True) for k in ("ci_low", "ci_high"))
    return f"{difference} [{low}, {high}]"


# --------------------------------------------------------------------------- exp_10_1

def results_txt(summary: dict, runs: int) -> str:
    """exp_10_1's results.txt: 'label: value' lines in the authors' order and rounding.
    NaN stays NaN in the computation but is printed as what it means."""
    def value(v):
        if math.isnan(v):
            return "n/a (one run)" if runs == 1 else "n/a"
        return authors_number(v, DIGITS)

    return "".join(f"{label}: {value(v)}\n" for label, v in summary.items())


def statistics_table(summary: dict, digits: int = DIGITS) -> pd.DataFrame:
    """Our own statistics of exp_10_1 (results.md), to `digits` (paper_digits)."""
    return pd.DataFrame({"statistic": list(summary),
                         "value": [report.number(v, digits) for v in summary.values()]})


# --------------------------------------------------------------------------- JPEG

def jpeg_key_columns(means: pd.DataFrame, experiment) -> pd.DataFrame:
    """Model, N or L [, k]: DenseNets are listed with their depth L and growth rate k."""
    keys = pd.DataFrame({"Model": [experiment.display_name(m) for m in means.model_type],
                         experiment.size_label: means["size"].astype(str)})
    if experiment.family == "densenet":
        keys[GROWTH_RATE_HEADER] = str(DENSENET_GROWTH_RATE)
    return keys


def jpeg_tables(means: pd.DataFrame, experiment, qualities, error_column, pocp_column) -> dict:
    """{'er': error table, 'nc': POCP table} as text cells (the authors' rounding to one
    decimal, '–' if missing)."""
    keys = jpeg_key_columns(means, experiment)
    er = keys.copy()
    er["100%"] = [authors_number(v, JPEG_DIGITS) for v in means.last_val_er]
    nc = keys.copy()
    for q in qualities:
        er[f"{q}%"] = [authors_number(v, JPEG_DIGITS) for v in means[error_column(q)]]
        nc[f"{q}%"] = [authors_number(v, JPEG_DIGITS) for v in means[pocp_column(q)]]
    return {"er": er, "nc": nc}


def latex_table(table: pd.DataFrame, note: str = "") -> str:
    """A booktabs tabular: text columns left-aligned, numbers right-aligned; the smoke
    note, if any, as a LaTeX comment above it."""
    text_columns = sum(1 for c in table.columns if c in ("Model", "N", "L", GROWTH_RATE_HEADER))
    spec = "l" * text_columns + "r" * (len(table.columns) - text_columns)

    def row(cells):
        return " & ".join(str(c).replace("%", r"\%").replace("–", "--") for c in cells) + r" \\"

    lines = [f"% {note}"] if note else []
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", row(table.columns), r"\midrule"]
    lines += [row(values) for values in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
