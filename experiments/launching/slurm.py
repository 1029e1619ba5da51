"""The Slurm launcher: one Slurm job per run through submitit.

A job is a thin wrapper around the same logged subprocess the local launcher starts
(run_process.run_logged), as ConvNeXt's run_with_submitit.py wraps its training entry
point. Before the time limit, or on preemption, the job stops its subprocess and is
requeued; the command carries --resume, so the run continues from its last checkpoint.
"""
import dataclasses
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

import config
from experiments.launching.jobs import BUSY, DONE, FAILED, RESUME, SKIP, SKIPPED, SUBMITTED, Job, Outcome
from experiments.launching.run_process import RunElsewhere, failure_message, last_error, run_logged
from experiments.launching.jobs import describe

# How often a run may hit the time limit and be requeued before it counts as failed
# (ConvNeXt allows 30). Preemptions do not count.
SLURM_MAX_TIMEOUTS = 30
# Seconds between submitit's warning signal and the end of the job's time.
SLURM_SIGNAL_DELAY_S = 120


@dataclass(frozen=True)
class RanElsewhere:
    """A job's result when another process held its run: not a failure."""
    message: str


class SlurmRun:
    """What one Slurm job executes: a run's command as a logged subprocess.

    Before the time limit, or on preemption, submitit calls `checkpoint` in the job: it
    stops the subprocess and hands back this same run to be requeued (an epoch at most is
    repeated)."""

    def __init__(self, job: Job, device: str, extra_args=()):
        self.job, self.device, self.extra_args = job, device, tuple(extra_args)
        self._process = None

    def __call__(self):
        try:
            returncode = run_logged(self.job, self.job.command(self.device, self.extra_args),
                                    dict(os.environ), self._started,
                                    child_setup=ignore_job_signals)
        except RunElsewhere as e:
            return RanElsewhere(str(e))
        if returncode != 0:
            raise RuntimeError(f"{self.job.name} failed ({failure_message(self.job, returncode)}); "
                               f"log: {self.job.log}")
        return self.job.name

    def _started(self, process):
        self._process = process

    def checkpoint(self):
        import submitit

        self._stop_subprocess()
        requeued = type(self)(dataclasses.replace(self.job, action=RESUME), self.device,
                              self.extra_args)
        return submitit.helpers.DelayedSubmission(requeued)

    def _stop_subprocess(self):
        """Kill the subprocess and reap it. SIGKILL is safe: every file of a run is written
        atomically, and its last epoch checkpoint is what the requeued job resumes from
        (the subprocess ignores SIGTERM, see ignore_job_signals).

        This runs in submitit's signal handler, which interrupted Popen.wait in __call__;
        Popen's own wait would deadlock on the lock that call holds, hence os.waitpid."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            os.kill(process.pid, signal.SIGKILL)
            os.waitpid(process.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass  # already gone

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_process"] = None   # a running process cannot be pickled, nor requeued
        return state


def ignore_job_signals():
    """In the subprocess: ignore submitit's warning signal (USR2) and SIGTERM. Slurm sends
    them to every process of the job before the time limit or on preemption; the
    subprocess must not die of them, or the job would end as a failed run rather than be
    requeued: submitit's handler in this process stops it (`SlurmRun.checkpoint`), or Slurm
    kills it with the job."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    signal.signal(getattr(signal, "SIG" + name), signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _executor(submitit_folder: Path, slurm):
    import submitit

    # The jobs unpickle SlurmRun from this repository: make it importable wherever they run
    # (sbatch and submitit's local executor pass this environment on to the job).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(config.REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    executor = submitit.AutoExecutor(folder=submitit_folder / "%j",
                                     cluster=slurm.submitit_cluster,
                                     slurm_max_num_timeout=SLURM_MAX_TIMEOUTS)
    parameters = dict(timeout_min=slurm.time, gpus_per_node=slurm.gpus_per_job,
                      tasks_per_node=1, cpus_per_task=slurm.cpus_per_task, mem_gb=slurm.mem,
                      slurm_signal_delay_s=SLURM_SIGNAL_DELAY_S)
    if slurm.partition:
        parameters["slurm_partition"] = slurm.partition
    executor.update_parameters(**parameters)
    return executor


def run_slurm(jobs, submitit_folder: Path, slurm, extra_args=(), progress_desc="runs") -> list:
    """Submit one job per run that is not skipped; wait for them unless slurm.no_wait."""
    executor = _executor(submitit_folder, slurm)
    device = "cuda" if slurm.gpus_per_job > 0 else "cpu"
    outcomes = {j.name: Outcome(j, SKIPPED) for j in jobs if j.action == SKIP}
    submitted = []    # (Job, submitit job)
    for job in jobs:
        if job.action == SKIP:
            continue
        executor.update_parameters(name=job.name)
        slurm_job = executor.submit(SlurmRun(job, device, extra_args))
        submitted.append((job, slurm_job))
        outcomes[job.name] = Outcome(job, SUBMITTED, f"job {slurm_job.job_id}")
        print(f"submitted {job.name} as job {slurm_job.job_id}", flush=True)
    if not slurm.no_wait and submitted:
        follow_slurm_jobs(submitted, outcomes, len(jobs), progress_desc,
                          poll_s=30.0 if slurm.submitit_cluster == "slurm" else 1.0)
    return [outcomes[j.name] for j in jobs]


def _slurm_outcome(job: Job, slurm_job) -> Outcome:
    try:
        result = slurm_job.result()
    except Exception as e:  # the job's own error, or Slurm's (cancelled, node failure)
        return Outcome(job, FAILED, f"job {slurm_job.job_id} {slurm_job.state}: "
                                    f"{last_error(job.log) or type(e).__name__}")
    if isinstance(result, RanElsewhere):
        return Outcome(job, BUSY, result.message)
    return Outcome(job, DONE)


def follow_slurm_jobs(submitted, outcomes: dict, total: int, progress_desc: str, poll_s: float):
    """Wait for the submitted jobs, recording each one's Outcome as it ends."""
    import submitit

    run_of = {id(slurm_job): job for job, slurm_job in submitted}
    bar = tqdm(total=total, initial=total - len(submitted), desc=progress_desc, unit="run",
               file=sys.stderr, dynamic_ncols=True)
    try:
        for slurm_job in submitit.helpers.as_completed([s for _, s in submitted],
                                                       poll_frequency=poll_s):
            outcome = _slurm_outcome(run_of[id(slurm_job)], slurm_job)
            outcomes[outcome.job.name] = outcome
            bar.update()
            bar.write(describe(outcome))
    except KeyboardInterrupt:
        ids = " ".join(s.job_id for _, s in submitted)
        bar.write(f"stopped waiting; the submitted jobs keep running (ids {ids}); launch "
                  "again later: finished runs are skipped, a run still running is reported "
                  "as running elsewhere")
        raise
    finally:
        bar.close()
