"""CIFAR-10-C and CIFAR-100-C (Hendrycks & Dietterich 2019) on disk <-> checked uint8 arrays.

The official archives extract to DATA_FOLDER/CIFAR-10-C/ (and CIFAR-100-C/, the same
layout and corruptions made from CIFAR-100's test set, 100 classes):

  <corruption>.npy  uint8 (5 n, 32, 32, 3): five blocks of n images, severities 1 to 5
  labels.npy        uint8 (5 n,): five copies of the n test labels, one per block

The official n is 10,000; any n loads (our tests write small files), so n is inferred
from labels.npy and every corruption file is checked against it. Files are opened as
memory maps, so checking a shape costs nothing and a truncated file is found before any
image is read.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import config
from datasets import identity
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


@dataclass(frozen=True)
class CorruptionSet:
    """One data set's common corruptions: its folder in DATA_FOLDER and its archive."""
    folder: str
    num_classes: int
    url: str
    archive: str
    md5: str
    size: str          # the archive's size, for the message that asks for it by hand
    url_env: str


# CIFAR-100-C: Zenodo record 3555552 (the authors' upload), the md5 that record publishes.
CIFAR100C = CorruptionSet("CIFAR-100-C", 100,
                          "https://zenodo.org/records/3555552/files/CIFAR-100-C.tar",
                          "CIFAR-100-C.tar", "11f0ed0f1191edbf9fa23466ae6021d3", "about 2.9 GB",
                          "CIFAR100C_URL")
DATASETS = ("cifar_10", "cifar_100")   # opt.json's `dataset` (datasets.catalog) with a set


def corruption_set(dataset: str = "cifar_10") -> CorruptionSet:
    """The corruption set of a data set; CIFAR-10-C's from the constants above, read when
    asked (a mirror or a test may replace them)."""
    if dataset == "cifar_10":
        return CorruptionSet(FOLDER, 10, ARCHIVE_URL, ARCHIVE_NAME, ARCHIVE_MD5,
                             f"{ARCHIVE_BYTES:,} bytes", URL_ENV)
    if dataset == "cifar_100":
        return CIFAR100C
    raise UserError(f"no common-corruption set of {dataset}; there are those of "
                    f"{', '.join(DATASETS)}")


def set_of_folder(folder) -> CorruptionSet:
    """The corruption set a folder holds, by its official name (CIFAR-100-C/); CIFAR-10-C's
    for any other name."""
    return next((c for c in map(corruption_set, DATASETS) if c.folder == Path(folder).name),
                corruption_set("cifar_10"))


def corruption_folder(data_folder=None, dataset: str = "cifar_10") -> Path:
    return Path(data_folder or config.DATA_FOLDER) / corruption_set(dataset).folder


def present_corruptions(folder) -> list:
    """The known corruptions with a file in `folder`, in CORRUPTIONS order."""
    return [name for name in CORRUPTIONS if (Path(folder) / f"{name}.npy").is_file()]


def missing_benchmark_corruptions(names) -> list:
    """The benchmark corruptions not in `names`, in the benchmark's order."""
    return [name for name in BENCHMARK_CORRUPTIONS if name not in set(names)]


def redownload_hint(folder: Path) -> str:
    found = set_of_folder(folder)
    return (f"delete {folder} and run again to download {found.folder}, or put the official "
            f"files there ({found.url})")


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
    classes = set_of_folder(folder).num_classes
    if blocks.max() >= classes or not (blocks == blocks[0]).all():
        raise UserError(f"{path}: the five severity blocks should repeat the same test labels "
                        f"(classes 0-{classes - 1}); {redownload_hint(Path(folder))}")
    if test_labels is not None and not np.array_equal(blocks[0], np.asarray(test_labels)[:n]):
        raise UserError(f"{path} does not repeat the CIFAR-{classes} test labels; "
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


def download(data_folder=None, url=None, dataset: str = "cifar_10") -> Path:
    """Download and extract the official archive with torchvision (md5-checked, progress
    bar). The archive is extracted into a temporary folder that is renamed into place,
    so an interrupted extraction never leaves a half-filled CIFAR-10-C/ (CIFAR-100-C/)."""
    root, found = Path(data_folder or config.DATA_FOLDER), corruption_set(dataset)
    folder = root / found.folder
    url = url or os.environ.get(found.url_env) or found.url
    with extracted_archive(
            url, root, found.archive, found.md5, f"{found.folder} is not in {folder}",
            f"download {found.url} ({found.size}, md5 {found.md5}) and "
            f"extract it in {root} so that {folder} holds labels.npy and the "
            f"<corruption>.npy files, or set DATA_FOLDER to a folder that has {found.folder}/",
            destination=folder) as extracted:
        os.replace(extracted / found.folder, folder)
    identity.mark_verified_download(folder, found.archive, found.md5)
    return folder


def ensure_cifar10c(data_folder=None, download_if_missing: bool = True,
                    dataset: str = "cifar_10") -> Path:
    """The CIFAR-10-C folder (CIFAR-100-C's for `dataset` cifar_100), downloaded first
    when it has no labels.npy."""
    folder = corruption_folder(data_folder, dataset)
    if not (folder / LABELS_FILE).is_file():
        if not download_if_missing:
            raise UserError(f"{folder / LABELS_FILE} is missing; set DATA_FOLDER to the folder "
                            f"holding {folder.name}/")
        download(data_folder, dataset=dataset)
    return folder


def write_cifar10c(data_folder, images_by_corruption: dict, labels,
                   dataset: str = "cifar_10") -> Path:
    """Write arrays in the official layout (for tests and benchmarks): every value of
    `images_by_corruption` is uint8 (5 n, 32, 32, 3), `labels` the n test labels."""
    import atomic_files

    folder = corruption_folder(data_folder, dataset)
    labels = np.asarray(labels, dtype=np.uint8)
    atomic_files.save_npy(folder / LABELS_FILE, np.tile(labels, 5))
    for name, images in images_by_corruption.items():
        atomic_files.save_npy(folder / f"{name}.npy", np.asarray(images, dtype=np.uint8))
    return folder
