"""The files of one run folder and what state the run is in.

A run folder holds (SPEC §4): opt.json, log.json, model_specs.json, model.pt, and our
resume checkpoint `checkpoint.pt`. The authors' published folders have the first four.
"""
import json
from pathlib import Path

from errors import UserError

OPT_FILE = "opt.json"
LOG_FILE = "log.json"
SPECS_FILE = "model_specs.json"
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"

ABSENT, UNFINISHED, FINISHED = "absent", "unfinished", "finished"
# Files the trainer writes atomically (plus its write test); a process killed during such
# a write leaves `.<name>.<random>.tmp` behind (atomic_files.atomic_path).
WRITTEN_FILES = (OPT_FILE, LOG_FILE, SPECS_FILE, MODEL_FILE, CHECKPOINT_FILE, ".write_test")


def read_json(path) -> dict:
    """Read a JSON object; a missing or malformed file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); restore or delete it") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} should hold a JSON object, found {type(value).__name__}")
    return value


def read_opt(folder) -> dict:
    return read_json(Path(folder) / OPT_FILE)


def read_log(folder) -> dict:
    return read_json(Path(folder) / LOG_FILE)


def epochs_done(log: dict) -> int:
    """Number of completed epochs: each one ends with a validation entry."""
    return len(log.get("val_er", []))


def run_state(folder) -> str:
    """ABSENT (no opt.json), FINISHED (all epochs of opt.json logged, model.pt saved)
    or UNFINISHED (anything in between, including unreadable files)."""
    folder = Path(folder)
    if not (folder / OPT_FILE).is_file():
        return ABSENT
    try:
        opt, log = read_opt(folder), read_log(folder)
    except UserError:
        return UNFINISHED
    if (folder / MODEL_FILE).is_file() and epochs_done(log) >= int(opt.get("epochs", 0)):
        return FINISHED
    return UNFINISHED


def remove_temp_files(folder) -> list:
    """Delete the temporary files of writes that a killed run left in `folder`; only
    those of the run's own files, so nothing else in the folder is touched."""
    removed = []
    for name in WRITTEN_FILES:
        for path in Path(folder).glob(f".{name}.*.tmp"):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
