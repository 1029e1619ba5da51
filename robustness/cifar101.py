"""The CIFAR-10.1 test of one trained model (Recht et al. 2018): its predictions on the
new test set and, from the same weights, on CIFAR-10's own test set, resumable.

One file per run, B/cifar101_predictions/<run name>.npz, holding per test set (the
prefix `cifar101_` for CIFAR-10.1, `cifar10_` for the CIFAR-10 test set)
  <prefix>labels      uint8 (n,): the true classes
  <prefix>predicted   uint8 (n,): the predicted classes
  <prefix>confidence  float32 (n,): the softmax probability of each predicted class
and `record`, JSON of what made it (robustness.provenance): the weights' fingerprint,
the SHA-256 of CIFAR-10.1's two files, the fingerprint of the CIFAR-10 test images and
labels, and the subset. The file is written after each test set, so an interrupted job
keeps the first; a file that cannot be read, or was made by other weights or on other
data, is computed afresh; one made on more images is never replaced by fewer without
--replace-larger.
"""
from pathlib import Path

import numpy as np

import atomic_files
from datasets import cifar101
from errors import UserError
from robustness import provenance
from precision import error_text

OUTPUT_FOLDER = "cifar101_predictions"
NUM_CLASSES = 10
SETS = {"cifar101": "CIFAR-10.1", "cifar10": "CIFAR-10"}     # in the order computed
ARRAYS = ("labels", "predicted", "confidence")


def output_file(base_folder, run_name: str) -> Path:
    return Path(base_folder) / OUTPUT_FOLDER / f"{run_name}.npz"


class BadCifar101Predictions(UserError):
    """A CIFAR-10.1 prediction file that cannot be used; the message says why."""


def _checked(path, arrays: dict, prefix: str) -> dict:
    labels, predicted, confidence = (arrays.pop(prefix + key, None) for key in ARRAYS)
    if labels is None or predicted is None or confidence is None:
        raise BadCifar101Predictions(f"{path} lacks some of the {prefix}* arrays")
    n = len(labels)
    for name, array, dtype in (("labels", labels, np.uint8), ("predicted", predicted, np.uint8),
                               ("confidence", confidence, np.float32)):
        if array.shape != (n,) or n == 0 or array.dtype != dtype:
            raise BadCifar101Predictions(f"{path}: '{prefix}{name}' is {array.dtype} "
                                         f"{array.shape}, expected {np.dtype(dtype)} ({n},)")
    if max(labels.max(), predicted.max()) >= NUM_CLASSES or not np.isfinite(confidence).all() \
            or confidence.min() < 0 or confidence.max() > 1:
        raise BadCifar101Predictions(f"{path}: '{prefix}*' holds classes outside 0-9 or "
                                     "confidences outside 0-1")
    return dict(labels=labels, predicted=predicted, confidence=confidence)


def read_predictions(path) -> dict:
    """{'sets': {'cifar101' | 'cifar10': {'labels', 'predicted', 'confidence'}} (those
    done), 'record': dict or None} of a prediction file, checked;
    BadCifar101Predictions if it cannot be used."""
    path = Path(path)
    arrays, record = provenance.read_archive(path, BadCifar101Predictions)
    sets = {name: _checked(path, arrays, f"{name}_") for name in SETS
            if f"{name}_labels" in arrays}
    if arrays or not sets:
        raise BadCifar101Predictions(f"{path} is not a CIFAR-10.1 prediction file (unknown "
                                     f"keys {sorted(arrays)})")
    return dict(sets=sets, record=record)


def write_predictions(path, sets: dict, record=None) -> None:
    arrays = {f"{name}_{key}": part[key] for name, part in sets.items() for key in ARRAYS}
    if record is not None:
        arrays[provenance.RECORD_KEY] = provenance.record_array(record)
    with atomic_files.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def data_record(folder, test_images, test_labels, subset) -> dict:
    """The record's data part: CIFAR-10.1's files, the CIFAR-10 test set, the subset, and
    both test sets' data sets in words (`data_source`, datasets.identity)."""
    from datasets import catalog, identity
    from robustness.provenance import array_fingerprint, file_sha256

    folder = Path(folder)
    sources = dict(cifar10=identity.describe(catalog.data_set("cifar_10").folder())["text"],
                   cifar101=identity.describe_cifar101(folder))
    return dict(data="sha256:" + file_sha256(folder / cifar101.LABELS_FILE),
                images="sha256:" + file_sha256(folder / cifar101.DATA_FILE),
                test_data=array_fingerprint(test_images, test_labels), subset=subset,
                data_source=sources)


def images_of(folder, test_images, test_labels, subset) -> dict:
    """{set: (images, labels)}: `subset` images of CIFAR-10.1 spread evenly over its
    files (they are ordered by class) and the first `subset` CIFAR-10 test images."""
    images, labels = cifar101.load_cifar101(folder)
    chosen = cifar101.evenly_spaced(len(labels), subset)
    m = len(test_labels) if subset is None else min(subset, len(test_labels))
    return {"cifar101": (images[chosen], labels[chosen]),
            "cifar10": (test_images[:m], np.asarray(test_labels)[:m])}


def _reusable(output: Path, record, wanted: dict, replace_larger: bool) -> dict:
    """The test sets already in `output` that were made from this record's weights and
    data, on these very images; {} otherwise."""
    from robustness.provenance import reusable

    found = reusable(output, read_predictions, BadCifar101Predictions, record,
                     keys=("weights", "data", "images", "test_data") if record else ())
    if found is None:
        return {}
    sets = {}
    for name, part in found["sets"].items():
        labels = wanted[name][1]
        if len(part["labels"]) > len(labels) and not replace_larger:
            raise UserError(f"{output} holds predictions on {len(part['labels'])} "
                            f"{SETS[name]} images; {len(labels)} would replace them: pass "
                            "--replace-larger to do so, or write elsewhere with --base_folder")
        if np.array_equal(part["labels"], labels.astype(np.uint8)) and \
                (record is None or found["record"].get("subset") == record["subset"]):
            sets[name] = part
    return sets


def predict_cifar101(model, folder, output, device, test_images, test_labels,
                     batch_size: int = 1000, subset=None, weights=None, log=print,
                     replace_larger: bool = False) -> dict:
    """Predict CIFAR-10.1 (in `folder`) and the CIFAR-10 test set into `output`, keeping a
    test set already there (made by the same `weights` on the same data). Returns
    {set: test error in %}."""
    from robustness.corruptions import predict_with_confidence

    wanted = images_of(folder, test_images, test_labels, subset)
    record = (dict(weights=weights, **data_record(folder, test_images, test_labels, subset))
              if weights else None)
    sets = _reusable(Path(output), record, wanted, replace_larger)
    for name, (images, labels) in wanted.items():
        if name in sets:
            continue
        predicted, confidence = predict_with_confidence(model, images, device, batch_size,
                                                        num_classes=NUM_CLASSES)
        sets[name] = dict(labels=labels.astype(np.uint8), predicted=predicted,
                          confidence=confidence)
        write_predictions(output, sets, record)
        error = 100.0 * (predicted != labels).mean()
        log(f"{SETS[name]}: error {error_text(error, len(labels))} % over {len(labels):,} "
            "images")
    return {name: 100.0 * float((part["predicted"] != part["labels"]).mean())
            for name, part in sets.items()}


def check_usable(path, run_folder, folder, subset) -> None:
    """The launcher's test of an existing file (a UserError says why it is not usable):
    both test sets, made by the run's weights on CIFAR-10.1's files in `folder` (when
    they are there), on the images `subset` asks for."""
    from robustness.provenance import file_sha256, mismatch, weights_fingerprint

    found = read_predictions(path)
    expected = {"weights": weights_fingerprint(run_folder)}
    if (Path(folder) / cifar101.LABELS_FILE).is_file():
        expected["data"] = "sha256:" + file_sha256(Path(folder) / cifar101.LABELS_FILE)
    why = mismatch(found["record"], expected)
    if why:
        raise UserError(why)
    missing = [label for name, label in SETS.items() if name not in found["sets"]]
    if missing:
        raise UserError(f"lacks {' and '.join(missing)}")
    made = found["record"].get("subset")
    if made != subset:
        larger = made is None or (subset is not None and made > subset)
        raise UserError(f"was made on {'all' if made is None else made} images per test set, "
                        f"not {'all' if subset is None else subset}"
                        + (": its job refuses to replace it by fewer unless given -- "
                           "--replace-larger" if larger else ""))
