"""What a launch prints: the plan of a --dry-run, a line per finished job, the summary."""
import shlex

from experiments.jobs import (BUSY, CANCELLED, DONE, FAILED, RESUME, SKIP, SKIPPED, START,
                              SUBMITTED, Outcome)

# How the summary names its jobs: one and many.
NOUNS = {"runs": ("run", "runs"), "predictions": ("prediction", "predictions")}


def counted(count: int, what: str) -> str:
    """'1 run', '2 runs': `what` is the plural a launch is called with."""
    one, many = NOUNS.get(what, (what, what))
    return f"{count} {one if count == 1 else many}"


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


def print_plan(jobs, where: str, what="runs", extra_args=()) -> None:
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


def summarize(outcomes, what="runs") -> int:
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
