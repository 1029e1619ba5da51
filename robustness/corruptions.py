"""Predictions of one trained model on every CIFAR-10-C (or CIFAR-100-C) corruption, resumable.

One file per run, B/corruption_predictions/<run name>.npz, holding
  n            int64 scalar: images per severity (10,000, or the subset's m)
  labels       uint8 (5 n,): the true classes, severity 1's block first
  <corruption> uint8 (5 n,): the predicted classes, one array per corruption done
  <corruption>_confidence  float32 (5 n,): the softmax probability of each predicted
               class (the top-1 confidence, for the calibration tables); absent in files
               written before it was kept, which are still read
  record       str: JSON of what made it (robustness.provenance): the weights' and
               labels.npy's fingerprints, n, the subset and `data_source`, the folder
               in words ("CIFAR-10-C (md5-verified download)", the stand-in ...)
It is rewritten (atomically) after every corruption, so an interrupted job keeps what it
finished and the next one computes only the missing corruptions (and those without
confidences). A file that cannot be
read, or was made on other images (another n or other labels) or by other weights, is
computed afresh; one made on more images per severity is never replaced by fewer
without --replace-larger.
"""
import sys
from pathlib import Path

import numpy as np

import atomic_files
from datasets import cifar10c
from errors import UserError
from robustness import provenance
from precision import error_text

# torch is imported by the predicting functions, not here: the evaluation reads these
# files without paying for it.
OUTPUT_FOLDER = "corruption_predictions"
NUM_CLASSES = 10    # CIFAR-10-C's; read_predictions takes CIFAR-100-C's 100
N_KEY, LABELS_KEY = "n", "labels"
CONFIDENCE_SUFFIX = "_confidence"


def output_file(base_folder, run_name: str) -> Path:
    return Path(base_folder) / OUTPUT_FOLDER / f"{run_name}.npz"


class BadCorruptionPredictions(UserError):
    """A corruption prediction file that cannot be used; the message says why."""


def read_predictions(path, num_classes: int = NUM_CLASSES) -> dict:
    """{'n': int, 'labels': uint8 (5 n,), 'predictions': {corruption: uint8 (5 n,)},
    'confidences': {corruption: float32 (5 n,)} (those recorded), 'record'} of a
    prediction file of `num_classes` classes, checked; BadCorruptionPredictions if it
    cannot be used."""
    path = Path(path)
    arrays, record = provenance.read_archive(path, BadCorruptionPredictions)
    if N_KEY not in arrays or LABELS_KEY not in arrays:
        raise BadCorruptionPredictions(f"{path} lacks '{N_KEY}' or '{LABELS_KEY}'")
    n, labels = int(arrays.pop(N_KEY)), arrays.pop(LABELS_KEY)
    predictions, confidences = {}, {}
    for name in cifar10c.CORRUPTIONS:
        if name not in arrays:
            continue
        array = arrays.pop(name)
        if array.shape != (5 * n,) or array.dtype != np.uint8 or \
                array.max(initial=0) >= num_classes:
            raise BadCorruptionPredictions(f"{path}: '{name}' is {array.dtype} {array.shape}, "
                                           f"expected uint8 ({5 * n},) of classes "
                                           f"0-{num_classes - 1}")
        predictions[name] = array
        if name + CONFIDENCE_SUFFIX in arrays:
            confidences[name] = checked_confidence(arrays.pop(name + CONFIDENCE_SUFFIX),
                                                   5 * n, f"{path}: '{name}{CONFIDENCE_SUFFIX}'")
    if n < 1 or labels.shape != (5 * n,) or labels.dtype != np.uint8 or arrays:
        raise BadCorruptionPredictions(f"{path} is not a corruption prediction file (n={n}, "
                                       f"labels {labels.shape}, unknown keys {sorted(arrays)})")
    return dict(n=n, labels=labels, predictions=predictions, confidences=confidences,
                record=record)


def checked_confidence(array, length: int, what: str) -> np.ndarray:
    """`array` if it is float32 (length,) of probabilities; BadCorruptionPredictions if not."""
    if array.shape != (length,) or array.dtype != np.float32 \
            or not (np.isfinite(array).all() and 0 <= array.min(initial=0) <= array.max(initial=0) <= 1):
        raise BadCorruptionPredictions(f"{what} is {array.dtype} {array.shape}, expected float32 "
                                       f"({length},) of probabilities 0-1")
    return array


def write_predictions(path, n: int, labels, predictions: dict, record=None,
                      confidences=None) -> None:
    """Write a prediction file; `confidences` ({corruption: (5 n,)}) may hold some or none
    of the corruptions."""
    arrays = {N_KEY: np.int64(n), LABELS_KEY: np.asarray(labels, dtype=np.uint8)}
    if record is not None:
        arrays[provenance.RECORD_KEY] = provenance.record_array(record)
    arrays.update({name: np.asarray(p, dtype=np.uint8) for name, p in predictions.items()})
    arrays.update({name + CONFIDENCE_SUFFIX: np.asarray(c, dtype=np.float32)
                   for name, c in (confidences or {}).items()})
    with atomic_files.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def predict_images(model, images_uint8_nhwc, device, batch_size: int,
                   data_set=None) -> np.ndarray:
    """Predicted classes, uint8 (len(images),), of a trained model on uint8 NHWC images."""
    return predict_with_confidence(model, images_uint8_nhwc, device, batch_size,
                                   data_set=data_set)[0]


def predict_with_confidence(model, images_uint8_nhwc, device,
                            batch_size: int, num_classes=None, data_set=None) -> tuple:
    """(predicted classes uint8, their softmax probabilities float32 (the top-1
    confidence, for calibration)), each (len(images),), of a trained model on uint8
    NHWC images; a UserError if the model has not `num_classes` outputs (when given).

    The images cross to the device once; each batch is normalised there (as in training,
    with the mean and std of `data_set`, a datasets.catalog.DataSet; default CIFAR-10's)
    and fed in channels_last memory."""
    import torch

    from datasets.loader import Normalize
    from training.devices import cpu_memory_kept

    device = torch.device(device)
    # np.array copies a read-only memory map into memory (torch refuses read-only arrays).
    images = torch.from_numpy(np.array(images_uint8_nhwc, copy=True, order="C")).to(device)
    normalize = Normalize(device) if data_set is None else \
        Normalize(device, data_set.mean, data_set.std)
    model.eval()
    out = torch.empty(len(images), dtype=torch.uint8, device=device)
    confidence = torch.empty(len(images), dtype=torch.float32, device=device)
    with torch.inference_mode(), cpu_memory_kept(device):
        for start in range(0, len(images), batch_size):
            x = normalize(images[start:start + batch_size], channels_last=True)
            logits = model(x).float()
            if num_classes is not None and logits.shape[1] != num_classes:
                raise UserError(f"the model has {logits.shape[1]} outputs, not the "
                                f"{num_classes} classes of the data it is tested on")
            top = torch.softmax(logits, 1).max(1)
            out[start:start + batch_size] = top.indices.to(torch.uint8)
            confidence[start:start + batch_size] = top.values
    return out.cpu().numpy(), confidence.cpu().numpy()


def data_record(folder, n: int, subset) -> dict:
    """The record's data part: labels.npy's fingerprint, what the folder holds in words
    (datasets.identity.describe_corruptions), images per severity, subset."""
    from datasets.identity import describe_corruptions
    from robustness.provenance import file_sha256

    return dict(data="sha256:" + file_sha256(Path(folder) / cifar10c.LABELS_FILE), n=n,
                subset=subset, data_source=describe_corruptions(folder)["text"])


def _usable_existing(path: Path, n: int, labels: np.ndarray, record=None,
                     replace_larger: bool = False, num_classes: int = NUM_CLASSES) -> tuple:
    """(predictions, confidences) of the corruptions already predicted in `path` on these
    very images (by the weights of `record`, when given), or ({}, {}). A file on more
    images per severity is a UserError unless `replace_larger`."""
    from robustness.provenance import reusable

    existing = reusable(path, lambda p: read_predictions(p, num_classes),
                        BadCorruptionPredictions, record, keys=("weights",))
    if existing is None:
        return {}, {}
    if existing["n"] > n and not replace_larger:
        raise UserError(f"{path} holds predictions on {existing['n']} images per severity; "
                        f"{n} would replace them: pass --replace-larger to do so, or write "
                        "elsewhere with --base_folder")
    if existing["n"] != n or not np.array_equal(existing["labels"], labels):
        print(f"warning: {path} was made on other images (n={existing['n']}, not {n}); "
              "computing it again", file=sys.stderr, flush=True)
        return {}, {}
    return dict(existing["predictions"]), dict(existing["confidences"])


def predict_corruptions(model, folder, output, device, batch_size: int = 1000,
                        corruptions=None, subset=None, log=print, weights=None,
                        test_labels=None, replace_larger: bool = False,
                        data_set=None) -> dict:
    """Predict every requested corruption present in CIFAR-10-C `folder` (default: all
    present) into `output`, keeping those already there (made by the same `weights`, a
    fingerprint, when given; it goes into the file's record). labels.npy must repeat
    `test_labels` when given. `data_set`: the model's (datasets.catalog; default
    CIFAR-10), whose normalisation and classes the predictions use. Returns
    {corruption: test error in % over all severities} of the corruptions now in the file."""
    folder, output = Path(folder), Path(output)
    full_labels, full_n = cifar10c.load_labels(folder, test_labels=test_labels)
    labels, n = full_labels, full_n
    if subset is not None:
        labels, n = cifar10c.first_of_each_severity(labels, n, subset), min(subset, n)
    labels = labels.astype(np.uint8)
    names = list(corruptions) if corruptions else cifar10c.present_corruptions(folder)
    if not names:
        raise UserError(f"no corruption files in {folder}; {cifar10c.redownload_hint(folder)}")
    record = dict(weights=weights, **data_record(folder, n, subset)) if weights else None
    classes = NUM_CLASSES if data_set is None else data_set.num_classes
    predictions, confidences = _usable_existing(output, n, labels, record, replace_larger,
                                                classes)
    for name in names:
        if name in confidences:     # one predicted before confidences were kept: again
            continue
        images = cifar10c.open_corruption(folder, name, full_n)
        if subset is not None:
            images = cifar10c.first_of_each_severity(images, full_n, subset)
        predictions[name], confidences[name] = predict_with_confidence(
            model, images, device, batch_size, data_set=data_set)
        write_predictions(output, n, labels, predictions, record, confidences)
        error = 100.0 * (predictions[name] != labels).mean()
        log(f"{name}: error {error_text(error, len(labels))} % over {len(labels):,} images")
    return {name: 100.0 * float((p != labels).mean()) for name, p in predictions.items()}


def errors_by_severity(predictions: dict) -> list:
    """Rows (corruption, severity, n, er in %) of a read prediction file."""
    n, labels = predictions["n"], predictions["labels"]
    rows = []
    for name, predicted in predictions["predictions"].items():
        for severity in cifar10c.SEVERITIES:
            rows_ = cifar10c.severity_rows(n, severity)
            er = 100.0 * float((predicted[rows_] != labels[rows_]).mean())
            rows.append(dict(corruption=name, severity=severity, n=n, er=er))
    return rows
