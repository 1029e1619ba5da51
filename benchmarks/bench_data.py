"""Training-batch throughput: our device-side pipeline against the authors' DataLoader.

    python benchmarks/bench_data.py                      # CPU, 10,000 images, batch 128
    python benchmarks/bench_data.py --device cuda --n 50000
    python benchmarks/bench_data.py --threads 0          # torch's default thread count

Ours: datasets.loader.TrainBatches (uint8 set on the device, batched crop/flip/normalise).
Reference, in the same run on the same images (synthetic_cifar10): torchvision's DataLoader
over a per-image PIL dataset with RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
Normalize, shuffle=True and 0 workers (the authors' setup), each batch moved to the device
inside the timing. Each is timed over full epochs, ended by a device synchronisation, after
one warm-up epoch; the median of --repeats epochs is printed (the CPU here is shared), with
the ratio. Asserts nothing.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from datasets.cifar10 import synthetic_cifar10  # noqa: E402
from benchmarks.authors_pipeline import authors_train_loader  # noqa: E402
from datasets.loader import TrainBatches  # noqa: E402
from errors import ArgumentParser, UserError, run_main  # noqa: E402
from training.devices import synchronize  # noqa: E402


def timed_epoch(batches, device) -> float:
    """images/s of one pass over `batches`, a callable returning a fresh iterator."""
    synchronize(device)
    start, seen = time.perf_counter(), 0
    for x, y in batches():
        seen += len(y)
    synchronize(device)
    return seen / (time.perf_counter() - start)


def median_rate(batches, device, repeats: int) -> float:
    timed_epoch(batches, device)  # warm-up: allocator, kernels, caches
    return statistics.median(timed_epoch(batches, device) for _ in range(repeats))


def ours(images, labels, args, device) -> float:
    batches = TrainBatches(images, labels, args.bs, device, seed=0)
    epochs = iter(range(10**9))
    return median_rate(lambda: batches.epoch(next(epochs)), device, args.repeats)


def reference(images, labels, args, device) -> float:
    loader = authors_train_loader(images, labels, args.bs)

    def batches():
        for x, y in loader:
            yield x.to(device), y.to(device)

    return median_rate(batches, device, args.repeats)


def main(argv):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n", type=int, default=10_000, help="training images (default 10,000)")
    parser.add_argument("--bs", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads, 0 for torch's default (default 1: the "
                             "reference works on one core, and on shared cores two OpenMP "
                             "threads stall whenever another process takes one of them)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs (median)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    if min(args.n, args.bs, args.repeats) < 1:
        raise UserError("--n, --bs and --repeats must be at least 1")
    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as e:
        raise UserError(f"device {args.device!r} is not usable here ({e}); "
                        "try --device cpu") from None
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    images, labels, _, _ = synthetic_cifar10(args.n, 0, seed=0)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.n} images, batch {args.bs}, median of {args.repeats} epochs", flush=True)
    ours_ips = ours(images, labels, args, device)
    print(f"ours       {ours_ips:10.0f} img/s", flush=True)
    reference_ips = reference(images, labels, args, device)
    print(f"reference  {reference_ips:10.0f} img/s   (DataLoader + PIL transforms, 0 workers)")
    print(f"ratio      {ours_ips / reference_ips:10.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
