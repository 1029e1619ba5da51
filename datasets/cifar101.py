"""CIFAR-10.1 v6 (Recht et al. 2018, "Do CIFAR-10 classifiers generalize to CIFAR-10?")
on disk <-> checked arrays.

A new test set of 2,000 images drawn from Tiny Images the way CIFAR-10's were, with
CIFAR-10's ten classes (200 images each, stored ordered by class). The dataset's
repository publishes two files, kept in DATA_FOLDER/CIFAR-10.1/:

  cifar10.1_v6_data.npy    uint8 (2000, 32, 32, 3) RGB images
  cifar10.1_v6_labels.npy  (2000,) class indices 0-9, in CIFAR-10's class order (4 bytes
                           each, by the file's size; read as any whole-number dtype)

Any number of images loads (our tests write small files); the shapes, dtypes and labels
are checked. The files are downloaded once from the dataset's GitHub repository when
missing, md5-checked.
"""
import os
from pathlib import Path

import numpy as np

import config
from errors import UserError

FOLDER = "CIFAR-10.1"
DATA_FILE = "cifar10.1_v6_data.npy"
LABELS_FILE = "cifar10.1_v6_labels.npy"
N_IMAGES = 2000                 # the official v6 set
IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10

REPOSITORY = "https://github.com/modestyachts/CIFAR-10.1"
BASE_URL = f"{REPOSITORY}/raw/master/datasets"
# The dataset's repository publishes no checksums. These are the files' md5 sums as the
# MIT-LL responsible-AI toolbox pins them (its CIFAR10P1 loader) and their SHA-256 sums and
# sizes as two independent records of the files at the repository's commit d9982abb give
# them; not verified here (this machine cannot reach GitHub).
MD5 = {DATA_FILE: "4fcae82cb1326aec9ed1dc1fc62345b8",
       LABELS_FILE: "09a97fb7c430502fcbd69d95093a3f85"}
SHA256 = {DATA_FILE: "2997188e5816f5bd545dc77771b6227828c28146049fcecf3fa10775474cacc6",
          LABELS_FILE: "ae40beda001693674edc94d925ee8268cfe68905f8f9aff800c8dcdfcd6c9448"}
BYTES = {DATA_FILE: 6_144_128, LABELS_FILE: 8_128}
# A mirror (or, in the tests, a local or unreachable address) instead of GitHub.
URL_ENV = "CIFAR101_URL"


def cifar101_folder(data_folder=None) -> Path:
    return Path(data_folder or config.DATA_FOLDER) / FOLDER


def by_hand(folder: Path) -> str:
    """What to do when the files are missing or bad: where to put which file."""
    return (f"download {BASE_URL}/{DATA_FILE} and {BASE_URL}/{LABELS_FILE} and put them in "
            f"{folder}, or set DATA_FOLDER to a folder that has {FOLDER}/")


def _open(path: Path) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{path} is missing; {by_hand(path.parent)}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"{path} is truncated or not a .npy array ({type(e).__name__}); "
                        f"{by_hand(path.parent)}") from None


def load_cifar101(folder=None):
    """(images uint8 (n, 32, 32, 3), labels int64 (n,)) of the CIFAR-10.1 files in
    `folder` (default DATA_FOLDER/CIFAR-10.1), checked."""
    folder = Path(folder) if folder is not None else cifar101_folder()
    images, labels = _open(folder / DATA_FILE), _open(folder / LABELS_FILE)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE \
            or len(images) == 0:
        raise UserError(f"{folder / DATA_FILE} holds {images.dtype} {images.shape}, expected "
                        f"uint8 (n, 32, 32, 3); {by_hand(folder)}")
    numeric = np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)
    if not numeric or labels.shape != (len(images),):
        raise UserError(f"{folder / LABELS_FILE} holds {labels.dtype} {labels.shape}, expected "
                        f"({len(images)},) class indices to match {DATA_FILE}; {by_hand(folder)}")
    values = np.asarray(labels)
    labels = values.astype(np.int64)
    if (labels != values).any() or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise UserError(f"{folder / LABELS_FILE} holds labels that are not the classes 0-9; "
                        f"{by_hand(folder)}")
    return images, labels


def evenly_spaced(n: int, m) -> np.ndarray:
    """The indices of `m` of `n` images spread evenly over the file (the smoke profile's
    subset: the files are ordered by class, so the first m would be one class); all n
    when m is None or at least n."""
    if m is not None and m < 1:
        raise ValueError("the subset needs at least one image")
    if m is None or m >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, m).round().astype(np.int64)


def download(data_folder=None, base_url=None) -> Path:
    """Download the two files (md5-checked); each is checked and renamed into place, so
    an interrupted download never leaves a truncated file under its name. A file that
    arrived stays when the other fails: the next attempt fetches only the missing one."""
    from datasets.download import downloaded_file

    folder = cifar101_folder(data_folder)
    base_url = base_url or os.environ.get(URL_ENV) or BASE_URL
    for name in (LABELS_FILE, DATA_FILE):
        if (folder / name).is_file():
            continue
        with downloaded_file(f"{base_url}/{name}", folder / name, MD5[name],
                             f"CIFAR-10.1 is not in {folder}", by_hand(folder)) as tmp:
            _open(tmp)
            os.replace(tmp, folder / name)
    load_cifar101(folder)
    return folder


def ensure_cifar101(data_folder=None) -> Path:
    """The CIFAR-10.1 folder, its missing files downloaded first."""
    folder = cifar101_folder(data_folder)
    if not all((folder / name).is_file() for name in (DATA_FILE, LABELS_FILE)):
        download(data_folder)
    return folder


def write_cifar101(data_folder, images, labels) -> Path:
    """Write arrays in the official format (for tests): `images` uint8 (n, 32, 32, 3),
    `labels` the n class indices (stored as int32, 4 bytes each as in the official file)."""
    import atomic_files

    folder = cifar101_folder(data_folder)
    atomic_files.save_npy(folder / DATA_FILE, np.asarray(images, dtype=np.uint8))
    atomic_files.save_npy(folder / LABELS_FILE, np.asarray(labels, dtype=np.int32))
    return folder
