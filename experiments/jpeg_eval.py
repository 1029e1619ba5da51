"""Robustness to JPEG compression (docs/reference.md §5): the evaluation of the
exe_*_jpeg_tests scripts.

Reads B/jpeg_model_predictions/<run>.npy (ours or the authors') for every run of the
experiment's grid, and the run's log.json for the error on the uncompressed test set
(experiments.jpeg_metrics). Writes under the base folder B, as one set
(experiments.outputs):

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
from pathlib import Path

from datasets.jpeg import QUALITIES
from errors import UserError
from experiments import commands, outputs, plots, report, tables
from experiments.jpeg_metrics import (LOG_TOLERANCE, JpegRuns, collect_jpeg, error_column,
                                      mean_over_seeds, metric_columns, pocp_column)
from experiments.predictions import predictions_file
from experiments.run_table import run_scope, size_label


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


def prediction_command(experiment, profile: str, base_folder: Path, protocol: str) -> str:
    """The command that computes missing prediction files."""
    command = commands.command(experiment, "jpeg", profile, base_folder)
    return command + " --run-predictions" + ("" if protocol == "paper" else f" --protocol {protocol}")


def summary_note(found: JpegRuns, means) -> str:
    """Which prediction files the tables are made of."""
    runs = found.table
    counts = sorted(runs.n.unique())
    note = (f"{report.counted(len(runs), 'prediction file')}, " + (
        f"{counts[0]:,} test images each" if len(counts) == 1 else
        f"{counts[0]:,} to {counts[-1]:,} test images (the files do not match!)")
        + "; the tables show means over the seeds counted in their last column.")
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

    return (heading + "\n\n" + (f"**{report.with_note('', note).strip()}**\n\n" if note else "")
            + intro + "\n\n"
            + report.with_note("Test error (%) on the original test set (100%: the last "
                               "epoch's test error in log.json) and at JPEG quality 90 … 10 "
                               f"([LaTeX]({names['er']})):", note)
            + "\n\n" + markdown(tabled["er"])
            + "\n" + report.with_note("Changed predictions, POCP (%): the share of test "
                                      "images whose prediction at the quality differs from "
                                      f"the prediction on the original ([LaTeX]({names['nc']})):",
                                      note)
            + "\n\n" + markdown(tabled["nc"]) + "\n"
            + "".join(report.image_link(png, f"error and POCP against quality, {label}") + "\n"
                      for label, png in pngs.items() if label != "scatter")
            + report.image_link(pngs["scatter"], "POCP against error")
            + f"\nPer run: [{names['csv']}]({names['csv']}).\n")


def jpeg_figures(files: outputs.Outputs, found: JpegRuns, means, experiment, names: dict,
                 note: str) -> dict:
    """Add the per-size plots and the POCP-against-error plot; {label: PNG path}."""
    runs, label = found.table, size_label(experiment)
    columns = dict(er=["er_orig"] + [error_column(q) for q in QUALITIES],
                   pocp=[pocp_column(q) for q in QUALITIES])
    pngs = {f"{label}={size}": files.add_figure(
                f"{names['plots']}{label}{size}",
                plots.jpeg_size(runs, experiment, size, QUALITIES, columns, note))
            for size in experiment.sizes if (runs["size"] == size).any()}
    pngs["scatter"] = files.add_figure(
        f"{names['plots']}pocp_vs_error",
        plots.pocp_vs_error(means, experiment, columns["er"][1:], columns["pocp"], note))
    return pngs


def evaluate_jpeg(experiment, base_folder: Path, protocol: str = "paper",
                  profile: str = None) -> int:
    """Tables, plots and report section of the JPEG test. `profile` (default: inferred
    from the folder) is named in the hints. Returns 0; a UserError when no usable
    prediction file exists."""
    base_folder = Path(base_folder)
    profile = profile or commands.infer_profile(experiment, base_folder)
    fix = prediction_command(experiment, profile, base_folder, protocol)
    found = collect_jpeg(experiment, base_folder, protocol, fix)
    if found.table.empty:
        folder = predictions_file(base_folder, "-", protocol).parent
        raise UserError(f"no usable JPEG prediction files of {experiment.name} (of finished "
                        f"runs) in {folder}: compute them with {fix}, or place "
                        f"the authors' files there with {commands.MOVE_AUTHORS_RUNS}")
    names = output_names(protocol)
    note = report.smoke_note(run_scope(experiment, base_folder, found.table.name))
    means = mean_over_seeds(found.table, experiment)
    tabled = tables.jpeg_tables(means, experiment, QUALITIES, error_column, pocp_column)

    files = outputs.Outputs(section=names["section"], owned=owned_files(names))
    files.add_text(names["csv"], tables.csv_text(found.table, experiment, metric_columns()))
    files.add_text(names["er"], tables.latex_table(tabled["er"], note))
    files.add_text(names["nc"], tables.latex_table(tabled["nc"], note))
    pngs = jpeg_figures(files, found, means, experiment, names, note)
    text = jpeg_section(found, means, tabled, names, pngs, protocol, note)
    report_path = outputs.publish(files, base_folder, text, experiment.name, note)

    report.show(report.markdown_table(tabled["er"]))
    report.show(f"wrote {base_folder / names['er']}, {Path(names['nc']).name}, "
                f"{base_folder / names['csv']}, {names['section']}, {report_path.name} and "
                f"{len(pngs)} plots (PNG and PDF)")
    return 0
