"""Prediction files of the JPEG test (docs/reference.md §5): where a run's file lives and whether a
file can be used; and the command line that every per-run prediction script shares.

One file per run, `B/jpeg_model_predictions/<run name>.npy`: an (n, 11) integer array
whose column 0 is the label and columns 1..10 the predicted class of versions 0..9 of
each test image (0: uncompressed; 1..9: JPEG quality 90..10).
"""
from pathlib import Path

import numpy as np

from errors import UserError

NUM_CLASSES = 10
COLUMNS = 11            # the label and the predictions for versions 0..9

# Predictions of the two JPEG protocols (datasets.jpeg.PROTOCOLS) live in different
# folders, so a file made with one protocol can never be read as the other's.
PREDICTIONS_FOLDERS = {"paper": "jpeg_model_predictions", "rgb": "jpeg_model_predictions_rgb"}


def predictions_file(base_folder, run_name: str, protocol: str = "paper") -> Path:
    """B/jpeg_model_predictions/<run name>.npy (docs/reference.md §5); the rgb protocol's elsewhere."""
    if protocol not in PREDICTIONS_FOLDERS:
        raise ValueError(f"unknown JPEG protocol {protocol!r}; use one of {list(PREDICTIONS_FOLDERS)}")
    return Path(base_folder) / PREDICTIONS_FOLDERS[protocol] / f"{run_name}.npy"


class BadPredictions(UserError):
    """A prediction file that cannot be used; the message says why."""


def load_predictions(path: Path) -> np.ndarray:
    """The (n, 11) integer array of a prediction file, checked; BadPredictions if not."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BadPredictions(f"cannot be read as a .npy array ({e})") from None
    return check_predictions(array)


def check_predictions(array: np.ndarray) -> np.ndarray:
    """`array` if it is an (n, 11) array of class indices; BadPredictions if not."""
    if array.ndim != 2 or array.shape[1] != COLUMNS or array.shape[0] == 0:
        raise BadPredictions(f"has shape {array.shape}, expected (n, {COLUMNS}): the label "
                             "and the predictions for versions 0–9")
    if not np.issubdtype(array.dtype, np.integer):
        raise BadPredictions(f"has dtype {array.dtype}, expected integer class indices")
    if array.min() < 0 or array.max() >= NUM_CLASSES:
        raise BadPredictions(f"holds values outside the classes 0–{NUM_CLASSES - 1}")
    return array


# ------------------------------------------------------- the per-run prediction scripts
# run_jpeg_robustness_test.py, run_corruption_test.py and run_adversarial_test.py: one
# trained run folder in, one output file under the experiment folder B out.

def run_prediction_parser(description: str, receives: str, bs_default: int, bs_help: str):
    """The options every per-run prediction script has; each adds its own."""
    from errors import ArgumentParser

    p = ArgumentParser(description=description)
    p.add_argument("--model_folder", type=Path, required=True,
                   help="the run folder (opt.json and model.pt)")
    p.add_argument("--base_folder", type=Path, default=None,
                   help=f"the experiment folder receiving {receives} (default: the folder "
                        "above the run's exp_data/)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--bs", type=int, default=bs_default, help=bs_help)
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def experiment_folder(model_folder: Path, base_folder=None) -> Path:
    """The experiment folder B of a run folder B/exp_data/<run>, unless given."""
    from experiments.grid import EXP_DATA

    if base_folder is not None:
        return Path(base_folder)
    if Path(model_folder).parent.name != EXP_DATA:
        raise UserError(f"{model_folder} is not in an {EXP_DATA}/ folder; say where the "
                        "predictions go with --base_folder")
    return Path(model_folder).parent.parent
