"""Adversarial robustness (AutoAttack): tables, a plot and a report section from the
per-run result files (robustness/adversarial.py) of an experiment's grid.

Writes under the base folder B, as one set (rendering.report.publish):

  adversarial_results.csv  one row per run x attack setting x eps: name, model_type,
                           N or L, seed, attack, norm, eps (in 1/255), n, er (robust
                           error in %; eps 0 is the clean error on the same images),
                           data (the attacked images' data set in words)
  adversarial_results.md   per setting, size and eps: Min-Net and baseline mean ± std over
                           seeds and the difference with a 95 % Welch interval; the plots
                           (report.md's section)
  images/adversarial_<norm>_<attack>.{png,pdf}: robust error against eps

Only finished runs count; an unfinished run's files are left out and named.
"""
from pathlib import Path

import pandas as pd

from experiments import robustness_suite as suite
from experiments.evaluating.data_sources import NOT_RECORDED_FILE, data_line
from experiments.evaluating.result_files import ResultFiles, collect_results, evaluate_files
from experiments.evaluating.result_files import left_out_lines, one_setting
from experiments.evaluating.seed_statistics import CONFIDENCE, welch_interval
from experiments.evaluating.seed_statistics import min_net_and_baseline
from experiments.grid import Experiment
from experiments.rendering import report, tables
from experiments.rendering.tables import interval_text
from experiments.evaluating.run_table import FULL_TEST_SET
from precision import digits_note, error_digits
from robustness.adversarial import OUTPUT_FOLDER, read_results

CSV_FILE = "adversarial_results.csv"
SECTION_FILE = suite.ADVERSARIAL.sections[0]    # adversarial_results.md
PLOTS = f"{report.IMAGES}/adversarial_"
OWNED = (CSV_FILE, f"{PLOTS}*.png", f"{PLOTS}*.pdf")
COLUMNS = ["name", "model_type", "size", "seed", "attack", "norm", "eps", "n", "er", "data"]


def result_rows(path: Path) -> list:
    """The rows (attack, norm, eps, n, er, data) of one result file; a UserError if
    unusable."""
    result = read_results(path)
    settings = result["settings"]
    source = (result["record"] or {}).get("data_source") or NOT_RECORDED_FILE
    return [dict(attack=settings.attacks, norm=settings.norm, eps=r["eps_255"], n=r["n"],
                 er=r["er"], data=source, attack_seed=settings.seed) for r in result["rows"]]


def collect_adversarial(experiment: Experiment, base_folder, fix_command: str = "") -> ResultFiles:
    """Rows of every usable result file (any attack setting) of the finished runs, and
    the runs left out."""
    base_folder = Path(base_folder)
    settings_folders = sorted(p for p in (base_folder / OUTPUT_FOLDER).glob("*") if p.is_dir())
    found = collect_results(experiment, base_folder,
                            lambda name: [folder / f"{name}.json" for folder in settings_folders],
                            result_rows, COLUMNS + ["attack_seed"], fix_command)
    # Per attack and norm, the same images and seed for every run.
    found = one_setting(found, ["n", "attack_seed"], within=["attack", "norm"])
    found.table = found.table.drop(columns="attack_seed")
    return found


def comparison_table(runs: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per attack, norm, size and eps: mean ± std of each model, and Min-Net - baseline."""
    pair = min_net_and_baseline(experiment)
    models = list(pair) if pair else list(experiment.models)
    rows = []
    for (attack, norm, size, eps), group in runs.groupby(["attack", "norm", "size", "eps"]):
        row = {"attack": attack, "norm": norm, experiment.size_label: size, "eps (/255)": eps}
        values = [group.loc[group.model_type == m, "er"] for m in models]
        digits = error_digits(int(group.n.max()))     # one_setting: one n per attack
        for model, v in zip(models, values):
            row[experiment.display_name(model)] = (
                report.mean_std(v.mean(), v.std() if len(v) > 1 else None, digits)
                if len(v) else "–")
        if pair:
            row[f"difference, {CONFIDENCE:.0%} CI"] = interval_text(welch_interval(*values),
                                                                    digits)
        rows.append(row)
    return pd.DataFrame(rows)


def plot_curves(runs: pd.DataFrame, experiment: Experiment, attack: str, norm: str,
                note: str = ""):
    """Robust error against eps: one line per model and size, mean over seeds."""
    fig, axes = report.new_figure(width=6.0, height=4.2, note=note)
    ax = axes[0]
    chosen = runs[(runs.attack == attack) & (runs.norm == norm)]
    styles = dict(zip(experiment.sizes, ("-", "--", ":", "-.")))
    for (model_type, size), group in chosen.groupby(["model_type", "size"]):
        curve = group.groupby("eps").er.mean()
        ax.plot(curve.index, curve.values, marker="o", ms=3, ls=styles.get(size, "-"),
                color=report.MODEL_COLOURS.get(model_type),
                label=f"{experiment.display_name(model_type)} "
                      f"{experiment.size_label}={size} "
                      f"({report.counted(group.seed.nunique(), 'seed')})")
    ax.set_xscale("symlog", linthresh=0.25)
    ax.set_xlabel(f"eps ({norm}, units of 1/255; 0 = clean)")
    ax.set_ylabel("robust error (%)")
    ax.set_title(f"{experiment.name}: AutoAttack {attack}, {norm}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def section_text(found: ResultFiles, experiment: Experiment, pngs: list, note: str,
                 fix_command: str) -> str:
    """adversarial_results.md: the summary, the comparison table, the plots."""
    runs = found.table
    counts = " / ".join(f"{n:,}" for n in sorted(runs.n.unique()))
    per = "" if runs.n.nunique() == 1 else " (per attack setting, as in the table)"
    lines = [f"{report.counted(runs.name.nunique(), 'run')} attacked on the first "
             f"{counts} test images{per}. Robust error in % (eps 0: the clean error on "
             "the same images), mean ± std over seeds; the difference is Min-Net − "
             "baseline with a Welch interval.",
              data_line("Attacked images", dict(zip(runs.name, runs.data)))]
    lines += [digits_note(n, error_digits(n)) for n in sorted(runs.n.unique())
              if n < FULL_TEST_SET]
    lines += left_out_lines(found, fix_command)
    return ("## Adversarial robustness (AutoAttack)\n\n" + report.banner(note)
            + "\n".join(lines) + "\n\n"
            + "Robust error (%) per attack setting, size and eps:"
            + "\n\n" + report.markdown_table(comparison_table(runs, experiment))
            + "\n" + "\n".join(report.image_link(png, "robust error against eps")
                               for png in pngs)
            + f"\nPer run and eps: [{CSV_FILE}]({CSV_FILE}).\n")


def adversarial_outputs(found: ResultFiles, experiment: Experiment, base_folder: Path,
                        note: str, fix_command: str) -> report.Outputs:
    """Every file of the evaluation, in memory."""
    runs = found.table
    files = report.Outputs(section=SECTION_FILE, owned=OWNED, note=note)
    files.add_text(CSV_FILE, tables.csv_text(runs, experiment, ["er"]))
    settings = runs[["attack", "norm"]].drop_duplicates().itertuples(index=False)
    pngs = [files.add_figure(f"{PLOTS}{norm}_{attack}",
                             plot_curves(runs, experiment, attack, norm, note))
            for attack, norm in settings]
    files.text = section_text(found, experiment, pngs, note, fix_command)
    files.shown = [f"wrote {base_folder / CSV_FILE}, {SECTION_FILE}, {report.REPORT_FILE} and "
                   f"{report.counted(len(pngs), 'plot')} (PNG and PDF)"]
    return files


def evaluate_adversarial(experiment: Experiment, base_folder, profile: str = None) -> int:
    """The AutoAttack test's CSV, table, plots and section (evaluate_files)."""
    return evaluate_files(suite.ADVERSARIAL, experiment, base_folder, profile, collect_adversarial,
                          adversarial_outputs, folder=Path(base_folder) / OUTPUT_FOLDER)
