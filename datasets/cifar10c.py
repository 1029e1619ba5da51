"""CIFAR-10-C (Hendrycks & Dietterich 2019) on disk <-> checked uint8 arrays.

The official archive extracts to DATA_FOLDER/CIFAR-10-C/:

  <corruption>.npy  uint8 (5 n, 32, 32, 3): five blocks of n images, severities 1 to 5
  labels.npy        uint8 (5 n,): five copies of the n test labels, one per block

The official n is 10,000; any n loads (our tests write small files), so n is inferred
from labels.npy and every corruption file is checked against it. Files are opened as
memory maps, so checking a shape costs nothing and a truncated file is found before any
image is read.
"""
import os
from pathlib import Path

import numpy as np

import config
from datasets.download import extracted_archive
from errors import UserError

FOLDER = "CIFAR-10-C"
LABELS_FILE = "labels.npy"
# The 15 corruptions of the benchmark (the mean corruption error averages these) ...
BENCHMARK_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression")
# ... and the 4 the archive holds besides, meant for validation.
EXTRA_CORRUPTIONS = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
CORRUPTIONS = BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS
SEVERITIES = (1, 2, 3, 4, 5)
IMAGE_SHAPE = (32, 32, 3)

# Zenodo record 2535967 (the authors' upload).
ARCHIVE_URL = "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar"
ARCHIVE_NAME = "CIFAR-10-C.tar"
ARCHIVE_MD5 = "56bf5dcef84df0e2308c6dcbcbbd8499"
ARCHIVE_BYTES = 2_918_471_680
# A mirror (or, in the tests, an unreachable address) instead of Zenodo.
URL_ENV = "CIFAR10C_URL"


def corruption_folder(data_folder=None) -> Path:
    return Path(data_folder or config.DATA_FOLDER) / FOLDER


def present_corruptions(folder) -> list:
    """The known corruptions with a file in `folder`, in CORRUPTIONS order."""
    return [name for name in CORRUPTIONS if (Path(folder) / f"{name}.npy").is_file()]


def missing_benchmark_corruptions(names) -> list:
    """The benchmark corruptions not in `names`, in the benchmark's order."""
    return [name for name in BENCHMARK_CORRUPTIONS if name not in set(names)]


def redownload_hint(folder: Path) -> str:
    return (f"delete {folder} and run again to download CIFAR-10-C, or put the official "
            f"files there ({ARCHIVE_URL})")


def _open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path} is truncated or not a .npy array ({type(e).__name__}); "
                        f"{redownload_hint(path.parent)}") from None


def load_labels(folder, test_labels=None):
    """(labels int64 (5 n,), n) of labels.npy, checked: five identical blocks of class
    indices, equal to `test_labels[:n]` when given."""
    path = Path(folder) / LABELS_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing; {redownload_hint(Path(folder))}")
    labels = _open_npy(path)
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) == 0 or len(labels) % 5:
        raise UserError(f"{path} holds {labels.dtype} {labels.shape}, expected uint8 (5 n,); "
                        f"{redownload_hint(Path(folder))}")
    n = len(labels) // 5
    blocks = np.asarray(labels).reshape(5, n).astype(np.int64)
    if blocks.max() >= 10 or not (blocks == blocks[0]).all():
        raise UserError(f"{path}: the five severity blocks should repeat the same test labels "
                        f"(classes 0-9); {redownload_hint(Path(folder))}")
    if test_labels is not None and not np.array_equal(blocks[0], np.asarray(test_labels)[:n]):
        raise UserError(f"{path} does not repeat the CIFAR-10 test labels; "
                        f"{redownload_hint(Path(folder))}")
    return blocks.reshape(-1), n


def open_corruption(folder, name: str, n: int) -> np.ndarray:
    """The memory-mapped uint8 (5 n, 32, 32, 3) images of one corruption, checked."""
    if name not in CORRUPTIONS:
        raise UserError(f"unknown corruption {name!r}; choose from {' '.join(CORRUPTIONS)}")
    path = Path(folder) / f"{name}.npy"
    if not path.is_file():
        raise UserError(f"{path} is missing; {redownload_hint(Path(folder))}")
    images = _open_npy(path)
    if images.dtype != np.uint8 or images.shape != (5 * n,) + IMAGE_SHAPE:
        raise UserError(f"{path} holds {images.dtype} {images.shape}, expected uint8 "
                        f"{(5 * n,) + IMAGE_SHAPE} to match {LABELS_FILE}; "
                        f"{redownload_hint(Path(folder))}")
    return images


def severity_rows(n: int, severity: int) -> slice:
    """The rows of severity 1..5 in a (5 n, ...) array."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity}")
    return slice((severity - 1) * n, severity * n)


def first_of_each_severity(array, n: int, m: int) -> np.ndarray:
    """The first m of the n rows of every severity block (the smoke profile's subset):
    (5 m, ...) in memory, still ordered by severity."""
    if not 0 < m:
        raise ValueError("the subset needs at least one image per severity")
    m = min(m, n)
    return np.concatenate([np.asarray(array[severity_rows(n, s)][:m]) for s in SEVERITIES])


def download(data_folder=None, url=None) -> Path:
    """Download and extract the official archive with torchvision (md5-checked, progress
    bar). The archive is extracted into a temporary folder that is renamed into place,
    so an interrupted extraction never leaves a half-filled CIFAR-10-C/."""
    root = Path(data_folder or config.DATA_FOLDER)
    folder = root / FOLDER
    url = url or os.environ.get(URL_ENV) or ARCHIVE_URL
    with extracted_archive(
            url, root, ARCHIVE_NAME, ARCHIVE_MD5, f"CIFAR-10-C is not in {folder}",
            f"download {ARCHIVE_URL} ({ARCHIVE_BYTES:,} bytes, md5 {ARCHIVE_MD5}) and "
            f"extract it in {root} so that {folder} holds labels.npy and the "
            "<corruption>.npy files, or set DATA_FOLDER to a folder that has CIFAR-10-C/",
            destination=folder) as extracted:
        os.replace(extracted / FOLDER, folder)
    return folder


def ensure_cifar10c(data_folder=None, download_if_missing: bool = True) -> Path:
    """The CIFAR-10-C folder, downloaded first when it has no labels.npy."""
    folder = corruption_folder(data_folder)
    if not (folder / LABELS_FILE).is_file():
        if not download_if_missing:
            raise UserError(f"{folder / LABELS_FILE} is missing; set DATA_FOLDER to the folder "
                            f"holding {FOLDER}/")
        download(data_folder)
    return folder


def write_cifar10c(data_folder, images_by_corruption: dict, labels) -> Path:
    """Write arrays in the official layout (for tests and benchmarks): every value of
    `images_by_corruption` is uint8 (5 n, 32, 32, 3), `labels` the n test labels."""
    import atomic_files

    folder = corruption_folder(data_folder)
    labels = np.asarray(labels, dtype=np.uint8)
    atomic_files.save_npy(folder / LABELS_FILE, np.tile(labels, 5))
    for name, images in images_by_corruption.items():
        atomic_files.save_npy(folder / f"{name}.npy", np.asarray(images, dtype=np.uint8))
    return folder
