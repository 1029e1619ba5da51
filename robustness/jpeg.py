"""The JPEG test of one trained model (docs/reference.md §5): its prediction file, where a
run's file lives and whether a file can be used, and the predictions themselves.

One file per run, `B/jpeg_model_predictions/<run name>.npy`: an (n, 11) integer array
whose column 0 is the label and columns 1..10 the predicted class of versions 0..9 of
each test image (0: uncompressed; 1..9: JPEG quality 90..10).
"""
from pathlib import Path

import numpy as np

from errors import UserError

NUM_CLASSES = 10        # CIFAR-10's; CIFAR-100's files (exp_12) are checked for 100
COLUMNS = 11            # the label and the predictions for versions 0..9

# Predictions of the two JPEG protocols (datasets.jpeg.PROTOCOLS) live in different
# folders, so a file made with one protocol can never be read as the other's.
OUTPUT_FOLDERS = {"paper": "jpeg_model_predictions", "rgb": "jpeg_model_predictions_rgb"}


def output_file(base_folder, run_name: str, protocol: str = "paper") -> Path:
    """B/jpeg_model_predictions/<run name>.npy (docs/reference.md §5); the rgb protocol's elsewhere."""
    if protocol not in OUTPUT_FOLDERS:
        raise ValueError(f"unknown JPEG protocol {protocol!r}; use one of {list(OUTPUT_FOLDERS)}")
    return Path(base_folder) / OUTPUT_FOLDERS[protocol] / f"{run_name}.npy"


class BadPredictions(UserError):
    """A prediction file that cannot be used; the message says why."""


def load_predictions(path: Path, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """The (n, 11) integer array of a prediction file, checked; BadPredictions if not."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BadPredictions(f"cannot be read as a .npy array ({e})") from None
    return check_predictions(array, num_classes)


def check_predictions(array: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """`array` if it is an (n, 11) array of class indices; BadPredictions if not."""
    if array.ndim != 2 or array.shape[1] != COLUMNS or array.shape[0] == 0:
        raise BadPredictions(f"has shape {array.shape}, expected (n, {COLUMNS}): the label "
                             "and the predictions for versions 0–9")
    if not np.issubdtype(array.dtype, np.integer):
        raise BadPredictions(f"has dtype {array.dtype}, expected integer class indices")
    if array.min() < 0 or array.max() >= num_classes:
        raise BadPredictions(f"holds values outside the classes 0–{num_classes - 1}")
    return array


def record_of(run_folder, protocol: str, subset) -> dict:
    """What our JPEG file of a run records in its sidecar (robustness.provenance): the
    weights' fingerprint, the protocol and the subset (None: the whole test set)."""
    from robustness.provenance import weights_fingerprint

    return dict(weights=weights_fingerprint(run_folder), protocol=protocol, subset=subset)


def predict(model, stacks, labels, batch_size: int, device: str, channels_last: bool,
            data_set=None):
    """int64 (n, 11): the label, then the predicted class of each of the 10 versions
    (normalised with `data_set`'s mean and std, datasets.catalog; default CIFAR-10's)."""
    import torch

    from datasets import catalog
    from datasets.jpeg import JpegStackBatches
    from training.devices import cpu_memory_kept

    rows = []
    with torch.inference_mode(), cpu_memory_kept(device):
        for x, y in JpegStackBatches(stacks, labels, batch_size, device, channels_last,
                                     data_set or catalog.CIFAR_10):
            # The 10 versions of an image are consecutive rows of x.
            predictions = model(x).argmax(1).view(len(y), -1)
            rows.append(torch.cat([y[:, None], predictions], 1).cpu())
    if not rows:
        return np.zeros((0, COLUMNS), dtype=np.int64)
    return torch.cat(rows).numpy().astype(np.int64)
