"""The runs of a grid as the launchers see them: each run's folder under the profile's
base folder, and the run_training.py options that make it (docs/reference.md §3, §4).
"""
from dataclasses import dataclass, replace
from pathlib import Path

from errors import UserError
from experiments.grid import SMOKE, Experiment
from run_folder import EXP_DATA


@dataclass(frozen=True)
class Run:
    """One training run of a grid: where it lives and the run_training.py options that
    make it (all but --device, which the launcher chooses)."""
    experiment: str
    model_type: str
    size: int
    seed: int
    name: str
    folder: Path
    argv: tuple


def _selected(what: str, requested, valid: tuple) -> tuple:
    """`requested` (None: all of `valid`) checked against `valid`, in the grid's order."""
    if requested is None:
        return valid
    unknown = [v for v in requested if v not in valid]
    if unknown:
        raise UserError(f"unknown {what} {' '.join(map(str, unknown))}; this experiment has "
                        f"{' '.join(map(str, valid))}")
    return tuple(v for v in valid if v in requested)


def training_argv(experiment: Experiment, model_type: str, size: int, seed: int,
                  folder: Path, profile: str = "paper") -> tuple:
    """run_training.py's options for one run of the grid (docs/reference.md §3), with --resume so that
    launching the grid again continues every unfinished run."""
    recipe = dict(experiment.recipe)
    if profile == "smoke":
        recipe.update(epochs=SMOKE["epochs"], fixed_steps=SMOKE["fixed_steps"])
    argv = ["--model_type", model_type, "--model_kw", experiment.model_kw(size),
            "--seed", str(seed), "--folder", str(folder), "--dataset", experiment.dataset,
            "--lr", str(recipe["lr"]), "--wd", str(recipe["wd"]), "--mom", str(recipe["mom"]),
            "--bs", str(recipe["bs"]), "--opt", recipe["opt"]]
    if recipe["opt_kw"]:
        argv += ["--opt_kw", recipe["opt_kw"]]
    argv += ["--epochs", str(recipe["epochs"]),
             "--fixed_steps", *map(str, recipe["fixed_steps"]), "--resume"]
    if profile == "smoke":
        argv += ["--train_subset", str(SMOKE["train_subset"]),
                 "--test_subset", str(SMOKE["test_subset"])]
    return tuple(argv)


def select_runs(experiment: Experiment, profile: str = "paper", seeds=None, models=None,
                sizes=None, base_folder=None) -> list:
    """The runs of `experiment` (all, or those of the given seeds, models and sizes) as
    `Run`s under `base_folder` (default: experiment.base_folder(profile)).

    The smoke profile takes one seed and the smallest size unless others are asked for.
    An unknown seed, model or size is a UserError listing the valid ones."""
    base_folder = Path(base_folder) if base_folder else experiment.base_folder(profile)
    experiment.base_folder(profile)  # rejects an unknown profile
    default_seeds = experiment.for_profile(profile).seeds
    default_sizes = experiment.for_profile(profile).sizes
    seeds = _selected("seed", seeds, experiment.seeds) if seeds else default_seeds
    sizes = _selected("size", sizes, experiment.sizes) if sizes else default_sizes
    models = _selected("model", models, experiment.models)
    selection = replace(experiment, models=models, sizes=sizes, seeds=seeds)
    runs = []
    for model_type, size, seed in selection.points():
        name = experiment.run_name(model_type, size, seed)
        folder = base_folder / EXP_DATA / name
        runs.append(Run(experiment.name, model_type, size, seed, name, folder,
                        training_argv(experiment, model_type, size, seed, folder, profile)))
    return runs
