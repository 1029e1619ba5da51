"""The exact command lines that hints print ("train them first with ...").

A hint must work when followed: it names the experiment's own script, and repeats
--profile smoke and --base_folder when the user's command had them, so that the command
acts on the folder in question (the smoke hint must not start the paper's 200-epoch grid).
"""
import shlex
from pathlib import Path

# The exe_ scripts of each experiment (the JPEG scripts keep the authors' names).
SCRIPTS = {
    "train": "experiments/{name}/exe_train_{name}.py",
    "eval": "experiments/{name}/exe_eval_{name}.py",
}
MOVE_AUTHORS_RUNS = "python exe_move_models_to_exp_folder.py"
JPEG_SCRIPTS = {"exp_10": "experiments/exp_10/exe_exp10_jpeg_tests.py",
                "exp_11_1": "experiments/exp_11_1/exe_exp_11_1_jpeg_tests.py"}
CORRUPTION_SCRIPTS = {"exp_10": "experiments/exp_10/exe_exp10_corruption_tests.py",
                      "exp_11_1": "experiments/exp_11_1/exe_exp_11_1_corruption_tests.py"}
ADVERSARIAL_SCRIPTS = {"exp_10": "experiments/exp_10/exe_exp10_adversarial_tests.py",
                       "exp_11_1": "experiments/exp_11_1/exe_exp_11_1_adversarial_tests.py"}
TEST_SCRIPTS = {"jpeg": JPEG_SCRIPTS, "corruption": CORRUPTION_SCRIPTS,
                "adversarial": ADVERSARIAL_SCRIPTS}


def script(experiment, kind: str) -> str:
    """The path of an experiment's exe_ script, relative to the repository root; kind is
    "train", "eval", "jpeg", "corruption" or "adversarial"."""
    if kind in TEST_SCRIPTS:
        return TEST_SCRIPTS[kind][experiment.name]
    return SCRIPTS[kind].format(name=experiment.name)


def command(experiment, kind: str, profile: str = "paper", base_folder=None, *options) -> str:
    """`python <script> [--profile smoke] [--base_folder B] [options]`; the base folder
    only when it is not the profile's own."""
    words = ["python", script(experiment, kind)]
    if profile != "paper":
        words += ["--profile", profile]
    if base_folder is not None and \
            Path(base_folder).resolve() != experiment.base_folder(profile).resolve():
        words += ["--base_folder", str(base_folder)]
    words += list(options)
    return shlex.join(words)



def infer_profile(experiment, base_folder) -> str:
    """'smoke' when `base_folder` is the experiment's smoke folder, else 'paper' (for a
    caller that did not say which profile it evaluates)."""
    smoke = experiment.base_folder("smoke").resolve()
    return "smoke" if Path(base_folder).resolve() == smoke else "paper"
