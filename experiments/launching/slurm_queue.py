"""What the Slurm launcher knows of its jobs on a cluster without accounting: their states
from squeue, and the record of each submitted job kept next to its log, so that a second
launch finds a job still queued or running and follows it instead of submitting the run
twice (experiments.launching.slurm).
"""
import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import atomic_files
from errors import UserError
from experiments.launching.jobs import Job

# squeue's states of a job that is not over (it may still run, or run again).
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED",
               "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING",
               "STAGE_OUT", "SPECIAL_EXIT", "RESV_DEL_HOLD", "PREEMPTED"}


# ------------------------------------------------------------ the jobs' states

@dataclass(frozen=True)
class SlurmState:
    """A job as squeue shows it."""
    state: str          # PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT, ...
    reason: str         # why it is pending, e.g. Resources, BeginTime (after a requeue)
    restarts: int       # how often it was requeued
    name: str

    def label(self) -> str:
        """'pending', 'running', 'requeued (1), pending', ... for the launcher's lines."""
        if self.state == "PENDING":
            return f"requeued ({self.restarts}), pending" if self.restarts else "pending"
        if self.state == "RUNNING":
            return f"running again ({self.restarts} requeues)" if self.restarts else "running"
        return self.state.lower()


def squeue_states(job_ids):
    """{job id: SlurmState} of the jobs Slurm knows among `job_ids`, from one squeue
    call; a job missing from it has been forgotten (ended longer ago than MinJobAge).
    None when squeue did not answer (the controller is busy or restarting)."""
    if not job_ids:
        return {}
    command = ["squeue", "--noheader", "--states=all", "--jobs=" + ",".join(job_ids),
               "--Format=JobID:|,State:|,Reason:|,RestartCnt:|,Name:|"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        # squeue fails this way when it knows none of the ids.
        return {} if "Invalid job id" in result.stderr else None
    states = {}
    for line in result.stdout.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 5 and fields[0]:
            restarts = int(fields[3]) if fields[3].isdigit() else 0
            states[fields[0]] = SlurmState(fields[1], fields[2], restarts, fields[4])
    return states


# ------------------------------------------------------------ the record of a job

def record_file(job: Job) -> Path:
    """B/logs/<run>.slurm.json next to B/logs/<run>.log: the run's last submitted job."""
    return job.log.with_suffix(".slurm.json")


def record_job(job: Job, slurm_job) -> None:
    atomic_files.write_json(record_file(job), {
        "job_id": str(slurm_job.job_id), "name": job.name,
        "submitit_folder": str(slurm_job.paths.folder),
        "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=1)


def live_recorded_jobs(jobs) -> dict:
    """{run name: (submitit job, SlurmState)} of the runs whose recorded job is still
    queued or running under the run's name."""
    import submitit

    records = {}
    for job in jobs:
        try:
            record = json.loads(record_file(job).read_text(encoding="utf-8"))
            records[job.name] = (str(record["job_id"]), Path(record["submitit_folder"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue   # no record, or an unreadable one: nothing to follow
    states = squeue_states(sorted({job_id for job_id, _ in records.values()}))
    if states is None:
        # Submitting blindly could run a run twice, in two jobs fighting for its lock.
        raise UserError("squeue did not answer, so whether the jobs of an earlier launch "
                        f"({', '.join(sorted(records))[:200]}) are still queued is unknown; "
                        "try again when the Slurm controller answers (scontrol ping)")
    live = {}
    for name, (job_id, folder) in records.items():
        state = states.get(job_id)
        # The name guards against a job id Slurm has given to someone else since.
        if state is not None and state.state in LIVE_STATES and state.name == name:
            live[name] = (submitit.SlurmJob(folder=folder, job_id=job_id), state)
    return live
