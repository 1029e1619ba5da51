"""Adversarial robustness (AutoAttack): tables, a plot and a report section from the
per-run result files (robustness/adversarial.py) of an experiment's grid.

  adversarial_results.csv  one row per run x attack setting x eps: name, model_type,
                           N or L, seed, attack, norm, eps (in 1/255), n, er (robust
                           error in %; eps 0 is the clean error on the same images)
  adversarial_results.md   per setting, size and eps: Min-Net and baseline mean ± std over
                           seeds and the difference with a 95 % Welch interval; the plot
  images/adversarial_<norm>_<attack>.{png,pdf}: robust error against eps
"""
from pathlib import Path

import pandas as pd

import atomic_files
import run_folder as rf
from errors import UserError
from experiments import report
from experiments.run_table import size_label, warn
from experiments.seed_statistics import CONFIDENCE, min_net_and_baseline, welch_interval
from experiments.tables import interval_text
from experiments.grid import DISPLAY_NAMES, EXP_DATA, Experiment
from robustness.adversarial import RESULTS_FOLDER, read_results

CSV_FILE = "adversarial_results.csv"
SECTION_FILE = "adversarial_results.md"
DIGITS = 2
COLUMNS = ["name", "model_type", "size", "seed", "attack", "norm", "eps", "n", "er"]


def collect_adversarial(experiment: Experiment, base_folder) -> tuple:
    """(rows of every result file of a finished run, finished runs without any file)."""
    base_folder = Path(base_folder)
    settings_folders = sorted(p for p in (base_folder / RESULTS_FOLDER).glob("*") if p.is_dir())
    rows, missing = [], []
    for model_type, size, seed in experiment.points():
        name = experiment.run_name(model_type, size, seed)
        if rf.run_state(base_folder / EXP_DATA / name) != rf.FINISHED:
            continue
        found = False
        for folder in settings_folders:
            path = folder / f"{name}.json"
            if not path.is_file():
                continue
            try:
                result = read_results(path)
            except UserError as e:
                warn(f"{e}; left out")
                continue
            found = True
            settings = result["settings"]
            rows += [dict(name=name, model_type=model_type, size=size, seed=seed,
                          attack=settings.attacks, norm=settings.norm, eps=r["eps_255"],
                          n=r["n"], er=r["er"]) for r in result["rows"]]
        if not found:
            missing.append(name)
    return pd.DataFrame(rows, columns=COLUMNS), missing


def comparison_table(runs: pd.DataFrame, experiment: Experiment) -> pd.DataFrame:
    """Per attack, norm, size and eps: mean ± std of each model, and Min-Net - baseline."""
    pair = min_net_and_baseline(experiment)
    models = list(pair) if pair else list(experiment.models)
    rows = []
    for (attack, norm, size, eps), group in runs.groupby(["attack", "norm", "size", "eps"]):
        row = {"attack": attack, "norm": norm, size_label(experiment): size, "eps (/255)": eps}
        values = [group.loc[group.model_type == m, "er"] for m in models]
        for model, v in zip(models, values):
            row[DISPLAY_NAMES.get(model, model)] = (
                report.mean_std(v.mean(), v.std() if len(v) > 1 else None, DIGITS)
                if len(v) else "–")
        if pair:
            row[f"difference, {CONFIDENCE:.0%} CI"] = interval_text(welch_interval(*values))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_curves(runs: pd.DataFrame, experiment: Experiment, attack: str, norm: str,
                stem: Path) -> list:
    """Robust error against eps: one line per model and size, mean over seeds."""
    fig, axes = report.new_figure(width=6.0, height=4.2)
    ax = axes[0]
    chosen = runs[(runs.attack == attack) & (runs.norm == norm)]
    styles = dict(zip(experiment.sizes, ("-", "--", ":", "-.")))
    for (model_type, size), group in chosen.groupby(["model_type", "size"]):
        curve = group.groupby("eps").er.mean()
        ax.plot(curve.index, curve.values, marker="o", ms=3, ls=styles.get(size, "-"),
                color=report.MODEL_COLOURS.get(model_type),
                label=f"{DISPLAY_NAMES.get(model_type, model_type)} "
                      f"{size_label(experiment)}={size} ({group.seed.nunique()} seeds)")
    ax.set_xscale("symlog", linthresh=0.25)
    ax.set_xlabel(f"eps ({norm}, units of 1/255; 0 = clean)")
    ax.set_ylabel("robust error (%)")
    ax.set_title(f"{experiment.name}: AutoAttack {attack}, {norm}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return report.save_figure(fig, stem)


def write_adversarial_results(experiment: Experiment, base_folder) -> str:
    """Write the CSV, the plots and adversarial_results.md; return the section's text.
    UserError when no run has a usable result file."""
    base_folder = Path(base_folder)
    runs, missing = collect_adversarial(experiment, base_folder)
    if runs.empty:
        raise UserError(f"no usable adversarial result files of {experiment.name} in "
                        f"{base_folder / RESULTS_FOLDER}; compute them with "
                        "python run_adversarial_test.py --model_folder <run folder>")
    label = size_label(experiment)
    atomic_files.write_text(base_folder / CSV_FILE, runs.rename(columns={"size": label})
                            .round({"er": 4}).to_csv(index=False))
    pngs = [plot_curves(runs, experiment, attack, norm,
                        base_folder / report.IMAGES / f"adversarial_{norm}_{attack}")[0]
            for attack, norm in runs[["attack", "norm"]].drop_duplicates().itertuples(index=False)]
    lines = ["## Adversarial robustness (AutoAttack)", "",
             f"{runs.name.nunique()} runs attacked on the first {runs.n.max():,} test images. "
             "Robust error in % (eps 0: the clean error on the same images), mean ± std over "
             "seeds; the difference is Min-Net − baseline with a Welch interval."]
    if missing:
        lines.append(f"Finished runs without results (left out): {', '.join(missing)}.")
    text = ("\n".join(lines) + "\n\n" + report.markdown_table(comparison_table(runs, experiment))
            + "\n" + "".join(report.image_link(base_folder, p, "robust error against eps")
                             + "\n" for p in pngs)
            + f"\nPer run and eps: [{CSV_FILE}]({CSV_FILE}).\n")
    atomic_files.write_text(base_folder / SECTION_FILE, text)
    return text
