"""What every robustness evaluation shares: collecting the per-run files of a grid's
finished runs, naming the runs it leaves out, and the skeleton that turns the files into
one published set (collect, stop when nothing is usable, smoke note, outputs, publish).
"""
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import run_folder as rf
from errors import UserError
from experiments import grid
from experiments.evaluating.run_table import refuse_other_data, run_scope, warn
from experiments.grid import Experiment
from experiments.rendering import report
from experiments.robustness_suite import REPORT_SECTIONS, report_tests
from run_folder import EXP_DATA

@dataclass
class ResultFiles:
    """The rows of the usable result files of a grid's finished runs, and the runs left out."""
    table: pd.DataFrame
    missing: list = field(default_factory=list)     # finished runs without a usable file
    unfinished: list = field(default_factory=list)  # "name (k/E epochs)": files left out
    odd: list = field(default_factory=list)         # "name (n 3)": other settings, left out


def collect_results(experiment: Experiment, base_folder: Path, paths_of, rows_of, columns,
                    fix_command: str) -> ResultFiles:
    """One row per number of the grid's result files. `paths_of(name)`: a run's possible
    files; `rows_of(path)`: a file's rows (a UserError when it is unusable, warned and
    left out). An unfinished run's files are left out, named; a finished run (with its
    weights) without a usable file is named as missing."""
    found, rows = ResultFiles(table=pd.DataFrame()), []
    for model_type, size, seed in experiment.points():
        name = experiment.run_name(model_type, size, seed)
        folder = base_folder / EXP_DATA / name
        paths = [path for path in paths_of(name) if path.is_file()]
        if paths:
            refuse_other_data(experiment, folder)
        progress = rf.progress(folder).unfinished if paths else ""
        if progress:
            warn(f"leaving out {', '.join(map(str, paths))}: its run is unfinished "
                 f"({progress}); once it has finished, delete the file and recompute it "
                 f"with {fix_command}")
            found.unfinished.append(f"{name} ({progress})")
            continue
        run_rows = []
        for path in paths:
            try:
                run_rows += rows_of(path)
            except UserError as e:
                warn(f"{e}; left out (recompute it with {fix_command})")
        if run_rows:
            rows += [dict(name=name, model_type=model_type, size=size, seed=seed, **row)
                     for row in run_rows]
        elif paths or rf.run_state(folder) == rf.FINISHED:
            found.missing.append(name)
    found.table = pd.DataFrame(rows, columns=columns)
    return found


def one_setting(found: ResultFiles, setting: list, within=()) -> ResultFiles:
    """Never compare numbers made with different settings: within each group of the
    columns `within` (the attack and norm), keep only the rows made with the setting
    (the columns `setting`: images, seed) that most runs have, ties going to the larger
    one; the others are left out and named (found.odd). Rows repeated in two files of
    one setting count once."""
    table = found.table
    if table.empty:
        return found
    table = table.drop_duplicates([c for c in table.columns if c != "er"])
    key = table[setting].apply(tuple, axis=1)
    group = table[list(within)].apply(tuple, axis=1) if within else pd.Series("", table.index)
    keep = pd.Series(False, index=table.index)
    for g in group.unique():
        in_group = group == g
        runs = table[in_group].groupby(key[in_group]).name.nunique()
        best = max(runs.index, key=lambda k: (runs[k], k))
        keep |= in_group & (key == best)
        for k in runs.index.drop(best):
            odd = sorted(table[in_group & (key == k)].name.unique())
            what = ", ".join(f"{c} {v}" for c, v in zip(setting, k))
            found.odd += [f"{name} ({what})" for name in odd]
            warn(f"leaving out the files of {', '.join(odd)}: made with {what}, not "
                 f"{', '.join(f'{c} {v}' for c, v in zip(setting, best))} as most runs' "
                 f"{' '.join(map(str, g))}".rstrip())
    found.table = table[keep].reset_index(drop=True)
    return found


def left_out_lines(found: ResultFiles, fix_command: str) -> list:
    """The section's sentences on the runs its tables leave out."""
    lines = []
    if found.odd:
        lines.append("Left out, made with other settings than most runs (their numbers "
                     f"are not comparable): {report.listed(found.odd)}.")
    if found.unfinished:
        lines.append("Left out, their runs are unfinished (as in the other tables): "
                     f"{report.listed(found.unfinished)}.")
    if found.missing:
        lines.append(f"Finished runs without usable results (left out): "
                     f"{report.listed(found.missing)}; compute them with {fix_command}.")
    return lines


def evaluate_files(test, experiment: Experiment, base_folder, profile, collect, build,
                   folder: Path, hint=()) -> int:
    """The skeleton of a robustness evaluation. `collect(experiment, B, fix)` gathers the
    rows of the test's files (fix: the command that recomputes one); with none usable, one
    line says which command computes them (`folder`: where they were looked for). Then
    `build(found, experiment, B, note, fix)` renders the `report.Outputs`, which are
    published. `profile` (default: inferred from B) is named in the hints, with the
    test's options `hint`. Returns 0, the exit code; a UserError when no finished run
    has a usable file."""
    base_folder = Path(base_folder)
    profile = profile or grid.infer_profile(experiment, base_folder)
    fix = test.prediction_command(experiment, profile, base_folder, *hint)
    found = collect(experiment, base_folder, fix)
    if found.table.empty:
        authors = (f", or place the authors' files there with {grid.MOVE_AUTHORS_RUNS}"
                   if test.published_by_authors else "")
        raise UserError(f"no usable {test.files} of {experiment.name} (of finished runs) in "
                        f"{folder}: compute them with {fix}{authors}")
    note = report.smoke_note(run_scope(experiment, base_folder, found.table.name.unique()))
    return report.publish(build(found, experiment, base_folder, note, fix), base_folder,
                          experiment.name, REPORT_SECTIONS,
                          report_tests(experiment, base_folder, profile))
