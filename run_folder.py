"""The run folder's format, in one place: its file names, reading and writing its files,
and what state the run is in. Imports nothing of models/, training/ or experiments/,
which all build on it.

A run folder holds (docs/reference.md §4): opt.json (the options), log.json (per-epoch metrics),
model_specs.json (parameter counts), model.pt (the final weights), and our resume
checkpoint `checkpoint.pt`, which also holds the options, so that a lost opt.json can be
rebuilt from it. The authors' published folders have the first four.
"""
import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import atomic_files
from errors import UserError

# An experiment folder B holds its run folders and the logs of the processes launched on
# them (docs/reference.md §4).
EXP_DATA = "exp_data"   # B/exp_data/<run name>/: the run folders
LOGS = "logs"           # B/logs/<run name>.log: output of the launched subprocesses

OPT_FILE = "opt.json"
LOG_FILE = "log.json"
SPECS_FILE = "model_specs.json"
MODEL_FILE = "model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
RUN_FILES = (OPT_FILE, LOG_FILE, SPECS_FILE, MODEL_FILE, CHECKPOINT_FILE)

# ABSENT: nothing there. STARTED: opt.json written, but no epoch finished and no
# checkpoint: there is nothing to resume, a relaunch restarts it from epoch 0.
# UNFINISHED: some epochs done (or unreadable files). FINISHED: all epochs, model.pt saved.
ABSENT, STARTED, UNFINISHED, FINISHED = "absent", "started", "unfinished", "finished"
# Files the trainer writes atomically (plus its write test); a process killed during such
# a write leaves `.<name>.<...>.tmp` behind (atomic_files.atomic_path).
WRITTEN_FILES = (*RUN_FILES, ".write_test")

# log.json's keys (docs/reference.md §4). epoch, sec and lr get an entry per phase (training, then
# validation, where lr is -1); the others one entry per epoch, from its phase.
LOG_KEYS = ("epoch", "loss", "sec", "lr", "num_samples", "acc", "er",
            "val_loss", "val_num_samples", "val_acc", "val_er")


def new_log() -> dict:
    return {key: [] for key in LOG_KEYS}


def append_to_log(log: dict, entries: dict) -> None:
    for key, value in entries.items():
        log[key].append(value)


def epochs_done(log: dict) -> int:
    """Number of completed epochs: each one ends with a validation entry."""
    return len(log.get("val_er", []))


# ------------------------------------------------------------------------ reading

def read_json(path) -> dict:
    """Read a JSON object; a missing or malformed file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); restore or delete it") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} should hold a JSON object, found {type(value).__name__}")
    return value


def read_checkpoint(folder) -> dict:
    """The resume checkpoint (weights, optimizer, schedule, epoch, RNG, log, options)."""
    import torch

    path = Path(folder) / CHECKPOINT_FILE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any failure to unpickle means the same: unusable file
        raise UserError(f"{path} is unreadable ({type(e).__name__}); delete it to restart the "
                        "run from epoch 0, or use --do_overwrite") from None


def _opt_from_checkpoint(folder: Path):
    """The options saved in the checkpoint, or None. Checkpoints written before they held
    all of opt.json hold its configuration part, which builds the model and resumes."""
    if not (folder / CHECKPOINT_FILE).is_file():
        return None
    try:
        opt = read_checkpoint(folder).get("opt")
    except (UserError, AttributeError):
        return None
    return dict(opt, folder=str(folder)) if isinstance(opt, dict) and opt else None


def read_opt(folder) -> dict:
    """opt.json; when it is missing or unreadable, the options kept in checkpoint.pt (the
    trainer writes opt.json again from them when it resumes the run)."""
    folder = Path(folder)
    try:
        return read_json(folder / OPT_FILE)
    except UserError as error:
        opt = _opt_from_checkpoint(folder)
        if opt is not None:
            return opt
        present = [name for name in RUN_FILES if (folder / name).exists()]
        if not present:
            raise
        raise UserError(f"{error}; no {CHECKPOINT_FILE} holds the run's options to rebuild it "
                        f"from: delete {', '.join(present)} in {folder} to start the run over"
                        ) from None


def read_log(folder) -> dict:
    return read_json(Path(folder) / LOG_FILE)


# ------------------------------------------------------------------------ progress
# The one rule for how far a run got, used by training, every launcher and every
# evaluation:
# - its training is done when log.json holds as many epochs as opt.json asks for; the
#   evaluation of test error needs no more, so the authors' published folders count
#   without their model.pt;
# - it is FINISHED when, besides, model.pt is there (`Progress.state`): training skips
#   it, and the prediction scripts have the final weights to test;
# - a per-run result file (JPEG predictions, corruption predictions, attack results) is
#   left out of the tables only when its run folder says the run stopped early
#   (`Progress.unfinished`). A file without a run folder counts: the authors published
#   their JPEG prediction files without run folders, and such a file enters the tables as
#   it is; so does one whose run folder cannot be read (its log cannot say otherwise).

@dataclass(frozen=True)
class Progress:
    state: str                   # ABSENT, STARTED, UNFINISHED or FINISHED (above)
    done: Optional[int] = None   # epochs in log.json; None: no readable log.json
    asked: Optional[int] = None  # epochs opt.json asks for; None: unreadable or absent

    @property
    def unfinished(self) -> str:
        """'3/200 epochs' when the files say the run stopped early, else ''."""
        if self.done is None or self.asked is None or self.done >= self.asked:
            return ""
        return f"{self.done}/{self.asked} epochs"


def _asked_epochs(opt: dict):
    """opt.json's `epochs` as a number (a digit string too); None when it is not one."""
    epochs = opt.get("epochs")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, str)):
        return None
    try:
        return int(epochs)
    except ValueError:
        return None


def progress(folder) -> Progress:
    """How far the run in `folder` got (the rule above); unreadable files count as
    UNFINISHED, which a resume reports with the file to repair."""
    folder = Path(folder)
    if not ((folder / OPT_FILE).is_file() or (folder / CHECKPOINT_FILE).is_file()):
        return Progress(ABSENT)
    try:
        opt = read_opt(folder)
    except UserError:
        return Progress(UNFINISHED)
    asked = _asked_epochs(opt)
    try:
        log = read_log(folder) if (folder / LOG_FILE).exists() else None
    except UserError:
        return Progress(UNFINISHED, asked=asked)
    done = epochs_done(log) if log is not None else None
    if (folder / MODEL_FILE).is_file() and (done or 0) >= int(opt.get("epochs", 0)):
        state = FINISHED
    elif not done and not (folder / CHECKPOINT_FILE).is_file():
        state = STARTED
    else:
        state = UNFINISHED
    return Progress(state, done, asked)


def run_state(folder) -> str:
    """progress(folder).state."""
    return progress(folder).state


# ------------------------------------------------------------------------ writing
# All through atomic_files: a reader sees the old file or the new one, never half of it.

def write_opt(folder, opt: dict) -> None:
    atomic_files.write_json(Path(folder) / OPT_FILE, opt, indent=1)


def write_log(folder, log: dict) -> None:
    atomic_files.write_json(Path(folder) / LOG_FILE, log)


def write_specs(folder, num_params: int) -> None:
    # The authors' file counts trainable and all parameters; in these models they are equal.
    atomic_files.write_json(Path(folder) / SPECS_FILE, {"num_trainable": float(num_params),
                                                        "num_params": float(num_params)})


def save_checkpoint(folder, checkpoint: dict) -> None:
    atomic_files.torch_save(Path(folder) / CHECKPOINT_FILE, checkpoint)


def save_model(folder, state_dict: dict) -> None:
    atomic_files.torch_save(Path(folder) / MODEL_FILE, state_dict)


def discard_weights(folder) -> None:
    """Remove the weights of an earlier run (--do_overwrite); the other files are replaced
    as the new run writes them. The lock file stays: its holder is the new run."""
    for name in (CHECKPOINT_FILE, MODEL_FILE):
        (Path(folder) / name).unlink(missing_ok=True)


def remove_temp_files(folder) -> list:
    """Delete the temporary files of writes that a killed run left in `folder`, of any
    age and naming; only those of the run's own files, so nothing else in the folder is
    touched. Call it holding the folder's lock: then no live writer owns them."""
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


def refuse_if_busy(folder) -> None:
    """Raise RunFolderBusy when another process holds the folder's lock; changes nothing
    (no folder or lock file is created, the lock file is not written)."""
    path = Path(folder) / LOCK_FILE
    if not path.is_file() or _inherited_lock(path) is not None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RunFolderBusy(folder, lock_holder(folder)) from None
    except OSError:
        pass  # no locks on this file system
    finally:
        os.close(fd)  # closing drops the probe's own lock


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
