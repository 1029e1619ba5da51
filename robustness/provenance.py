"""What made a per-run result file: its record.

Every prediction and result file of the robustness tests carries a record of the
weights and data it was computed from, and the settings it was computed with (images,
subset, seed, attacks, norm). The launcher compares the record with the run as it is
now and computes a file again when they differ; a retrained run (--do_overwrite) then
never keeps the old model's predictions.

- weights: the SHA-256 of the run's model.pt (a few MB for the paper's runs; hashed once
  per process and file version, see `file_sha256`);
- data: the SHA-256 of the arrays the file was computed on (CIFAR-10-C's labels.npy, or
  the attacked test images and labels).

Files written before records existed have none. The launcher computes such corruption
and adversarial files again (it cannot tell which weights made them), and the
evaluations read them as they are. The authors' JPEG files never had one (and the .npy
format stays theirs): our JPEG files get theirs in a sidecar `<run>.npy.json`, and a
JPEG file without one is kept as it is.
"""
import hashlib
import json
from pathlib import Path

import numpy as np

import atomic_files
from datasets.identity import file_digest
from errors import UserError, warn
from run_folder import MODEL_FILE

def file_sha256(path) -> str:
    """The SHA-256 of a file, read once per file version (datasets.identity.file_digest)."""
    return file_digest(path, "sha256")


def weights_fingerprint(model_folder) -> str:
    return "sha256:" + file_sha256(Path(model_folder) / MODEL_FILE)


def array_fingerprint(*arrays) -> str:
    """The SHA-256 of arrays' dtypes, shapes and values."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode("ascii"))
        digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()


def mismatch(record, expected: dict) -> str:
    """Why a file's `record` does not match `expected` ('' when it does): the first key
    whose value differs, in words. A file without a record does not match."""
    if not isinstance(record, dict):
        return "has no record of the weights and settings that made it"
    for key, value in expected.items():
        if record.get(key) != value:
            what = {"weights": "other weights (the run's model.pt changed)",
                    "data": "other data"}.get(key, f"{key} {record.get(key)!r}, not {value!r}")
            return f"was made with {what}"
    return ""


def reusable(path, read, unusable, record=None, keys=()):
    """`read(path)` of an existing file that a resumed script may add to, or None: when
    the file is missing, unreadable (`unusable`, warned) or, given the run's `record`,
    made from other `keys` of it (warned). The script then computes it again."""
    if not Path(path).is_file():
        return None
    try:
        found = read(path)
    except unusable as e:
        warn(f"{e}; computing it again")
        return None
    why = mismatch(found["record"], {key: record[key] for key in keys}) if record else ""
    if why:
        warn(f"{path} {why}; computing it again")
        return None
    return found


# ------------------------------------------------- the record inside an .npz file
# The corruption and CIFAR-10.1 files are .npz archives that keep their record as JSON
# text under RECORD_KEY.

RECORD_KEY = "record"


def record_array(record: dict) -> np.ndarray:
    """The record as the array an .npz file keeps under RECORD_KEY."""
    return np.array(json.dumps(record, sort_keys=True))


def read_archive(path, bad) -> tuple:
    """(the arrays, the record or None) of an .npz per-run file; `bad` (an exception
    class) when the file cannot be read or its record is not one. None: a file written
    before records existed."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        # A truncated archive is a BadZipFile (or a zlib error, a ValueError here).
        raise bad(f"{path} is truncated or cannot be read ({type(e).__name__}); delete it "
                  "to compute it again") from None
    text = arrays.pop(RECORD_KEY, None)
    if text is None:
        return arrays, None
    try:
        record = json.loads(str(text))
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise bad(f"{path}: its '{RECORD_KEY}' is not a record")
    return arrays, record


# ----------------------------------------------------------------- the JPEG sidecar

def sidecar(path) -> Path:
    return Path(str(path) + ".json")


def write_sidecar(path, record: dict) -> None:
    atomic_files.write_json(sidecar(path), record, indent=1)


def read_sidecar(path):
    """The record next to a .npy file, None without one; a UserError when unreadable."""
    side = sidecar(path)
    if not side.is_file():
        return None
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{side} cannot be read ({type(e).__name__})") from None
    if not isinstance(record, dict):
        raise UserError(f"{side} is not a record")
    return record
