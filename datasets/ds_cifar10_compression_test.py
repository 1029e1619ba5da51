"""Write the JPEG-compressed CIFAR-10 test set into the data folder (docs/reference.md §5).

    python datasets/ds_cifar10_compression_test.py                    # the paper's protocol
    python datasets/ds_cifar10_compression_test.py --protocol rgb     # standard RGB JPEG

Each test image becomes a stack of 10 versions (the original, then JPEG quality 90, 80,
..., 10): test_cifar10_jpeg_noise_image_stacks.npy (n, 10, 32, 32, 3) uint8 and
test_cifar10_jpeg_noise_labels.npy (n,) int64; the "rgb" protocol writes the same names
with the suffix _rgb. Existing files are replaced, atomically. CIFAR-10 is downloaded
first if it is missing. `--dataset cifar_100` writes CIFAR-100's (exp_12) as
test_cifar100_jpeg_noise_*.npy beside them.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import os  # noqa: E402

from datasets.catalog import DATA_SETS  # noqa: E402
from datasets.jpeg import PROTOCOLS, create_jpeg_test_set  # noqa: E402
from errors import ArgumentParser, UserError, run_main  # noqa: E402


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def main(argv):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", choices=PROTOCOLS, default="paper",
                        help="paper: bit-identical to the authors' OpenCV call on RGB arrays "
                             "(channels swapped); rgb: standard RGB JPEG (default: paper)")
    parser.add_argument("--data_folder", type=Path, default=None,
                        help="folder holding cifar-10-batches-py/ (default: DATA_FOLDER)")
    parser.add_argument("--dataset", choices=tuple(DATA_SETS), default="cifar_10",
                        help="whose test set: CIFAR-10's, the paper's (default), or CIFAR-100's "
                             "(exp_12; files test_cifar100_...)")
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="encoding processes (default: the usable cores)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, not {args.workers}")
    stacks_path, labels_path = create_jpeg_test_set(args.data_folder, args.protocol, args.workers,
                                                    args.dataset)
    print(f"wrote {stacks_path}\nwrote {labels_path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
