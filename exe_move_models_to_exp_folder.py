"""Put the authors' published models and JPEG predictions where the experiments look for them.

Download the authors' zip archives and extract them, into config.DOWNLOADED_MODELS and
config.DOWNLOADED_PREDICTIONS (downloads/models/ and downloads/jpeg_model_predictions/ by
default; or name the folders with --models_folder / --predictions_folder), then run

    python exe_move_models_to_exp_folder.py [--dry-run] [--profile smoke]

Files are matched by run name, wherever they sit in the extracted trees:
`<run name>/model.pt` (with the opt.json, log.json and model_specs.json beside it) goes to
experiments/<exp>/exp_data/<run name>/, and `<run name>.npy` to
experiments/<exp>/jpeg_model_predictions/, for every run of exp_10, exp_10_1 and exp_11_1.
Files are copied (the downloads stay as they are), each atomically. A file already in place
with the same bytes is skipped; one with different bytes is never overwritten: it is
reported, left untouched, and the exit status is 1. With --profile smoke only the runs of
the smoke grids (one seed, the smallest size) are placed, under experiments/<exp>/smoke/:
a quick look at the authors' checkpoints with the exe scripts' --profile smoke.
"""
import argparse
import filecmp
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import config  # noqa: E402
import run_folder as rf  # noqa: E402
from errors import ArgumentParser, UserError, counted, run_main  # noqa: E402
from experiments.grid import PROFILES  # noqa: E402

# What a downloaded run folder may hold, besides model.pt, that we copy along.
RUN_FILES = (rf.OPT_FILE, rf.LOG_FILE, rf.SPECS_FILE)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(description="Copy the authors' extracted model.pt files and JPEG "
                                            "predictions into the experiment folders.")
    p.add_argument("--models_folder", type=Path, default=None,
                   help=f"the extracted models archive (default {config.DOWNLOADED_MODELS})")
    p.add_argument("--predictions_folder", type=Path, default=None,
                   help=f"the extracted predictions archive (default "
                        f"{config.DOWNLOADED_PREDICTIONS})")
    p.add_argument("--experiments_folder", type=Path, default=config.EXPERIMENTS_FOLDER,
                   help="where exp_10/, exp_10_1/, exp_11_1/ are (default: this repository's "
                        "experiments/)")
    p.add_argument("--profile", choices=PROFILES, default="paper",
                   help="paper: every run, into experiments/<exp>/; smoke: the smoke grids' "
                        "runs only, into experiments/<exp>/smoke/ (default: paper)")
    p.add_argument("--dry-run", action="store_true", help="report what would be copied; copy nothing")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


@dataclass
class Report:
    placed: list = field(default_factory=list)      # (source, destination)
    identical: list = field(default_factory=list)   # destinations already holding the file
    conflicts: list = field(default_factory=list)   # (source, destination) left untouched
    unmatched: list = field(default_factory=list)   # downloaded files of no known run
    invalid: list = field(default_factory=list)     # (source, why)


def known_runs(experiments_folder: Path, profile: str = "paper") -> dict:
    """Run name -> (run folder, predictions file) for every run of the profile's grids
    of the paper (run names are unique across them; exp_12, on CIFAR-100, repeats
    exp_10's names, and the authors published no run of it)."""
    from experiments import grid
    from experiments.launching import runs
    from robustness.jpeg import output_file

    known = {}
    for experiment in grid.PAPER_EXPERIMENTS.values():
        base_folder = experiments_folder / experiment.name
        if profile == "smoke":
            base_folder = base_folder / experiment.base_folder("smoke").name
        for run in runs.select_runs(experiment, profile, base_folder=base_folder):
            known[run.name] = (run.folder, output_file(base_folder, run.name))
    return known


def status(source: Path, destination: Path) -> str:
    """"absent", "identical" (same bytes already there) or "conflict" (something else is)."""
    if not destination.exists():
        return "absent"
    if destination.is_file() and filecmp.cmp(source, destination, shallow=False):
        return "identical"
    return "conflict"


def place(pairs, report: Report, dry_run: bool) -> None:
    """Copy each (source, destination) not already in place, all or none: if any
    destination holds a different file, nothing of the group is copied (a run folder must
    not end up with the authors' model.pt beside our opt.json)."""
    states = [(source, destination, status(source, destination)) for source, destination in pairs]
    conflicts = [(s, d) for s, d, state in states if state == "conflict"]
    if conflicts:
        report.conflicts.extend(conflicts)
        return
    for source, destination, state in states:
        if state == "identical":
            report.identical.append(destination)
            continue
        if not dry_run:
            import atomic_files

            with atomic_files.atomic_path(destination) as tmp:
                shutil.copyfile(source, tmp)
        report.placed.append((source, destination))


def predictions_problem(path: Path) -> str:
    """'' for a predictions file of the expected form (docs/reference.md §5), else what is wrong."""
    from robustness.jpeg import BadPredictions, load_predictions

    try:
        load_predictions(path)
    except BadPredictions as e:
        return str(e)
    return ""


def place_models(models_folder: Path, runs: dict, report: Report, dry_run: bool) -> None:
    for model_file in sorted(models_folder.rglob(rf.MODEL_FILE)):
        run_name = model_file.parent.name
        if run_name not in runs:
            report.unmatched.append(model_file)
            continue
        run_folder, _ = runs[run_name]
        # model.pt last: a folder with model.pt and log.json is a finished run, so the files
        # describing the run must already be there when model.pt appears.
        names = [n for n in (*RUN_FILES, rf.MODEL_FILE) if (model_file.parent / n).is_file()]
        place([(model_file.parent / n, run_folder / n) for n in names], report, dry_run)


def place_predictions(predictions_folder: Path, runs: dict, report: Report, dry_run: bool) -> None:
    for source in sorted(predictions_folder.rglob("*.npy")):
        if source.stem not in runs:
            report.unmatched.append(source)
            continue
        problem = predictions_problem(source)
        if problem:
            report.invalid.append((source, problem))
            continue
        place([(source, runs[source.stem][1])], report, dry_run)


def source_folders(args) -> list:
    """(what, folder) to search. A folder named on the command line must exist; a missing
    default is only noted, so that one may download the models without the predictions."""
    folders = []
    for what, given, default in (("models", args.models_folder, config.DOWNLOADED_MODELS),
                                 ("predictions", args.predictions_folder,
                                  config.DOWNLOADED_PREDICTIONS)):
        folder = (given or default).expanduser()
        if folder.is_dir():
            folders.append((what, folder))
        elif given is not None:
            raise UserError(f"--{what}_folder {folder} is not a folder; extract the downloaded "
                            "zip archive there, or name the folder it is in")
        else:
            print(f"no {what} folder at {folder} (skipped)")
    if not folders:
        raise UserError(f"found neither {config.DOWNLOADED_MODELS} nor "
                        f"{config.DOWNLOADED_PREDICTIONS}; extract the authors' zip archives "
                        "there, or name the folders with --models_folder / --predictions_folder")
    return folders


def print_report(report: Report, folders, dry_run: bool, profile: str = "paper") -> None:
    grids = "'s smoke grids" if profile == "smoke" else ""
    verb = "would copy" if dry_run else "copied"
    for source, destination in report.placed:
        print(f"{verb} {source} -> {destination}")
    for source, why in report.invalid:
        print(f"not copied: {source}: {why}")
    for source, destination in report.conflicts:
        print(f"CONFLICT: {destination} differs from {source}; left untouched, and nothing "
              "else of this run copied (delete it first to replace it)")
    if report.unmatched:
        print(f"{len(report.unmatched)} downloaded files match no run of exp_10, exp_10_1 or "
              f"exp_11_1{grids} (not copied):")
        for path in report.unmatched:
            print(f"  {path}")
    zips = [p for _, folder in folders for p in folder.rglob("*.zip")]
    if zips and not (report.placed or report.identical):
        print(f"found {zips[0]}: extract the zip archives first")
    copied = "would be copied" if dry_run else "copied"
    print(f"{counted(len(report.placed), 'file')} {copied}, {len(report.identical)} already in "
          f"place, {counted(len(report.conflicts), 'conflict')}, {len(report.invalid)} invalid, "
          f"{len(report.unmatched)} unmatched")


def main(argv) -> int:
    args = build_parser().parse_args(argv)
    folders = source_folders(args)
    runs = known_runs(args.experiments_folder.expanduser().resolve(), args.profile)
    report = Report()
    for what, folder in folders:
        if what == "models":
            place_models(folder, runs, report, args.dry_run)
        else:
            place_predictions(folder, runs, report, args.dry_run)
    print_report(report, folders, args.dry_run, args.profile)
    return 1 if report.conflicts or report.invalid else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
