"""Planning: which subprocess each run of a grid needs, and what happens to it.

A `Job` is one subprocess of a script of this repository (run_training.py, or a per-run
prediction script such as run_jpeg_robustness_test.py). Whether it starts, resumes or is
skipped is decided here, before anything runs, so that `--dry-run` shows exactly what a
launch would do. Running the jobs is the launchers' business (local_pool, slurm).

Each robustness test's per-run work (experiments.robustness_suite) is a `PredictionKind`:
its script, where a run's output file goes, the script's options and how to tell a
usable output file. Skip, recompute, resume, failures and the summary are the same for
every kind. A run's progress is run_folder.progress, the rule every stage shares.
"""
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import config
import run_folder as rf
from errors import UserError, counted

RUN_TRAINING = config.REPO_ROOT / "run_training.py"

# What happens to a job (decided before anything starts) and how it ended.
START, RESUME, SKIP = "start", "resume", "skip"
DONE, FAILED, SKIPPED, SUBMITTED, BUSY = "done", "failed", "skipped", "submitted", "busy"
# A Slurm job cancelled (scancel) before its run ended: not finished, resumable.
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Job:
    """One subprocess to launch: `python <script> <argv> --device D <extra args>`, for
    the run in `run_folder` (whose lock the launcher holds while the job runs)."""
    name: str
    script: Path
    argv: tuple
    log: Path
    action: str          # START, RESUME or SKIP
    note: str = ""       # why, for the listing: "new", "12 of 200 epochs done", "finished"
    run_folder: Optional[Path] = None

    def command(self, device: str, extra_args=()) -> list:
        return [sys.executable, str(self.script), *self.argv, "--device", device, *extra_args]


@dataclass
class Outcome:
    job: Job
    status: str                 # DONE, FAILED, SKIPPED, SUBMITTED, BUSY or CANCELLED
    message: str = ""           # for a failure: its one-line error; BUSY: who holds the run
    seconds: float = 0.0


def training_jobs(runs, log_folder: Path, script: Path = RUN_TRAINING) -> list:
    """A Job per run of the grid: start it, resume it or skip it (finished)."""
    jobs = []
    for run in runs:
        state = rf.run_state(run.folder)
        if state == rf.FINISHED:
            action, note = SKIP, "finished"
        elif state == rf.UNFINISHED:
            action, note = RESUME, _progress(run.folder)
        elif state == rf.STARTED:
            # Nothing to resume from: the run starts again at epoch 0.
            action, note = START, "restart (no finished epoch)"
        else:
            action, note = START, "new"
        jobs.append(Job(run.name, Path(script), run.argv, log_folder / f"{run.name}.log",
                        action, note, run.folder))
    return jobs


def _progress(run_folder: Path) -> str:
    progress = rf.progress(run_folder)
    if progress.done is None or progress.asked is None:
        return "started"
    return f"{progress.done} of {counted(progress.asked, 'epoch')} done"


@dataclass(frozen=True)
class PredictionKind:
    """A kind of per-run prediction: one script that reads a finished run folder and
    writes one output file.

    output(base_folder, run_name) is the run's output file; options(run, base_folder)
    the script's options for that run (all but --device); usable(path, run_folder)
    raises a UserError saying why an existing output file cannot be used (unreadable,
    incomplete, or its record names other weights or settings than the run's now),
    which makes the launcher compute it again."""
    label: str                  # in log names, B/logs/<run>.<label>.log, and the listing
    script: Path
    output: Callable
    options: Callable
    usable: Callable = lambda path, run_folder: None


def prediction_jobs(kind: PredictionKind, runs, base_folder: Path, log_folder: Path) -> list:
    """A Job per run computing its `kind` predictions. A run that is not finished gets
    none (its model is not the final one); a usable output file is skipped; an unusable
    one is computed again."""
    jobs = []
    for run in runs:
        output = kind.output(base_folder, run.name)
        action, note = START, "new"
        if rf.run_state(run.folder) != rf.FINISHED:
            # model.pt is written when training ends: without it there is nothing to test.
            has_model = (run.folder / rf.MODEL_FILE).is_file()
            action, note = SKIP, "training unfinished" if has_model else "no trained model.pt"
        elif output.exists():
            try:
                kind.usable(output, run.folder)
                action, note = SKIP, "predictions exist"
            except UserError as e:
                note = f"recompute: {output.name} {e}"
        jobs.append(Job(run.name, kind.script, tuple(kind.options(run, base_folder)),
                        log_folder / f"{run.name}.{kind.label}.log", action, note, run.folder))
    return jobs


def untrained(jobs) -> bool:
    """True when no job of a prediction plan has a trained model to work on."""
    return bool(jobs) and all(j.note == "no trained model.pt" for j in jobs)


def describe(outcome: Outcome) -> str:
    job = outcome.job
    if outcome.status == FAILED:
        return f"FAILED  {job.name}: {outcome.message} (log: {job.log})"
    if outcome.status == BUSY:
        return f"busy    {job.name}: {outcome.message}; not started here"
    if outcome.status == CANCELLED:
        return f"CANCELLED {job.name}: {outcome.message} (log: {job.log})"
    verb = "resumed" if job.action == RESUME else "done"
    took = f" in {outcome.seconds / 60:.1f} min" if outcome.seconds else ""
    return f"{verb:8s}{job.name}{took}"
