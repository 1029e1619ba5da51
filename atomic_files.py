"""Crash-safe file writes: write a temporary file in the same folder, then rename.

A rename within one file system is atomic, so a reader (or a resumed run) sees either
the old file or the complete new one, never a half-written file under the final name.

Two failures get special care:
- a full disk (or quota) is reported as DiskFull, one line naming the file, and the
  previous file stays as it was;
- a writer killed mid-write leaves its temporary file behind. Temporary names carry the
  host and the writer's pid (`.<name>.<host>-<pid>.<random>.tmp`), so the next write of
  the same file removes the ones whose writer, on this host, is gone.
"""
import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

from errors import UserError

# errno values that mean "no room": the disk is full, or the user's quota is.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
# ... and those that mean "not allowed to write here": permissions, a read-only mount.
NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
# What torch.save's C++ writer says when a write of its zip archive fails.
_TORCH_WRITE_FAILURES = ("unexpected pos", "PytorchStreamWriter failed", "file write failed")
_NEARLY_FULL_BYTES = 64 << 20


class DiskFull(UserError):
    """A write failed for lack of space; the previous file is unchanged."""

    def __init__(self, path, kept: str = "the previous version, if any, is kept"):
        self.path = Path(path)
        super().__init__(f"no space left on the device to write {path} ({kept}); free some "
                         "space and run the same command again")


class NotWritable(UserError):
    """A folder that this process may not write in (read-only, or another owner's)."""

    def __init__(self, folder, error: OSError):
        self.folder = Path(folder)
        super().__init__(f"cannot write in {folder} ({error.strerror or error}); make it "
                         "writable, or choose another folder (--base_folder)")


def _host() -> str:
    # The separator of the temporary names' fields must not occur in the host name.
    return socket.gethostname().replace("-", "_").replace("/", "_") or "host"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _writer_of(temp: Path, path: Path):
    """(host, pid) of the writer that named `temp`, or None for another kind of name."""
    middle = temp.name[len(_temp_prefix(path)):-len(".tmp")]
    writer, _, _random = middle.rpartition(".")
    host, _, pid = writer.rpartition("-")
    return (host, int(pid)) if host and pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def remove_stale_temp_files(path) -> list:
    """Delete the temporary files of earlier writes of `path` whose writer, a process on
    this host, has ended (killed mid-write). Returns the removed paths."""
    path = Path(path)
    host, removed = _host(), []
    for temp in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        writer = _writer_of(temp, path)
        if writer is None or writer[0] != host or _alive(writer[1]):
            continue
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
            removed.append(temp)
    return removed


def written_now(temp) -> bool:
    """Whether a temporary file (`.<name>.<host>-<pid>.<random>.tmp`) may belong to a
    live write: its writer runs on this host, or on another host (which cannot be
    asked). Only a file whose writer on this host has ended is safe to remove."""
    middle, _, _random = Path(temp).name[:-len(".tmp")].rpartition(".")
    rest, _, pid = middle.rpartition("-")
    if not (pid.isdigit() and rest.startswith(".") and "." in rest[1:]):
        return False   # not one of our temporary names: nobody writes it
    if not rest.endswith("." + _host()):
        return True
    return _alive(int(pid))


def _no_space(error: BaseException, folder: Path) -> bool:
    """Whether a failed write failed for lack of space. torch.save's C++ writer and
    numpy's tofile report a short write without an errno; those count when the disk is
    (nearly) full at the moment of the failure, before the temporary file is removed."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno in _NO_SPACE
    short_write = isinstance(error, OSError) or (
        isinstance(error, RuntimeError) and any(s in str(error) for s in _TORCH_WRITE_FAILURES))
    if not short_write:
        return False
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL_BYTES


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; on success it replaces `path`.

    On an exception the temporary file is removed and `path` is left as it was; a failure
    for lack of space becomes DiskFull naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    prefix = f"{_temp_prefix(path)}{_host()}-{os.getpid()}."
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    except OSError as error:
        if error.errno in _NO_SPACE:
            raise DiskFull(path) from None
        if error.errno in NOT_WRITABLE:
            raise NotWritable(path.parent, error) from None
        raise
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        no_space = _no_space(error, path.parent)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if no_space:
            raise DiskFull(path) from None
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj, indent=None) -> None:
    write_text(path, json.dumps(obj, indent=indent))


def save_npy(path, array) -> None:
    """np.save, streamed to the temporary file (no in-memory copy of a large array)."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array), allow_pickle=False)


def torch_save(path, obj) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


# ------------------------------------------------------------ one writer of a file
# A read-modify-write of a file (a per-run script adding a corruption or an eps to its
# output, an evaluation replacing its set of files) holds an exclusive flock on a lock
# file for its whole length. The kernel drops the lock when its holder dies, so a crash
# leaves none behind. A second writer waits, saying for whom, and then reads what the
# first one wrote.

@contextlib.contextmanager
def locked(lock_path, what: str, log=None):
    """Hold the exclusive lock `lock_path` (created if missing) for the body; wait for
    its holder, naming `what` and the holder's pid, when another process has it. A
    folder where the lock cannot be created is a NotWritable naming it."""
    lock_path = Path(lock_path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+", encoding="utf-8")
    except OSError as error:
        if error.errno in _NO_SPACE:
            raise DiskFull(lock_path) from None
        raise NotWritable(lock_path.parent, error) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            (log or (lambda line: print(line, file=sys.stderr, flush=True)))(
                f"waiting for pid {holder}, which is writing {what}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without locks: go on unprotected rather than not at all
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


@contextlib.contextmanager
def locked_folder(folder, what: str, log=None):
    """Hold an exclusive flock on the folder itself for the body (no lock file is left
    in it); wait, naming `what`, while another process holds it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
    except OSError as error:
        raise NotWritable(folder, error) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (log or (lambda line: print(line, file=sys.stderr, flush=True)))(
                f"waiting for another process, which is writing {what}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without locks
        yield
    finally:
        os.close(fd)
