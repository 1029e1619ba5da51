"""The local launcher: the jobs of a grid on this machine's GPUs (or its CPU), at most
`jobs_per_gpu` at a time on each, every job a logged subprocess (run_process)."""
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm import tqdm

from errors import UserError
from experiments.launching.jobs import BUSY, DONE, FAILED, SKIP, SKIPPED, Job, Outcome
from experiments.launching.run_process import RunElsewhere, failure_message, run_logged
from experiments.launching.jobs import describe


# What a machine shows when it has a GPU driver PyTorch could use: NVIDIA's kernel module
# (/proc/driver/nvidia, in containers too), AMD's ROCm (/dev/kfd) or WSL 2's GPU bridge
# (/dev/dxg). Without any of them on Linux, torch.cuda sees no GPU, and importing torch to
# be told so (2 s of every launch on a laptop or a CPU-only node) is skipped.
GPU_DRIVER_MARKERS = ("/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def gpu_driver_present() -> bool:
    """False where no GPU can be visible: Linux without any GPU_DRIVER_MARKERS. Elsewhere
    (macOS, Windows) torch is asked."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(marker) for marker in GPU_DRIVER_MARKERS)


def visible_gpus() -> list:
    """CUDA_VISIBLE_DEVICES values, one per GPU this process may use."""
    if not gpu_driver_present():
        return []
    import torch

    return child_device_ids(torch.cuda.device_count(), os.environ.get("CUDA_VISIBLE_DEVICES"))


def child_device_ids(count: int, cuda_visible_devices=None) -> list:
    """When this process runs under CUDA_VISIBLE_DEVICES, its GPU i is the i-th entry of
    that list, not the physical GPU i: a child must be given the entry."""
    inherited = [d.strip() for d in (cuda_visible_devices or "").split(",") if d.strip()]
    return inherited[:count] if inherited else [str(i) for i in range(count)]


def local_slots(gpu_ids=None, cpu=False, jobs_per_gpu=1) -> list:
    """The pool's slots: `jobs_per_gpu` per GPU (default: every visible GPU), or that many
    on the CPU when there is no GPU or `cpu` is asked for. A slot is a device for the
    job's script plus the CUDA_VISIBLE_DEVICES it runs under."""
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


class _Processes:
    """The running subprocesses, so that an interrupted launch can stop them all."""

    def __init__(self):
        self.running, self.lock, self.stopping = set(), threading.Lock(), threading.Event()

    def register(self, process):
        with self.lock:
            self.running.add(process)
            if self.stopping.is_set():   # Ctrl-C came while it was starting
                process.terminate()

    def stop_all(self):
        self.stopping.set()
        with self.lock:
            for process in self.running:
                if process.poll() is None:
                    process.terminate()


def _child_env(device: str, cuda_visible: str, slot_count: int) -> dict:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=cuda_visible)
    if device == "cpu" and slot_count > 1 and "OMP_NUM_THREADS" not in env:
        # Runs sharing the CPU share its cores, instead of each taking all of them.
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // slot_count))
    return env


def run_local(jobs, slots, extra_args=(), progress_desc="runs") -> list:
    """Run the jobs that are not skipped, at most one per slot at a time; return an
    Outcome per job, in the order of `jobs`."""
    outcomes = {j.name: Outcome(j, SKIPPED) for j in jobs if j.action == SKIP}
    free_slots = queue.Queue()
    for slot in slots:
        free_slots.put(slot)
    processes = _Processes()

    def run_one(job: Job) -> Outcome:
        device, cuda_visible = free_slots.get()
        started = time.perf_counter()
        try:
            if processes.stopping.is_set():
                return Outcome(job, FAILED, "not started: interrupted")
            returncode = run_logged(job, job.command(device, extra_args),
                                    _child_env(device, cuda_visible, len(slots)),
                                    processes.register)
            seconds = time.perf_counter() - started
            if returncode == 0:
                return Outcome(job, DONE, seconds=seconds)
            return Outcome(job, FAILED, failure_message(job, returncode), seconds)
        except RunElsewhere as e:
            return Outcome(job, BUSY, str(e))
        except OSError as e:
            return Outcome(job, FAILED, f"not started: {e}")
        finally:
            free_slots.put((device, cuda_visible))

    bar = tqdm(total=len(jobs), initial=len(outcomes), desc=progress_desc, unit="run",
               file=sys.stderr, dynamic_ncols=True)
    # The pool's threads start the subprocesses and live until the launch is over: a
    # child's parent-death signal follows the thread that started it (run_process).
    pool = ThreadPoolExecutor(max_workers=max(1, len(slots)))
    try:
        futures = [pool.submit(run_one, job) for job in jobs if job.action != SKIP]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.job.name] = outcome
            bar.update()
            bar.write(describe(outcome))
    except BaseException:
        # Ctrl-C (or SIGTERM, see launch): stop every subprocess before leaving, so no
        # training is left running unseen; the runs resume at the next launch.
        processes.stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return [outcomes[j.name] for j in jobs]
