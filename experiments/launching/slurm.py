"""The Slurm launcher: one Slurm job per run through submitit.

A job is a thin wrapper around the same logged subprocess the local launcher starts
(run_process.run_logged), as ConvNeXt's run_with_submitit.py wraps its training entry
point. Before the time limit, or on preemption, the job stops its subprocess and is
requeued; the command carries --resume, so the run continues from its last checkpoint.

The launcher follows its jobs with squeue, not with submitit's watcher: that one asks
sacct, which says nothing on the many clusters that run without accounting (it warns at
every poll, and a cancelled job never ends for it). squeue knows live jobs, and ended
ones for a few minutes (MinJobAge); a job's own result is submitit's result file. The id
of each submitted job is kept next to its log (<log>.slurm.json), so that a second
launch finds a job still queued or running and follows it instead of submitting the run
twice.
"""
import dataclasses
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

import config
from errors import UserError
from experiments.launching.jobs import (BUSY, CANCELLED, DONE, FAILED, RESUME, SKIP, SKIPPED,
                                        START, SUBMITTED, Job, Outcome, describe)
from experiments.launching.slurm_queue import LIVE_STATES, live_recorded_jobs, record_job, \
    squeue_states
from experiments.launching.run_process import RunElsewhere, failure_message, last_error, \
    run_logged

# How often a run may hit the time limit and be requeued before it counts as failed
# (ConvNeXt allows 30): the default of --max-timeouts. Preemptions do not count.
SLURM_MAX_TIMEOUTS = 30
# Seconds between submitit's warning signal and the end of the job's time, for limits of
# 8 minutes and more; shorter limits get a quarter of their length (signal_delay_s).
SLURM_SIGNAL_DELAY_S = 120
# Seconds a job that Slurm reports COMPLETED may take to show its result file (a shared
# file system can be late) before it counts as ended without a result.
RESULT_GRACE_S = 60

def signal_delay_s(time_min: int) -> int:
    """Seconds between the warning signal and the end of a job of `time_min` minutes.

    Slurm checks time limits about every 30 s and may send the signal that much before
    the delay asked for; with a delay as long as the limit (--time 1 and two minutes)
    every job would be warned as it starts, stop its run and be requeued, over and over.
    A quarter of the limit leaves a job of one minute a quarter of its time to work, and
    jobs of two minutes or more at least half of theirs."""
    return min(SLURM_SIGNAL_DELAY_S, time_min * 60 // 4)


def check_options(slurm) -> None:
    """One-line errors for Slurm options no job could run with, before anything starts."""
    if slurm.time < 1:
        raise UserError(f"--time {slurm.time}: Slurm's smallest time limit is 1 (minute)")
    if getattr(slurm, "max_timeouts", 0) < 0:
        raise UserError(f"--max-timeouts {slurm.max_timeouts}: give 0 or more")
    if getattr(slurm, "poll_s", 1) <= 0:
        raise UserError(f"--poll-s {slurm.poll_s}: give a number of seconds above 0")


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
        self._requeued = None   # what `checkpoint` handed to submitit, once it was called

    def __call__(self):
        try:
            returncode = run_logged(self.job, self.job.command(self.device, self.extra_args),
                                    dict(os.environ), self._started,
                                    child_setup=ignore_job_signals)
        except RunElsewhere as e:
            return RanElsewhere(str(e))
        if self._requeued is not None:
            raise NotRequeued(self._requeued)
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
        self._requeued = submitit.helpers.DelayedSubmission(requeued)
        return self._requeued

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


class NotRequeued(RuntimeError):
    """The job's run was stopped by `SlurmRun.checkpoint`, and the job was not requeued.

    When it does not requeue, submitit's handler raises its own error so that the job ends
    with it (when it requeues, it exits). That error is lost when the signal lands inside
    a logging call, which swallows errors; and Slurm sends SIGCONT just before the warning,
    which submitit's handler of SIGCONT logs. The wait in __call__ then goes on, and the
    subprocess the handler has already reaped reads as exit status 0 (Popen's answer for a
    child it can no longer wait for). Without this error the unfinished run would count as
    done (seen on the test cluster)."""

    def __init__(self, submission):
        # submitit sets the timeouts left on the requeued submission: below 0, none.
        if getattr(submission, "_timeout_countdown", 0) < 0:
            reason = "timed-out too many times"
        else:
            reason = "its requeue failed"
        super().__init__(f"Job not requeued because: {reason} (the run was stopped at "
                         "Slurm's signal)")


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
                                     slurm_max_num_timeout=max_timeouts(slurm))
    parameters = dict(timeout_min=slurm.time, gpus_per_node=slurm.gpus_per_job,
                      tasks_per_node=1, cpus_per_task=slurm.cpus_per_task, mem_gb=slurm.mem,
                      slurm_signal_delay_s=signal_delay_s(slurm.time))
    if slurm.partition:
        parameters["slurm_partition"] = slurm.partition
    executor.update_parameters(**parameters)
    return executor


def max_timeouts(slurm) -> int:
    return getattr(slurm, "max_timeouts", SLURM_MAX_TIMEOUTS)


def run_slurm(jobs, submitit_folder: Path, slurm, extra_args=(), progress_desc="runs") -> list:
    """Submit one job per run that is not skipped, unless an earlier launch's job for it
    is still queued or running; wait for them unless slurm.no_wait."""
    executor = _executor(submitit_folder, slurm)
    device = "cuda" if slurm.gpus_per_job > 0 else "cpu"
    on_slurm = slurm.submitit_cluster == "slurm"
    outcomes = {j.name: Outcome(j, SKIPPED) for j in jobs if j.action == SKIP}
    todo = [j for j in jobs if j.action != SKIP]
    earlier = live_recorded_jobs(todo) if on_slurm else {}
    submitted = []    # (Job, submitit job)
    for job in todo:
        if job.name in earlier:
            slurm_job, state = earlier[job.name]
            # Counted as done, not as resumed, when it ends: this launch resumed nothing.
            job = dataclasses.replace(job, action=START)
            note = f"job {slurm_job.job_id}, {state.label()}, submitted earlier"
            print(f"{job.name}: job {slurm_job.job_id} is still {state.label()}; not "
                  "submitting it again", flush=True)
        else:
            executor.update_parameters(name=job.name)
            slurm_job = executor.submit(SlurmRun(job, device, extra_args))
            if on_slurm:
                record_job(job, slurm_job)
            note = f"job {slurm_job.job_id}"
            print(f"submitted {job.name} as job {slurm_job.job_id}", flush=True)
        submitted.append((job, slurm_job))
        outcomes[job.name] = Outcome(job, SUBMITTED, note)
    if not slurm.no_wait and submitted:
        poll_s = getattr(slurm, "poll_s", 30.0) if on_slurm else 1.0
        follow_slurm_jobs(submitted, outcomes, len(jobs), progress_desc, poll_s=poll_s,
                          on_slurm=on_slurm, max_timeouts=max_timeouts(slurm))
    return [outcomes[j.name] for j in jobs]


# ------------------------------------------------------------ following the jobs

def _slurm_outcome(job: Job, slurm_job, how: str, timeouts: int) -> Outcome:
    """The outcome of a job that has its result file, or (local executor) has ended."""
    try:
        result = slurm_job.result()
    except Exception as e:  # the job's own error, or submitit's
        if "timed-out too many times" in str(e):
            return Outcome(job, FAILED, f"job {slurm_job.job_id} reached its time limit more "
                                        f"than --max-timeouts {timeouts} times; launch again "
                                        "(it resumes), with a longer --time")
        return Outcome(job, FAILED, f"job {slurm_job.job_id} {how}: "
                                    f"{last_error(job.log) or type(e).__name__}")
    if isinstance(result, RanElsewhere):
        return Outcome(job, BUSY, result.message)
    return Outcome(job, DONE)


class _Follower:
    """What is known of the submitted jobs between two polls."""

    def __init__(self, on_slurm: bool, timeouts: int):
        self.on_slurm, self.timeouts = on_slurm, timeouts
        self.completed_since = {}   # job id -> when squeue first said COMPLETED

    def outcome(self, job: Job, slurm_job, states):
        """The job's Outcome if it is over, else None."""
        job_id = slurm_job.job_id
        if slurm_job.paths.result_pickle.exists():
            # The job's own account of its end; squeue may still say RUNNING meanwhile.
            return _slurm_outcome(job, slurm_job, "failed", self.timeouts)
        if not self.on_slurm:   # submitit's local executor knows its own processes
            return _slurm_outcome(job, slurm_job, slurm_job.state, self.timeouts) \
                if slurm_job.done() else None
        if states is None:
            return None
        state = states.get(job_id)
        if state is None:
            return Outcome(job, FAILED, f"job {job_id} ended without a result and Slurm no "
                                        f"longer knows it; see {slurm_job.paths.stderr}")
        if state.state in LIVE_STATES:
            return None
        if state.state == "CANCELLED":
            return Outcome(job, CANCELLED, f"job {job_id} cancelled")
        if state.state == "COMPLETED":
            first = self.completed_since.setdefault(job_id, time.monotonic())
            if time.monotonic() - first < RESULT_GRACE_S:
                return None
        error = last_error(job.log)
        return Outcome(job, FAILED, f"job {job_id} ended {state.state}"
                                    f"{': ' + error if error else ''}")


def follow_slurm_jobs(submitted, outcomes: dict, total: int, progress_desc: str, poll_s: float,
                      on_slurm: bool = True, max_timeouts: int = SLURM_MAX_TIMEOUTS):
    """Wait for the submitted jobs, recording each one's Outcome as it ends, with a line
    each time a job's state changes (pending, running, requeued, ...)."""
    follower = _Follower(on_slurm, max_timeouts)
    shown = {}        # job id -> the last state line written
    waiting = list(submitted)
    silent_squeue = False   # whether the last squeue call failed
    bar = tqdm(total=total, initial=total - len(submitted), desc=progress_desc, unit="run",
               file=sys.stderr, dynamic_ncols=True)
    try:
        while waiting:
            states = squeue_states([s.job_id for _, s in waiting]) if on_slurm else None
            if on_slurm and (states is None) != silent_squeue:
                silent_squeue = states is None
                bar.write("squeue does not answer; still waiting for the jobs" if silent_squeue
                          else "squeue answers again")
            for job, slurm_job in list(waiting):
                outcome = follower.outcome(job, slurm_job, states)
                if outcome is None:
                    state = (states or {}).get(slurm_job.job_id)
                    # COMPLETING is a passing state (a requeue or an end follows).
                    if state is not None and state.state != "COMPLETING" \
                            and shown.get(slurm_job.job_id) != state.label():
                        shown[slurm_job.job_id] = state.label()
                        bar.write(f"job {slurm_job.job_id} {job.name}: {state.label()}")
                    continue
                waiting.remove((job, slurm_job))
                outcomes[job.name] = outcome
                bar.update()
                bar.write(describe(outcome))
            if waiting:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        ids = " ".join(s.job_id for _, s in submitted)
        bar.write(f"stopped waiting; the submitted jobs keep running (ids {ids}); launch "
                  "again later: finished runs are skipped, a job still queued or running is "
                  "followed, not submitted again")
        raise
    finally:
        bar.close()
