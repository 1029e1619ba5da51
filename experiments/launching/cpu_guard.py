"""The guard against training the paper's grid on a CPU by accident.

The paper profile is 40 runs of 200 epochs (exp_10): weeks on a laptop's CPU. On a
machine where PyTorch sees no GPU, the local launcher stops before starting anything and
says how long the grid would take here, estimated from a timed training step of each
model in the selection, and the two ways on: `--profile smoke`, or `--cpu` (train on the
CPU anyway). `--dry-run` prints the same estimate.
"""
import time

import run_folder as rf
from errors import UserError
from experiments.launching.jobs import SKIP

# CIFAR-10's split (docs/reference.md §2): a paper epoch trains on 50,000 images and
# tests on 10,000.
TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
# A test image costs about a third of a training image (a forward pass, no backward).
TEST_COST = 1 / 3
TIMED_BATCH = 16   # images per timed step: enough to be steady, cheap on a CPU


def _option(argv, name, default):
    """The value of the last `name` in argv (argparse keeps the last one)."""
    values = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]
    return type(default)(values[-1]) if values else default


def seconds_per_image(model_type: str, model_kw: str, out_dim: int = 10) -> float:
    """Seconds per image of one SGD step of the model on this CPU (a warm-up step first:
    the first step allocates)."""
    import torch

    from models import get_model, parse_model_kw

    model = get_model(model_type, 3, out_dim, **parse_model_kw(model_kw)).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = torch.randn(TIMED_BATCH, 3, 32, 32)
    labels = torch.randint(0, out_dim, (TIMED_BATCH,))
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    return timings[-1] / TIMED_BATCH


def estimate_seconds(jobs, extra_args=(), parallel: int = 1) -> float:
    """The time the jobs' training would take on this CPU, `parallel` at a time."""
    step_cost = {}
    total = 0.0
    for job in jobs:
        if job.action == SKIP:
            continue
        argv = list(job.argv) + list(extra_args)
        key = (_option(argv, "--model_type", ""), _option(argv, "--model_kw", ""))
        if key not in step_cost:
            step_cost[key] = seconds_per_image(*key)
        epochs = _option(argv, "--epochs", 0) - (rf.progress(job.run_folder).done or 0)
        train = min(_option(argv, "--train_subset", TRAIN_IMAGES), TRAIN_IMAGES)
        test = min(_option(argv, "--test_subset", TEST_IMAGES), TEST_IMAGES)
        total += max(epochs, 0) * (train + TEST_COST * test) * step_cost[key]
    return total / max(parallel, 1)


def duration(seconds: float) -> str:
    """'3 days', '5 hours', '12 minutes': the scale a person plans with."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{round(seconds)} seconds"


def estimate_line(jobs, extra_args, parallel: int) -> str:
    todo = [j for j in jobs if j.action != SKIP]
    seconds = estimate_seconds(todo, extra_args, parallel)
    return (f"about {duration(seconds)} on this machine's CPU for "
            f"{len(todo)} run{'s' if len(todo) != 1 else ''} (estimated from a timed "
            f"training step of each model here, {parallel} at a time)")


def refuse_paper_on_cpu(jobs, extra_args, parallel: int) -> None:
    """The guard: a UserError with the estimate and the two ways on."""
    if not any(j.action != SKIP for j in jobs):
        return
    raise UserError(f"the paper profile on a machine without a GPU would take "
                    f"{estimate_line(jobs, extra_args, parallel)}; try --profile smoke for "
                    "a few-minute check of the whole flow, or add --cpu to train the paper's "
                    "grid on the CPU anyway")
