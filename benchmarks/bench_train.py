"""Training throughput: our default path against a loop built like the authors'.

    python benchmarks/bench_train.py                           # CifarMinFP-LS N=3, CPU
    python benchmarks/bench_train.py --device cuda --epoch --amp bf16 --compile \
        --models CifarPyrResNet:N=9 CifarMinFP-LS:N=9 CifarDenseNet:n_blocks=100

Ours: the training epoch of training/trainer.py (batches built on the device, channels_last
model, metrics kept on the device). Reference, measured in the same run on the same data:
torchvision's DataLoader with PIL transforms and 0 workers feeding a contiguous model, the
same batch size, loss and SGD step. Prints images/s and the ratio; asserts nothing.
`--epoch` times one full epoch of 50,000 CIFAR-shaped images on our path only
(evaluation left out), the figure to compare with the authors' logged seconds per epoch.
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from datasets.cifar10 import synthetic_cifar10  # noqa: E402
from benchmarks.authors_pipeline import authors_train_loader  # noqa: E402
from datasets.loader import TrainBatches  # noqa: E402
from models import get_model  # noqa: E402
from errors import ArgumentParser, UserError, run_main  # noqa: E402
from training.devices import synchronize  # noqa: E402
from training.epoch import autocast_context, train_epoch  # noqa: E402


def parse_model(text):
    """'CifarMinFP-LS:N=3' -> ('CifarMinFP-LS', {'N': 3})."""
    name, _, sizes = text.partition(":")
    kw = {k: int(v) for k, v in (item.split("=") for item in sizes.split(",") if item)}
    return name, kw


def ours(name, kw, images, labels, args):
    torch.manual_seed(0)
    model = get_model(name, **kw).to(args.device, memory_format=torch.channels_last)
    step_model = torch.compile(model) if args.compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(torch.device(args.device).type, enabled=args.amp == "fp16")
    autocast = autocast_context(args.amp, args.device)
    warm = TrainBatches(images[:args.bs * 3], labels[:args.bs * 3], args.bs, args.device, seed=1)
    # compile, autotune
    train_epoch(model, step_model, warm, 0, optimizer, scaler, autocast, print_freq=100)
    batches = TrainBatches(images, labels, args.bs, args.device, seed=0)
    synchronize(args.device)
    start = time.perf_counter()
    _, _, seen = train_epoch(model, step_model, batches, 1, optimizer, scaler, autocast,
                             print_freq=100)
    synchronize(args.device)
    return seen / (time.perf_counter() - start)


def reference(name, kw, images, labels, args):
    """The authors' setup: per-image PIL transforms in the main process, NCHW model."""
    torch.manual_seed(0)
    model = get_model(name, **kw).to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loader = authors_train_loader(images, labels, args.bs)
    model.train()
    seen, start = 0, None
    for step, (x, y) in enumerate(loader):
        if step == 3:  # the same warm-up as ours
            synchronize(args.device)
            start, seen = time.perf_counter(), 0
        x, y = x.to(args.device), y.to(args.device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(y)
        loss.item()  # the authors' loop read the loss every step
    synchronize(args.device)
    return seen / (time.perf_counter() - start)


def main(argv):
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["CifarMinFP-LS:N=3"],
                   help="model_type:key=value,... e.g. CifarDenseNet:n_blocks=100")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bs", type=int, default=128)
    p.add_argument("--n", type=int, default=None,
                   help="images per timed pass (default 1,920 on the CPU, 50,000 on CUDA)")
    p.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--epoch", action="store_true",
                   help="time one 50,000-image epoch on our path only (no reference)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device} asked for, but PyTorch sees no CUDA GPU; "
                        "use --device cpu")
    n = 50_000 if args.epoch else (args.n or (50_000 if args.device.startswith("cuda") else 1_920))
    images, labels, _, _ = synthetic_cifar10(n, 0, seed=0)
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.bs}, {n} images, amp {args.amp}, compile {args.compile}")
    for text in args.models:
        name, kw = parse_model(text)
        # The reference first: our train_epoch tunes glibc's malloc thresholds while it runs
        # (training/devices.py cpu_memory_kept) and, on exit, cannot restore glibc's
        # dynamic default exactly; the reference is timed before that for the first model.
        ref_ips = None if args.epoch else reference(name, kw, images, labels, args)
        ours_ips = ours(name, kw, images, labels, args)
        if args.epoch:
            print(f"{text:28s} ours {ours_ips:9.0f} img/s   50,000-image epoch "
                  f"{50_000 / ours_ips:6.2f} s")
            continue
        print(f"{text:28s} ours {ours_ips:9.0f} img/s   reference {ref_ips:9.0f} img/s   "
              f"ratio {ours_ips / ref_ips:5.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(run_main(main))
