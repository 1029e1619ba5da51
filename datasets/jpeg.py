"""The JPEG robustness test set (docs/reference.md §5): two JPEG protocols, stack creation, stack loader.

A stack holds 10 versions of one CIFAR-10 test image: the original, then JPEG at quality
90, 80, ..., 10. CIFAR-100's test set (exp_12) gets stacks of its own, in files of their own
(`test_cifar100_...`): the CIFAR-10 files keep the paper's names and contents.

Protocols
- "paper": bit-identical to the authors' OpenCV call on the RGB array,
  cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, q])[1], 1).
  OpenCV takes the array to be BGR, so its colour conversion and 4:2:0 chroma subsampling
  act on swapped channels. With Pillow: reverse the channel order, encode as RGB at quality
  q with 4:2:0 subsampling (libjpeg's defaults otherwise: standard tables scaled by q,
  baseline, no optimised Huffman tables, not progressive, as OpenCV), decode with Pillow's
  defaults (full size, islow IDCT, fancy upsampling, as OpenCV), reverse back. Both link
  libjpeg-turbo (Pillow's wheels do), and the encoded bytes themselves are identical.
- "rgb": a standard RGB JPEG of the same image (plain Pillow), the cleaner variant. Its
  files carry the suffix "_rgb" so the two never mix.

Encoding runs in worker processes; this module imports no torch at the top so that
spawning them stays cheap.
"""
import io
import math
import multiprocessing
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, features

import config
from atomic_files import save_npy
from datasets import catalog
from errors import UserError

PROTOCOLS = ("paper", "rgb")
QUALITIES = tuple(range(90, 0, -10))  # versions 1..9; version 0 is the original
VERSIONS = 1 + len(QUALITIES)
STACK_SHAPE = (VERSIONS, 32, 32, 3)
CLI = "datasets/ds_cifar10_compression_test.py"


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown JPEG protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def stack_file_names(protocol: str = "paper", dataset: str = "cifar_10"):
    """(stacks file name, labels file name); the paper's names for "paper", suffixed otherwise;
    cifar100 instead of cifar10 for CIFAR-100's."""
    _check_protocol(protocol)
    suffix = "" if protocol == "paper" else f"_{protocol}"
    name = catalog.data_set(dataset).name.replace("_", "")     # cifar10, cifar100
    return (f"test_{name}_jpeg_noise_image_stacks{suffix}.npy",
            f"test_{name}_jpeg_noise_labels{suffix}.npy")


def stack_paths(data_folder=None, protocol: str = "paper", dataset: str = "cifar_10"):
    folder = Path(data_folder or config.DATA_FOLDER)
    return tuple(folder / name for name in stack_file_names(protocol, dataset))


# ---------------------------------------------------------------------------------- codec

def jpeg_roundtrip(image: np.ndarray, quality: int, protocol: str = "paper") -> np.ndarray:
    """Encode one uint8 (h, w, 3) RGB image as JPEG at `quality` and decode it again."""
    _check_protocol(protocol)
    swap = protocol == "paper"  # what OpenCV does to an RGB array it takes for BGR
    pixels = np.ascontiguousarray(image[:, :, ::-1] if swap else image, dtype=np.uint8)
    buffer = io.BytesIO()
    # uint8 (h, w, 3) is RGB to Pillow. Every setting is spelled out, as OpenCV uses it.
    Image.fromarray(pixels).save(buffer, "JPEG", quality=int(quality), subsampling="4:2:0",
                                 optimize=False, progressive=False)
    with Image.open(buffer) as decoded:
        decoded = np.asarray(decoded.convert("RGB"))
    return np.ascontiguousarray(decoded[:, :, ::-1] if swap else decoded)


def jpeg_versions(image: np.ndarray, protocol: str = "paper") -> np.ndarray:
    """The stack of one image: uint8 (10, h, w, 3), the original then QUALITIES."""
    return np.stack([np.asarray(image, dtype=np.uint8)]
                    + [jpeg_roundtrip(image, q, protocol) for q in QUALITIES])


def _stacks_of_chunk(args):
    images, protocol = args
    return np.stack([jpeg_versions(image, protocol) for image in images])


def jpeg_stacks(images: np.ndarray, protocol: str = "paper", workers: int = 2,
                progress: bool = True) -> np.ndarray:
    """Stacks of many images, uint8 (n, 10, h, w, 3), encoded in `workers` processes."""
    from tqdm import tqdm

    _check_protocol(protocol)
    images = np.asarray(images, dtype=np.uint8)
    stacks = np.empty((len(images), VERSIONS, *images.shape[1:]), dtype=np.uint8)
    # Chunks of a few hundred images: few enough messages, often enough for the bar.
    chunk = max(1, min(250, math.ceil(len(images) / (4 * max(workers, 1)))))
    starts = range(0, len(images), chunk)
    jobs = ((images[s:s + chunk], protocol) for s in starts)
    with tqdm(total=len(images), unit="img", desc=f"JPEG {protocol}", disable=not progress) as bar:
        if workers <= 1 or len(starts) == 1:
            results = map(_stacks_of_chunk, jobs)
            pool = None
        else:
            # spawn, not fork: the caller may hold threads (torch, CUDA) that fork would copy
            # in an unknown state; the workers only need numpy and Pillow.
            pool = multiprocessing.get_context("spawn").Pool(workers)
            results = pool.imap(_stacks_of_chunk, jobs)
        try:
            for start, result in zip(starts, results):
                stacks[start:start + len(result)] = result
                bar.update(len(result))
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    return stacks


# ------------------------------------------------------------------------------ the files

def create_jpeg_test_set(data_folder=None, protocol: str = "paper", workers: int = 2,
                         dataset: str = "cifar_10"):
    """Write the stacks and labels of the CIFAR-10 (`dataset`'s) test set; return (stacks
    path, labels path)."""
    _check_protocol(protocol)
    if protocol == "paper" and not features.check_feature("libjpeg_turbo"):
        warnings.warn("Pillow is not linked with libjpeg-turbo: the 'paper' stacks may differ "
                      "from OpenCV's (install Pillow from its wheels)")
    images, labels = catalog.data_set(dataset).load("test", data_folder)
    stacks_path, labels_path = stack_paths(data_folder, protocol, dataset)
    start = time.perf_counter()
    stacks = jpeg_stacks(images, protocol, workers)
    print(f"encoded {len(images)} images x {len(QUALITIES)} qualities in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    save_npy(stacks_path, stacks)
    save_npy(labels_path, labels.astype(np.int64))
    return stacks_path, labels_path


def _cli_command(folder: Path, protocol: str, dataset: str = "cifar_10") -> str:
    """The command that (re)writes the files of `protocol` (and `dataset`) in `folder`."""
    command = f"python {CLI}"
    if protocol != "paper":
        command += f" --protocol {protocol}"
    if dataset != "cifar_10":
        command += f" --dataset {dataset}"
    if Path(folder).resolve() != Path(config.DATA_FOLDER).resolve():
        command += f" --data_folder {folder}"
    return command


def _redo(path: Path, protocol: str, dataset: str = "cifar_10") -> str:
    return f"delete {path} and rerun {_cli_command(path.parent, protocol, dataset)}"


def _load_npy(path: Path, protocol: str, mmap: bool, dataset: str) -> np.ndarray:
    try:
        # mmap: 300 MB of stacks are read only as far as they are used.
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise UserError(f"{path} is truncated or not a .npy array ({type(e).__name__}); "
                        f"{_redo(path, protocol, dataset)}") from None


def load_jpeg_test_set(data_folder=None, protocol: str = "paper", create_if_missing: bool = True,
                       subset=None, dataset: str = "cifar_10"):
    """(stacks uint8 (n, 10, 32, 32, 3) read-only memory map, labels int64 (n,)).

    Missing files are created (create_if_missing) or a UserError says how to create them;
    files that are truncated or of the wrong shape are a UserError naming the file and the fix.
    `subset` keeps the first `subset` images. `dataset`: whose test set (CIFAR-10's).
    """
    _check_protocol(protocol)
    stacks_path, labels_path = stack_paths(data_folder, protocol, dataset)
    missing = [p for p in (stacks_path, labels_path) if not p.is_file()]
    if missing:
        if not create_if_missing:
            raise UserError(f"{missing[0]} is missing; create it with "
                            f"{_cli_command(missing[0].parent, protocol, dataset)}")
        create_jpeg_test_set(data_folder, protocol, dataset=dataset)
    stacks = _load_npy(stacks_path, protocol, mmap=True, dataset=dataset)
    labels = _load_npy(labels_path, protocol, mmap=False, dataset=dataset)
    if stacks.dtype != np.uint8 or stacks.ndim != 5 or stacks.shape[1:] != STACK_SHAPE:
        raise UserError(f"{stacks_path} holds {stacks.dtype} {stacks.shape}, not uint8 "
                        f"(n, {', '.join(map(str, STACK_SHAPE))}); "
                        f"{_redo(stacks_path, protocol, dataset)}")
    classes = catalog.data_set(dataset).num_classes
    labels_in_range = len(labels) == 0 or 0 <= labels.min() <= labels.max() < classes
    if (labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer)
            or len(labels) != len(stacks) or not labels_in_range):
        raise UserError(f"{labels_path} holds {labels.dtype} {labels.shape}, not {len(stacks)} "
                        f"labels 0..{classes - 1} matching {stacks_path.name}; "
                        f"{_redo(labels_path, protocol, dataset)}")
    if subset is not None:
        stacks, labels = stacks[:subset], labels[:subset]
    return stacks, labels.astype(np.int64)


class JpegStackBatches:
    """Batches of whole stacks: x float32 (b*10, 3, 32, 32), normalised like the test set,
    the 10 versions of an image in consecutive rows; y int64 (b,)."""

    def __init__(self, stacks, labels, batch_size: int, device, channels_last: bool = True,
                 data_set=catalog.CIFAR_10):
        import torch

        from datasets.loader import Normalize

        stacks = np.asarray(stacks)
        if stacks.ndim != 5 or tuple(stacks.shape[1:]) != STACK_SHAPE or len(stacks) != len(labels):
            raise ValueError(f"stacks must be (n, {', '.join(map(str, STACK_SHAPE))}) with n "
                             f"labels, not {tuple(stacks.shape)} and {len(labels)} labels")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.stacks, self.batch_size = stacks, int(batch_size)
        self.device, self.channels_last = torch.device(device), channels_last
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)
        self.normalize = Normalize(self.device, data_set.mean, data_set.std)

    def __len__(self) -> int:
        return math.ceil(len(self.stacks) / self.batch_size)

    def __iter__(self):
        import torch

        # Stacks move to the device a batch at a time (the set is 300 MB, read once).
        for start in range(0, len(self.stacks), self.batch_size):
            stop = start + self.batch_size
            chunk = torch.from_numpy(np.array(self.stacks[start:stop], dtype=np.uint8))
            images = chunk.to(self.device).view(-1, *STACK_SHAPE[1:])
            yield self.normalize(images, self.channels_last), self.labels[start:stop]
