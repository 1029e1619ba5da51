"""CIFAR-100 python files on disk <-> uint8 arrays.

The official archive extracts to DATA_FOLDER/cifar-100-python/ with three pickles:
`train` (50,000 images), `test` (10,000) and `meta` (the class names). Each batch holds
`data` (uint8 (n, 3072), the red, green and blue planes of each image) and two labellings,
`fine_labels` (the 100 classes) and `coarse_labels` (20 superclasses); we train on the fine
ones. They are read through CIFAR-10's restricted unpickler (datasets.cifar10), without
checking md5 sums, so our tests' files in the same format load too.
"""
from pathlib import Path

import numpy as np

import config
from atomic_files import write_bytes
from datasets.cifar10 import read_batch, striped_images, write_batch
from datasets.download import download_files
from errors import UserError

FOLDER = "cifar-100-python"
TRAIN_FILE, TEST_FILE, META_FILE = "train", "test", "meta"
FILES = (TRAIN_FILE, TEST_FILE)
NUM_CLASSES = 100
NUM_SUPERCLASSES = 20
TITLE = "CIFAR-100"
# torchvision.datasets.CIFAR100's source, spelled out so the error message needs no torchvision.
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
ARCHIVE_NAME = "cifar-100-python.tar.gz"
ARCHIVE_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"


def folder_of(data_folder=None) -> Path:
    return Path(data_folder or config.DATA_FOLDER) / FOLDER


def _missing_files(folder: Path):
    return [n for n in FILES if not (folder / n).is_file()]


def download(data_folder=None) -> None:
    """Download and extract the official archive with torchvision (md5-verified); each
    file is renamed into place, so an interrupted extraction leaves no truncated one."""
    root = Path(data_folder or config.DATA_FOLDER)
    download_files(
        ARCHIVE_URL, root, ARCHIVE_NAME, ARCHIVE_MD5, FOLDER, f"CIFAR-100 is not in "
        f"{root / FOLDER}", f"download {ARCHIVE_URL}, extract it so that {root / FOLDER} "
        "holds train, test and meta, or set DATA_FOLDER to a folder that has them",
        required=FILES)


def ensure(data_folder=None) -> Path:
    """Download CIFAR-100 unless its train and test files are there; their folder."""
    folder = folder_of(data_folder)
    if _missing_files(folder):
        download(data_folder)
    return folder


def load(split: str, data_folder=None, download_if_missing: bool = True):
    """(images uint8 (n, 32, 32, 3) RGB, fine labels int64 (n,)) of 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = folder_of(data_folder)
    if _missing_files(folder) and not download_if_missing:
        raise UserError(f"CIFAR-100 files {_missing_files(folder)} are missing in {folder}; "
                        f"set DATA_FOLDER to the folder holding {FOLDER}/")
    ensure(data_folder)
    return read_batch(folder / (TRAIN_FILE if split == "train" else TEST_FILE), TITLE,
                      NUM_CLASSES)


def test_labels(data_folder=None):
    """The test file's fine labels, None when that file is missing (nothing is downloaded)."""
    path = folder_of(data_folder) / TEST_FILE
    return read_batch(path, TITLE, NUM_CLASSES)[1] if path.is_file() else None


def write_cifar100(data_folder, train_images, train_labels, test_images, test_labels):
    """Write arrays as the official files (train, test, meta; for tests and benchmarks).
    The coarse labels are made up (fine label // 5): nothing here reads them."""
    import pickle

    folder = folder_of(data_folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, images, labels in ((TRAIN_FILE, train_images, train_labels),
                                 (TEST_FILE, test_images, test_labels)):
        labels = np.asarray(labels, dtype=np.int64)
        write_batch(folder / name, images, {"fine_labels": labels,
                                            "coarse_labels": labels * NUM_SUPERCLASSES //
                                            NUM_CLASSES})
    meta = {"fine_label_names": [f"class_{i}" for i in range(NUM_CLASSES)],
            "coarse_label_names": [f"superclass_{i}" for i in range(NUM_SUPERCLASSES)]}
    write_bytes(folder / META_FILE, pickle.dumps(meta, protocol=2))
    return folder


def synthetic_cifar100(n_train: int, n_test: int, seed: int = 0, amplitude: float = 60):
    """A small, easily learnt stand-in for CIFAR-100 (tests, benchmarks): class c has the
    colour c // 10 of CIFAR-10's stand-in palette and its stripe frequency c % 10, so a
    network learns 100 classes from two ten-way cues that crops and flips keep. The
    stripes are stronger than CIFAR-10's stand-in's (60 grey levels, not 25), where the
    frequency alone tells classes apart: at 25, a ResNet N=3 learnt only the colours in
    250 steps (87 % test error), at 60 it reached 4 % (2,000 images, 4 epochs)."""
    return striped_images(n_train, n_test, seed, NUM_CLASSES, colour=lambda c: c // 10,
                          stripes=lambda c: c % 10, amplitude=amplitude)
