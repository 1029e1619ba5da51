"""The files of one run folder and what state the run is in.

A run folder holds (SPEC §4): opt.json, log.json, model_specs.json, model.pt, and our
resume checkpoint `checkpoint.pt`. The authors' published folders have the first four.
"""
import contextlib
import fcntl
import json
import os
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


# ------------------------------------------------------------------------ one process
# One process per run folder: whoever trains into it (run_training.py) or launches a run
# into it (the launchers) holds an exclusive flock on B/<run>/.lock for the run's whole
# life. The kernel drops a flock when the last process holding the open file ends, so a
# crash or SIGKILL leaves no stale lock behind.

LOCK_FILE = ".lock"
# A launcher that holds the lock hands the open file to its child: the child finds the
# descriptor's number here and holds the same lock instead of asking for it again.
INHERITED_LOCK_ENV = "RUN_FOLDER_LOCK_FD"


class RunFolderBusy(UserError):
    """Another process holds the run folder's lock."""

    def __init__(self, folder, pid):
        self.folder, self.pid = Path(folder), pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"{folder} is in use by {who}; wait for it to finish or stop it, "
                         "then run again")


def lock_holder(folder):
    """The pid written into the folder's lock file by its holder, or None."""
    try:
        text = (Path(folder) / LOCK_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _inherited_lock(path: Path):
    """The open lock file handed down by a launcher, if it is `path`'s."""
    fd = os.environ.get(INHERITED_LOCK_ENV)
    if not (fd and fd.isdigit()):
        return None
    try:
        held, wanted = os.fstat(int(fd)), os.stat(path)
    except OSError:
        return None
    if (held.st_dev, held.st_ino) != (wanted.st_dev, wanted.st_ino):
        return None
    return int(fd)


@contextlib.contextmanager
def locked(folder):
    """Hold the exclusive lock of run folder `folder` (created if missing); yields the
    open lock file, whose descriptor a launcher passes on to its child. Raises
    RunFolderBusy naming the holder's pid when another process has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    inherited = _inherited_lock(path) if path.exists() else None
    if inherited is not None:
        with open(inherited, "a+", encoding="utf-8", closefd=False) as handle:
            yield handle
        return
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusy(folder, lock_holder(folder)) from None
        except OSError:
            pass  # a file system without locks: run unprotected rather than not at all
        # The lock file holds the holder's pid, for the message of whoever is refused.
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield handle
