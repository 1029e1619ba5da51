"""Paths used across the project, each overridable from the environment.

No other module hard-codes a data or download path: they import these.
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    # Absolute, so that subprocesses started in another working directory (the launchers
    # run each run from the repository root) see the same folder.
    return Path(value).expanduser().resolve() if value else default


# Where CIFAR-10 (`cifar-10-batches-py/`) and the JPEG test stacks live.
DATA_FOLDER = _path_from_env("DATA_FOLDER", REPO_ROOT / "data")

# Where exe_move_models_to_exp_folder.py looks for the authors' extracted zip archives.
DOWNLOADED_MODELS = _path_from_env("DOWNLOADED_MODELS", REPO_ROOT / "downloads" / "models")
DOWNLOADED_PREDICTIONS = _path_from_env(
    "DOWNLOADED_PREDICTIONS", REPO_ROOT / "downloads" / "jpeg_model_predictions"
)

EXPERIMENTS_FOLDER = REPO_ROOT / "experiments"
