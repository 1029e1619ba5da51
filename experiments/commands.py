"""The exact commands the evaluations name in their advice ("train them first with ...").

A hint must work when followed: it names the experiment's script, and repeats
`--profile smoke` and `--base_folder` when the evaluation ran with them, so that the
command acts on the folder that was evaluated (the smoke hint must not start the paper's
200-epoch grid).
"""
from pathlib import Path

import config

# What each kind of script is called in an experiment's folder.
SCRIPT_PATTERNS = {"train": "exe_train_*.py", "jpeg": "exe_*jpeg*.py", "eval": "exe_eval_*.py"}
MOVE_AUTHORS_RUNS = "python exe_move_models_to_exp_folder.py"


def infer_profile(experiment, base_folder) -> str:
    """'smoke' when `base_folder` is the experiment's smoke folder, else 'paper' (for a
    caller that did not say which profile it evaluates)."""
    smoke = experiment.base_folder("smoke").resolve()
    return "smoke" if Path(base_folder).resolve() == smoke else "paper"


def script_command(experiment, kind: str, profile: str = "paper", base_folder=None) -> str:
    """'python experiments/<exp>/<script> [--profile smoke] [--base_folder B]'."""
    folder = config.EXPERIMENTS_FOLDER / experiment.name
    found = sorted(folder.glob(SCRIPT_PATTERNS[kind]))
    if not found:  # an experiment without such a script: say what to look for
        return f"the {SCRIPT_PATTERNS[kind]} script of {experiment.name}"
    command = f"python {found[0].relative_to(config.REPO_ROOT).as_posix()}"
    if profile != "paper":
        command += f" --profile {profile}"
    if base_folder is not None and \
            Path(base_folder).resolve() != experiment.base_folder(profile).resolve():
        command += f" --base_folder {base_folder}"
    return command
