"""Launch the runs of an experiment: on this machine (a pool of GPUs, or the CPU) or on a
Slurm cluster (one job per run, through submitit).

Every run is one subprocess of a script of this repository (run_training.py, or
run_jpeg_robustness_test.py for the JPEG predictions); the launcher only decides whether,
where and when to start it:

- a finished run is skipped, an unfinished one resumed (the command carries --resume), an
  absent one started; `--dry-run` lists these decisions and starts nothing;
- a failed run is reported and the others go on; the summary at the end names every
  failure and its log, and the exit status is non-zero if any run failed;
- the output of every subprocess is appended to B/logs/<run>.log after a header line with
  the command, so the log of a run resumed three times tells its whole story;
- a lock next to the log keeps two launchers (say, a rerun while a Slurm job of the same
  run is still going) from running the same run at the same time.

The exe_ scripts of experiments/ are declarations over `train_main` and `jpeg_tests_main`.
"""
import argparse
import contextlib
import dataclasses
import fcntl
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

import config
from errors import UserError
from experiments import grid, predictions
import run_folder as rf

RUN_TRAINING = config.REPO_ROOT / "run_training.py"
RUN_JPEG_TEST = config.REPO_ROOT / "run_jpeg_robustness_test.py"

# What happens to a run (decided before anything starts) and how it ended.
START, RESUME, SKIP = "start", "resume", "skip"
DONE, FAILED, SKIPPED, SUBMITTED = "done", "failed", "skipped", "submitted"

# Slurm: how often a run may hit the time limit and be requeued before it counts as
# failed (ConvNeXt allows 30). Preemptions do not count.
SLURM_MAX_TIMEOUTS = 30
# Seconds between submitit's warning signal and the end of the job's time.
SLURM_SIGNAL_DELAY_S = 120


# --------------------------------------------------------------------------------- jobs

@dataclass(frozen=True)
class Job:
    """One subprocess to launch: `python <script> <argv> --device D <extra args>`."""
    name: str
    script: Path
    argv: tuple
    log: Path
    action: str          # START, RESUME or SKIP
    note: str = ""       # why, for the listing: "new", "12 of 200 epochs done", "finished"

    def command(self, device: str, extra_args=()) -> list:
        return [sys.executable, str(self.script), *self.argv, "--device", device, *extra_args]


def training_jobs(runs, log_folder: Path, script: Path = RUN_TRAINING) -> list:
    """A Job per run of the grid: start it, resume it or skip it (finished)."""
    jobs = []
    for run in runs:
        state = rf.run_state(run.folder)
        if state == rf.FINISHED:
            action, note = SKIP, "finished"
        elif state == rf.UNFINISHED:
            action, note = RESUME, _progress(run.folder)
        else:
            action, note = START, "new"
        jobs.append(Job(run.name, Path(script), run.argv, log_folder / f"{run.name}.log",
                        action, note))
    return jobs


def _progress(run_folder: Path) -> str:
    try:
        opt, log = rf.read_opt(run_folder), rf.read_log(run_folder)
        return f"{rf.epochs_done(log)} of {opt['epochs']} epochs done"
    except (UserError, KeyError):
        return "started"


def prediction_jobs(runs, base_folder: Path, log_folder: Path, subset=None,
                    protocol: str = "paper") -> list:
    """A Job per run computing its JPEG predictions; runs without a trained model, and
    runs whose predictions file exists, are skipped."""
    jobs = []
    for run in runs:
        output = predictions.predictions_file(base_folder, run.name, protocol)
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--protocol", protocol]
        if subset:
            argv += ["--subset", str(subset)]
        if output.exists():
            action, note = SKIP, "predictions exist"
        elif not (run.folder / rf.MODEL_FILE).is_file():
            # model.pt is written when training ends: without it there is nothing to test.
            action, note = SKIP, "no trained model.pt"
        else:
            action, note = START, "new"
        jobs.append(Job(run.name, RUN_JPEG_TEST, tuple(argv),
                        log_folder / f"{run.name}.{predictions.PREDICTIONS_FOLDERS[protocol]}.log",
                        action, note))
    return jobs


@dataclass
class Outcome:
    job: Job
    status: str                 # DONE, FAILED, SKIPPED or SUBMITTED
    message: str = ""           # for a failure: why, usually the last line of its log
    seconds: float = 0.0


# ----------------------------------------------------------------- one logged subprocess

class RunBusy(Exception):
    """Another process holds the run's lock."""


@contextlib.contextmanager
def run_lock(path: Path):
    """Hold an exclusive lock on `path`; yields the open lock file.

    flock: the kernel releases it when the last process holding the file dies, so a crash
    leaves no stale lock. The file is empty and never read, so it does not go through
    atomic_files."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusy(f"another process is running it (it holds {path})") from None
        except OSError:
            pass  # a file system without locks: run unprotected rather than not at all
        yield handle


def run_logged(job: Job, command: list, env: dict, on_start=None, preexec_fn=None) -> int:
    """Run `command` with its output appended to job.log; return its exit status.

    The log is an append-only stream written by the subprocess itself, so it cannot go
    through atomic_files; a crash at worst cuts its last line."""
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with run_lock(job.log.with_suffix(".lock")) as lock, open(job.log, "ab") as log:
        stamp = datetime.now().isoformat(timespec="seconds")
        device = env.get("CUDA_VISIBLE_DEVICES")
        where = socket.gethostname() + (f", CUDA_VISIBLE_DEVICES={device}" if device else "")
        log.write(f"\n==== {stamp} {job.action} on {where}: {shlex.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, cwd=config.REPO_ROOT,
                                   preexec_fn=preexec_fn,
                                   # The subprocess holds the lock too: should this process
                                   # die first, the run stays locked until it ends.
                                   pass_fds=(lock.fileno(),))
        if on_start:
            on_start(process)
        return process.wait()


def last_log_line(log: Path) -> str:
    """The last non-empty line of a log (progress bars' carriage returns split lines)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def failure_message(job: Job, returncode: int) -> str:
    if returncode < 0:
        how = f"killed by {signal.Signals(-returncode).name}"
    else:
        how = f"exit {returncode}"
    last = last_log_line(job.log)
    return f"{how}: {last}" if last and not last.startswith("====") else how


# ------------------------------------------------------------------------- local pool

def visible_gpus() -> list:
    """CUDA_VISIBLE_DEVICES values, one per GPU this process may use."""
    import torch

    return child_device_ids(torch.cuda.device_count(), os.environ.get("CUDA_VISIBLE_DEVICES"))


def child_device_ids(count: int, cuda_visible_devices=None) -> list:
    """When this process runs under CUDA_VISIBLE_DEVICES, its GPU i is the i-th entry of
    that list, not the physical GPU i: a child must be given the entry."""
    inherited = [d.strip() for d in (cuda_visible_devices or "").split(",") if d.strip()]
    return inherited[:count] if inherited else [str(i) for i in range(count)]


def local_slots(gpu_ids=None, cpu=False, jobs_per_gpu=1) -> list:
    """The pool's slots: `jobs_per_gpu` per GPU (default: every visible GPU), or that many
    on the CPU when there is no GPU or `cpu` is asked for. A slot is a device for
    run_training.py plus the CUDA_VISIBLE_DEVICES it runs under."""
    if jobs_per_gpu < 1:
        raise UserError(f"--jobs-per-gpu must be at least 1, got {jobs_per_gpu}")
    if cpu:
        return [("cpu", "")] * jobs_per_gpu
    visible = visible_gpus()
    if gpu_ids is None:
        gpu_ids = list(range(len(visible)))
    elif not visible:
        raise UserError(f"--gpus {' '.join(map(str, gpu_ids))}: PyTorch sees no GPU here; "
                        "leave --gpus out to run on the CPU")
    bad = [i for i in gpu_ids if not 0 <= i < len(visible)]
    if bad:
        raise UserError(f"--gpus {' '.join(map(str, bad))} not visible; this machine has "
                        f"GPUs {' '.join(map(str, range(len(visible))))}")
    if not visible:
        return [("cpu", "")] * jobs_per_gpu
    return [("cuda", visible[i]) for i in dict.fromkeys(gpu_ids) for _ in range(jobs_per_gpu)]


def run_local(jobs, slots, extra_args=(), progress_desc="runs") -> list:
    """Run the jobs that are not skipped, at most one per slot at a time; return an
    Outcome per job, in the order of `jobs`."""
    outcomes = {j.name: Outcome(j, SKIPPED) for j in jobs if j.action == SKIP}
    to_run = [j for j in jobs if j.action != SKIP]
    free_slots = queue.Queue()
    for slot in slots:
        free_slots.put(slot)
    running, registry_lock, stopping = set(), threading.Lock(), threading.Event()

    def register(process):
        with registry_lock:
            running.add(process)
            if stopping.is_set():   # Ctrl-C came while it was starting
                process.terminate()

    def run_one(job: Job) -> Outcome:
        device, cuda_visible = free_slots.get()
        started = time.perf_counter()
        try:
            if stopping.is_set():
                return Outcome(job, FAILED, "not started: interrupted")
            env = dict(os.environ, CUDA_VISIBLE_DEVICES=cuda_visible)
            if device == "cpu" and len(slots) > 1 and "OMP_NUM_THREADS" not in env:
                # Runs sharing the CPU share its cores, instead of each taking all of them.
                env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // len(slots)))
            returncode = run_logged(job, job.command(device, extra_args), env, register)
            seconds = time.perf_counter() - started
            if returncode == 0:
                return Outcome(job, DONE, seconds=seconds)
            return Outcome(job, FAILED, failure_message(job, returncode), seconds)
        except (RunBusy, OSError) as e:
            return Outcome(job, FAILED, f"not started: {e}")
        finally:
            free_slots.put((device, cuda_visible))

    bar = tqdm(total=len(jobs), initial=len(outcomes), desc=progress_desc, unit="run",
               file=sys.stderr, dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=max(1, len(slots)))
    try:
        futures = [pool.submit(run_one, job) for job in to_run]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.job.name] = outcome
            bar.update()
            bar.write(describe(outcome))
    except BaseException:
        # Ctrl-C (or SIGTERM, see launch): stop every subprocess before leaving, so no
        # training is left running unseen; the runs resume at the next launch.
        stopping.set()
        with registry_lock:
            for process in running:
                if process.poll() is None:
                    process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return [outcomes[j.name] for j in jobs]


def describe(outcome: Outcome) -> str:
    job = outcome.job
    if outcome.status == FAILED:
        return f"FAILED  {job.name}: {outcome.message} (log: {job.log})"
    verb = "resumed" if job.action == RESUME else "done"
    took = f" in {outcome.seconds / 60:.1f} min" if outcome.seconds else ""
    return f"{verb:8s}{job.name}{took}"


# -------------------------------------------------------------------------------- Slurm

class SlurmRun:
    """What one Slurm job executes: a run's command as a subprocess (the Trainer of
    ConvNeXt's run_with_submitit.py).

    Before the time limit, or on preemption, submitit calls `checkpoint` in the job: it
    stops the subprocess and hands back this same run to be requeued. The command carries
    --resume, so the requeued job continues from the run's last checkpoint (an epoch at
    most is repeated)."""

    def __init__(self, job: Job, device: str, extra_args=()):
        self.job, self.device, self.extra_args = job, device, tuple(extra_args)
        self._process = None

    def __call__(self) -> str:
        env = dict(os.environ)
        try:
            returncode = run_logged(self.job, self.job.command(self.device, self.extra_args),
                                    env, self._started, preexec_fn=_ignore_job_signals)
        except RunBusy as e:
            raise RuntimeError(f"{self.job.name} not started: {e}") from None
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
        (the subprocess ignores SIGTERM, see _ignore_job_signals).

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


def _ignore_job_signals():
    """In the subprocess: ignore submitit's warning signal (USR2) and SIGTERM. Slurm sends
    them to every process of the job before the time limit or on preemption; the
    subprocess must not die of them, or the job would end as a failed run rather than be
    requeued: submitit's handler in this process stops it (`SlurmRun.checkpoint`), or Slurm
    kills it with the job."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    signal.signal(getattr(signal, "SIG" + name), signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_slurm(jobs, submitit_folder: Path, slurm: argparse.Namespace, extra_args=(),
              progress_desc="runs") -> list:
    """Submit one job per run that is not skipped; wait for them unless slurm.no_wait."""
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


def follow_slurm_jobs(submitted, outcomes: dict, total: int, progress_desc: str, poll_s: float):
    """Wait for the submitted jobs, recording each one's Outcome as it ends."""
    import submitit

    run_of = {id(slurm_job): job for job, slurm_job in submitted}
    bar = tqdm(total=total, initial=total - len(submitted), desc=progress_desc, unit="run",
               file=sys.stderr, dynamic_ncols=True)
    try:
        for slurm_job in submitit.helpers.as_completed([s for _, s in submitted],
                                                       poll_frequency=poll_s):
            job = run_of[id(slurm_job)]
            try:
                slurm_job.result()
                outcome = Outcome(job, DONE)
            except Exception as e:  # the job's own error, or Slurm's (cancelled, node failure)
                last = last_log_line(job.log)
                outcome = Outcome(job, FAILED, f"job {slurm_job.job_id} {slurm_job.state}: "
                                               f"{last or type(e).__name__}")
            outcomes[job.name] = outcome
            bar.update()
            bar.write(describe(outcome))
    except KeyboardInterrupt:
        ids = " ".join(s.job_id for _, s in submitted)
        bar.write(f"stopped waiting; the submitted jobs keep running (ids {ids}); launch "
                  "again later: finished runs are skipped, a run still running is refused")
        raise
    finally:
        bar.close()


# ------------------------------------------------------------------- listing, summary

def print_plan(jobs, where: str, what="runs", extra_args=()) -> None:
    """--dry-run: what would happen to each job, and one full command as an example."""
    width = max((len(j.name) for j in jobs), default=0)
    for job in jobs:
        print(f"  {job.action:7s} {job.name:{width}s}  ({job.note})")
    counts = {a: sum(j.action == a for j in jobs) for a in (START, RESUME, SKIP)}
    print(f"{len(jobs)} {what}: would start {counts[START]}, resume {counts[RESUME]}, "
          f"skip {counts[SKIP]}; {where}")
    example = next((j for j in jobs if j.action != SKIP), None)
    if example:
        print(f"e.g. {shlex.join(example.command('<device>', extra_args))}")


def summarize(outcomes, what="runs") -> int:
    """Print the summary; the exit status: 1 if any job failed, else 0."""
    count = {s: [o for o in outcomes if o.status == s] for s in (DONE, FAILED, SKIPPED, SUBMITTED)}
    started = sum(o.job.action == START for o in count[DONE])
    resumed = len(count[DONE]) - started
    line = (f"{len(outcomes)} {what}: {started} done, {resumed} resumed, "
            f"{len(count[SKIPPED])} skipped, {len(count[FAILED])} failed")
    if count[SUBMITTED]:
        line += f", {len(count[SUBMITTED])} submitted to Slurm (not waited for)"
    print(line, flush=True)
    for o in count[FAILED]:
        print(f"  failed: {o.job.name}: {o.message} (log: {o.job.log})", flush=True)
    return 1 if count[FAILED] else 0


def launch(jobs, args, extra_args=(), what="runs", prepare=None) -> int:
    """Run (or, with --dry-run, list) the jobs with the launcher the options ask for;
    `prepare()` runs once before the first job when there is something to run."""
    logs = {str(j.log.parent) for j in jobs}
    if args.launcher == "slurm":
        where = (f"one Slurm job per run ({args.gpus_per_job} GPU, {args.time} min"
                 f"{', partition ' + args.partition if args.partition else ''})")
    else:
        where = "on this machine"
    if args.dry_run:
        print_plan(jobs, f"{where}; logs in {', '.join(sorted(logs))}", what, extra_args)
        return 0
    # Check the options before `prepare` (which may download) and before any job starts.
    if args.launcher == "slurm" and args.submitit_cluster == "slurm" \
            and shutil.which("sbatch") is None:
        raise UserError("--launcher slurm needs Slurm's sbatch, which is not on the PATH here; "
                        "run this on the cluster's login node, or use --launcher local")
    slots = None if args.launcher == "slurm" else local_slots(args.gpus, args.cpu,
                                                               args.jobs_per_gpu)
    if prepare is not None and any(j.action != SKIP for j in jobs):
        prepare()
    if args.launcher == "slurm":
        submitit_folder = jobs[0].log.parent / "submitit" if jobs else Path(".")
        outcomes = run_slurm(jobs, submitit_folder, args, extra_args, what)
    else:
        devices = sorted({f"cuda ({d})" if kind == "cuda" else "cpu" for kind, d in slots})
        print(f"{len(jobs)} {what} on {', '.join(devices)}, {args.jobs_per_gpu} at a time "
              f"on each; logs in {', '.join(sorted(logs))}", flush=True)
        # A plain `kill` of the launcher stops its subprocesses too (run_local cleans up).
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            outcomes = run_local(jobs, slots, extra_args, what)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return summarize(outcomes, what)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


# ------------------------------------------------------------------ the exe_ scripts

def build_parser(experiment: grid.Experiment, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description,
        usage="%(prog)s [options] [-- options passed on to each run's script]",
        epilog="Arguments after `--` are passed to every launched script: for training, "
               "e.g. `-- --amp bf16 --compile` (they become part of each run's opt.json: "
               "resume a run with the same ones); for predictions, e.g. `-- --bs 500`.")
    a = p.add_argument
    a("--profile", choices=("paper", "smoke"), default="paper",
      help="paper: the paper's grid under experiments/<exp>/; smoke: one seed, the smallest "
           "size, one epoch on a subset, under experiments/<exp>/smoke/")
    a("--base_folder", type=Path, default=None,
      help=f"write under this folder instead of the profile's ({experiment.base_folder()})")
    a("--seeds", type=int, nargs="+", help=f"only these seeds of {list(experiment.seeds)}")
    a("--models", nargs="+", help=f"only these models of {list(experiment.models)}")
    a("--sizes", type=int, nargs="+", help=f"only these sizes of {list(experiment.sizes)}")
    a("--dry-run", action="store_true",
      help="list the runs and what would happen to each (start, resume, skip); run nothing")
    a("--launcher", choices=("local", "slurm"), default="local")
    a("--debug", action="store_true", help="show full tracebacks")

    local = p.add_argument_group("local launcher")
    local.add_argument("--gpus", type=int, nargs="+", default=None,
                       help="ids of the GPUs to use (default: every visible GPU; the CPU when "
                            "there is none)")
    local.add_argument("--cpu", action="store_true", help="run on the CPU even if there are GPUs")
    local.add_argument("--jobs-per-gpu", type=int, default=1,
                       help="runs sharing one GPU (or the CPU) at a time (default 1)")

    slurm = p.add_argument_group("Slurm launcher (submitit; one job per run)")
    slurm.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    slurm.add_argument("--time", type=int, default=24 * 60,
                       help="time limit of each job in minutes; a run that needs longer is "
                            "requeued and resumes (default 1440)")
    slurm.add_argument("--gpus-per-job", type=int, default=1, help="0 runs on the CPU (default 1)")
    slurm.add_argument("--cpus-per-task", type=int, default=4)
    slurm.add_argument("--mem", type=float, default=16, help="memory per job in GB (default 16)")
    slurm.add_argument("--no-wait", action="store_true",
                       help="submit and return, instead of following the jobs to a summary")
    slurm.add_argument("--submitit-cluster", choices=("slurm", "local"), default="slurm",
                       help="local: run the jobs on this machine through submitit's local "
                            "executor, to try the Slurm path without a cluster")
    return p


def parse_args(parser: argparse.ArgumentParser, argv):
    """Options, and the arguments after `--` that go to every launched script."""
    argv = list(argv)
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    return parser.parse_args(argv), extra


def base_folder_of(experiment: grid.Experiment, args) -> Path:
    folder = args.base_folder or experiment.base_folder(args.profile)
    return Path(folder).expanduser().resolve()


def select(experiment: grid.Experiment, args, base_folder: Path) -> list:
    return grid.select_runs(experiment, args.profile, seeds=args.seeds, models=args.models,
                            sizes=args.sizes, base_folder=base_folder)


def train_main(experiment: grid.Experiment, argv) -> int:
    """exe_train_<exp>.py: train (start, resume or skip) every run of the grid."""
    parser = build_parser(experiment, f"Train the runs of {experiment.name} (SPEC §3), each a "
                                      "subprocess of run_training.py.")
    args, extra = parse_args(parser, argv)
    base_folder = base_folder_of(experiment, args)
    runs = select(experiment, args, base_folder)
    print(f"{experiment.name} ({args.profile}): {len(runs)} runs in "
          f"{base_folder / grid.EXP_DATA}", flush=True)
    from datasets.cifar10 import ensure_cifar10

    # Download once, here (a cluster's login node has the network its jobs may lack),
    # rather than in every parallel run.
    return launch(training_jobs(runs, base_folder / grid.LOGS), args, extra, "runs",
                  prepare=ensure_cifar10)


def jpeg_tests_main(experiment: grid.Experiment, argv) -> int:
    """exe_<exp>_jpeg_tests.py: (with --run-predictions) compute the JPEG predictions of
    every finished run, then evaluate the predictions that exist."""
    parser = build_parser(experiment, f"JPEG robustness test of {experiment.name} (SPEC §5): "
                                      "evaluate the predictions in jpeg_model_predictions/, "
                                      "computing them first with --run-predictions.")
    parser.add_argument("--run-predictions", action="store_true",
                        help="compute the predictions of every finished run that has none "
                             "(each a subprocess of run_jpeg_robustness_test.py)")
    parser.add_argument("--protocol", choices=("paper", "rgb"), default="paper",
                        help="paper: the authors' JPEG test set (SPEC §5); rgb: standard RGB "
                             "JPEGs, with their own test set, prediction files and tables")
    args, extra = parse_args(parser, argv)
    base_folder = base_folder_of(experiment, args)
    code = 0
    if args.run_predictions:
        runs = select(experiment, args, base_folder)
        subset = grid.SMOKE["test_subset"] if args.profile == "smoke" else None
        jobs = prediction_jobs(runs, base_folder, base_folder / grid.LOGS, subset, args.protocol)
        code = launch(jobs, args, extra, "predictions",
                      prepare=lambda: ensure_jpeg_test_set(args.protocol))
        if args.launcher == "slurm" and args.no_wait and not args.dry_run:
            print("the predictions are computed in Slurm jobs; once they are done, run this "
                  "again without --run-predictions to evaluate them")
            return code
    if args.dry_run:
        return code
    from experiments.jpeg_eval import evaluate_jpeg

    # The evaluation runs even when a prediction job failed: the others' tables still count.
    evaluated = evaluate_jpeg(experiment.evaluated_grid(args.profile, base_folder),
                              base_folder, args.protocol)
    return code or evaluated


def ensure_jpeg_test_set(protocol: str = "paper") -> None:
    """Create the JPEG test set once, here, rather than in every parallel prediction job."""
    from datasets import jpeg

    if not all(path.is_file() for path in jpeg.stack_paths(None, protocol)):
        print(f"creating the JPEG test set ({protocol} protocol) in {config.DATA_FOLDER}",
              flush=True)
        jpeg.create_jpeg_test_set(protocol=protocol)
