"""Launch planned jobs (launching.jobs) on this machine or on a Slurm cluster.

- a finished run is skipped, an unfinished one resumed (the command carries --resume), an
  absent one started; `--dry-run` lists these decisions and starts nothing;
- a failed run is reported and the others go on; the summary at the end names every
  failure with its one-line error and its log, and the exit status is non-zero if any
  run failed; a run held by another process is reported as running elsewhere;
- every job is a subprocess holding its run folder's lock, logged to B/logs/<run>.log
  (launching.run_process); the local pool is launching.local_pool, Slurm
  launching.slurm; the exe_ scripts' command lines are experiments.cli; what a launch
  prints (the plan of a --dry-run, the summary) is at the end of this module.
"""
import shlex
import shutil
import signal
from pathlib import Path

from errors import UserError, counted
from experiments.launching.jobs import (BUSY, CANCELLED, DONE, FAILED, RESUME, SKIP, SKIPPED,
                                        START, SUBMITTED)
from experiments.launching.local_pool import local_slots, run_local
from experiments.launching.slurm import check_options, run_slurm


def where(args) -> str:
    if args.launcher == "slurm":
        return (f"one Slurm job per run ({args.gpus_per_job} GPU, {args.time} min"
                f"{', partition ' + args.partition if args.partition else ''})")
    return "on this machine"


def launch(jobs, args, extra_args=(), what="run", prepare=None) -> int:
    """Run (or, with --dry-run, list) the jobs with the launcher the options ask for
    (`what` names one job in the lines printed: "run", "prediction");
    `prepare()` runs once before the first job when there is something to run."""
    logs = ", ".join(sorted({str(j.log.parent) for j in jobs}))
    if args.dry_run:
        print_plan(jobs, f"{where(args)}; logs in {logs}", what, extra_args)
        return 0
    # Check the options before `prepare` (which may download) and before any job starts.
    if args.launcher == "slurm" and args.submitit_cluster == "slurm" \
            and shutil.which("sbatch") is None:
        raise UserError("--launcher slurm needs Slurm's sbatch, which is not on the PATH here; "
                        "run this on the cluster's login node, or use --launcher local")
    if args.launcher == "slurm":
        check_options(args)
    slots = None if args.launcher == "slurm" else local_slots(args.gpus, args.cpu,
                                                               args.jobs_per_gpu)
    if prepare is not None and any(j.action != SKIP for j in jobs):
        prepare()
    if args.launcher == "slurm":
        submitit_folder = jobs[0].log.parent / "submitit" if jobs else Path(".")
        return summarize(run_slurm(jobs, submitit_folder, args, extra_args, f"{what}s"), what)
    devices = sorted({f"cuda ({d})" if kind == "cuda" else "cpu" for kind, d in slots})
    print(f"{counted(len(jobs), what)} on {', '.join(devices)}, {args.jobs_per_gpu} at a "
          f"time on each; logs in {logs}", flush=True)
    # A plain `kill` of the launcher stops its subprocesses too (run_local cleans up).
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        outcomes = run_local(jobs, slots, extra_args, f"{what}s")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return summarize(outcomes, what)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


# ------------------------------------------------------------ what a launch prints
# The plan of a --dry-run, a line per finished job, the summary.

def print_plan(jobs, where: str, what="run", extra_args=()) -> None:
    """--dry-run: what would happen to each job, and one full command as an example."""
    width = max((len(j.name) for j in jobs), default=0)
    for job in jobs:
        print(f"  {job.action:7s} {job.name:{width}s}  ({job.note})")
    counts = {a: sum(j.action == a for j in jobs) for a in (START, RESUME, SKIP)}
    print(f"{counted(len(jobs), what)}: would start {counts[START]}, resume "
          f"{counts[RESUME]}, skip {counts[SKIP]}; {where}")
    example = next((j for j in jobs if j.action != SKIP), None)
    if example:
        print(f"e.g. {shlex.join(example.command('<device>', extra_args))}")


def summarize(outcomes, what="run") -> int:
    """Print the summary; the exit status: 1 if any job failed or was cancelled, else 0.
    A job running elsewhere has not failed: it is named, with the holder's pid."""
    count = {s: [o for o in outcomes if o.status == s]
             for s in (DONE, FAILED, SKIPPED, SUBMITTED, BUSY, CANCELLED)}
    started = sum(o.job.action == START for o in count[DONE])
    resumed = len(count[DONE]) - started
    line = (f"{counted(len(outcomes), what)}: {started} done, {resumed} resumed, "
            f"{len(count[SKIPPED])} skipped, {len(count[FAILED])} failed")
    if count[BUSY]:
        line += f", {len(count[BUSY])} running elsewhere"
    if count[CANCELLED]:
        line += f", {len(count[CANCELLED])} cancelled"
    if count[SUBMITTED]:
        line += f", {len(count[SUBMITTED])} submitted to Slurm (not waited for)"
    print(line, flush=True)
    for o in count[BUSY]:
        print(f"  running elsewhere: {o.job.name}: {o.message}", flush=True)
    for o in count[FAILED]:
        print(f"  failed: {o.job.name}: {o.message} (log: {o.job.log})", flush=True)
    # The run is not finished, but nothing of it is lost: the next launch resumes it.
    for o in count[CANCELLED]:
        print(f"  cancelled: {o.job.name}: {o.message}; launch again to resume it "
              f"(log: {o.job.log})", flush=True)
    return 1 if count[FAILED] or count[CANCELLED] else 0
