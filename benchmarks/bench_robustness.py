"""Throughput of the corruption predictions: robustness.corruptions.predict_images against a
per-image loop (the shape of a DataLoader with batch size 1), in the same run.

    python benchmarks/bench_robustness.py                     # CPU, 2,000 images
    python benchmarks/bench_robustness.py --device cuda --n 50000 --batch_size 1000 250

A CIFAR-10-C run is 19 corruptions x 50,000 images. The model is an untrained
CifarMinFP-LS of --size (the speed does not depend on the weights), in channels_last as
the prediction script uses it. Each variant is timed once after a warm-up, ended by a
device synchronisation; img/s are printed. Asserts nothing.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from datasets.loader import Normalize  # noqa: E402
from errors import ArgumentParser, run_main  # noqa: E402
from models import build_model_from_opt  # noqa: E402
from robustness.corruptions import predict_images  # noqa: E402
from training.devices import synchronize  # noqa: E402
from training.options import resolve_device  # noqa: E402


def per_image(model, images, device) -> np.ndarray:
    """The baseline: one image at a time, moved to the device and normalised there."""
    normalize = Normalize(device)
    out = []
    with torch.inference_mode():
        for image in images:
            x = normalize(torch.from_numpy(image[None]).to(device), channels_last=True)
            out.append(int(model(x).argmax(1)))
    return np.asarray(out, dtype=np.uint8)


def rate(function, n: int, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    function()
    synchronize(device)
    return n / (time.perf_counter() - start)


def main(argv) -> int:
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None)
    p.add_argument("--n", type=int, default=2000, help="images per timing")
    p.add_argument("--baseline_n", type=int, default=300, help="images for the per-image loop")
    p.add_argument("--batch_size", type=int, nargs="+", default=[1000, 100],
                   help="images per forward pass, each timed in this run (default: the "
                        "prediction scripts' GPU and CPU defaults for corruptions)")
    p.add_argument("--size", type=int, default=3, help="N of the CifarMinFP-LS")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    model = build_model_from_opt({"model_type": "CifarMinFP-LS",
                                  "model_kw": f"q: 2;k: 3;N: {args.size};"})
    model = model.to(device).eval().to(memory_format=torch.channels_last)
    images = np.random.default_rng(0).integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8)
    # The baseline first: predict_images tunes glibc's malloc thresholds while it runs
    # (training/devices.py cpu_memory_kept) and, on exit, cannot restore glibc's dynamic
    # default exactly.
    per_image(model, images[:10], device)   # warm-up
    single = rate(lambda: per_image(model, images[:args.baseline_n], device), args.baseline_n,
                  device)
    print(f"device {device}, CifarMinFP-LS N={args.size}, threads {torch.get_num_threads()}; "
          f"per image: {single:,.0f} img/s")
    first = None
    for batch_size in args.batch_size:
        predict_images(model, images[:batch_size], device, batch_size)   # warm-up
        batched = rate(lambda: predict_images(model, images, device, batch_size), args.n,
                       device)
        first = first or batched
        print(f"batches of {batch_size}: {batched:,.0f} img/s, {batched / single:.1f}x the "
              f"per-image loop, {batched / first:.2f}x batches of {args.batch_size[0]}; one "
              f"run of CIFAR-10-C (950,000 images) in {950_000 / batched / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
