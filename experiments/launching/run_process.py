"""One job as one logged subprocess, holding its run folder's lock.

- The launcher takes the run folder's lock (run_folder.locked, the lock run_training.py
  takes too) before it starts the subprocess, and hands the open lock file down to it:
  whoever else tries the run meanwhile, a second launcher or a Slurm job, is told it is
  running elsewhere, with the holder's pid.
- The output of the subprocess is appended to its log after a header line with the
  command, so the log of a run resumed three times tells its whole story.
- On Linux the subprocess dies with the launcher (a parent-death signal), so a launcher
  killed with SIGKILL leaves no training behind that holds its run.
"""
import contextlib
import ctypes
import ctypes.util
import os
import shlex
import signal
import socket
import subprocess
from datetime import datetime
from pathlib import Path

import config
import run_folder as rf


class RunElsewhere(Exception):
    """Another process (a launcher, a Slurm job, a training) holds the run's lock."""

    def __init__(self, pid):
        self.pid = pid
        super().__init__(f"running elsewhere (pid {pid})" if pid else "running elsewhere")


# prctl is looked up here, in the launcher, so that the child between fork and exec only
# calls a function pointer: loading a library there could deadlock on a lock some other
# thread of the launcher held at the fork.
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True) \
    if os.uname().sysname == "Linux" else None


def die_with_parent(parent_pid: int) -> None:
    """In the child before exec: be killed when the launcher dies. SIGKILL, because a run
    under Slurm ignores SIGTERM (slurm.ignore_job_signals); every file of a run is written
    atomically, so SIGKILL loses at most the epoch in progress.

    The signal comes when the *thread* that started the child ends: the launchers start
    children from threads that live until the launch is over."""
    if _LIBC is None:
        return
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:   # the launcher died before prctl took effect
        os._exit(1)


def run_logged(job, command: list, env: dict, on_start=None, child_setup=None) -> int:
    """Run `command` holding the lock of job.run_folder, with its output appended to
    job.log; return its exit status. RunElsewhere if another process holds the run.

    The log is an append-only stream written by the subprocess itself, so it cannot go
    through atomic_files; a crash at worst cuts its last line."""
    with contextlib.ExitStack() as stack:
        lock = None
        try:
            if job.run_folder is not None:
                lock = stack.enter_context(rf.locked(job.run_folder))
        except rf.RunFolderBusy as busy:
            raise RunElsewhere(busy.pid) from None
        except OSError:
            pass  # e.g. a file where the folder should be: the script names the problem
        return _run_with_lock(job, command, env, lock.fileno() if lock else None,
                              on_start, child_setup)


def _run_with_lock(job, command, env, lock_fd, on_start, child_setup) -> int:
    job.log.parent.mkdir(parents=True, exist_ok=True)
    parent = os.getpid()

    def setup():
        die_with_parent(parent)
        if child_setup is not None:
            child_setup()

    with open(job.log, "ab") as log:
        stamp = datetime.now().isoformat(timespec="seconds")
        device = env.get("CUDA_VISIBLE_DEVICES")
        where = socket.gethostname() + (f", CUDA_VISIBLE_DEVICES={device}" if device else "")
        log.write(f"\n==== {stamp} {job.action} on {where}: {shlex.join(command)}\n".encode())
        log.flush()
        # The child holds the same lock through the inherited descriptor (run_training.py
        # finds it in the environment), so it keeps the run even if this process dies.
        if lock_fd is not None:
            env = dict(env, **{rf.INHERITED_LOCK_ENV: str(lock_fd)})
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, cwd=config.REPO_ROOT,
                                   preexec_fn=setup,
                                   pass_fds=() if lock_fd is None else (lock_fd,))
        if on_start:
            on_start(process)
        return process.wait()


def log_tail_lines(log: Path) -> list:
    """The non-empty lines of the end of a log (progress bars' carriage returns split
    lines)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip() for line in tail.replace("\r", "\n").splitlines() if line.strip()]


def last_error(log: Path) -> str:
    """The one-line error of the last job in `log` (errors.run_main prints it as
    "error: ..."), or else the last line that job wrote: output flushed at exit or a
    progress bar may follow the error line."""
    lines = log_tail_lines(log)
    headers = [i for i, line in enumerate(lines) if line.startswith("==== ")]
    own = lines[headers[-1] + 1:] if headers else lines
    errors = [line for line in own if line.startswith("error: ")]
    return errors[-1] if errors else (own[-1] if own else "")


def failure_message(job, returncode: int) -> str:
    """`exit N: <its one-line error>`, or how it was killed."""
    how = f"killed by {signal.Signals(-returncode).name}" if returncode < 0 \
        else f"exit {returncode}"
    error = last_error(job.log)
    return f"{how}: {error}" if error else how
