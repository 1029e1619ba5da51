"""CIFAR-10 python batches on disk <-> uint8 arrays (docs/reference.md §2).

Reading does not check md5 sums, so any files in the official format load (our tests
write such files). Missing files are downloaded with torchvision, which verifies the
archive; offline, the error says which files to put where.
"""
import pickle
from pathlib import Path

import numpy as np

import config
from atomic_files import write_bytes
from datasets.download import download_files
from errors import UserError

BATCHES_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
# torchvision.datasets.CIFAR10's source, spelled out so the error message needs no torchvision.
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")


def batches_folder(data_folder=None) -> Path:
    return Path(data_folder or config.DATA_FOLDER) / BATCHES_FOLDER


def _missing_files(folder: Path):
    return [n for n in TRAIN_BATCHES + TEST_BATCHES if not (folder / n).is_file()]


def download(data_folder=None) -> None:
    """Download and extract the official archive with torchvision (md5-verified).

    The archive is extracted into a temporary folder and each batch is then renamed into
    place, so an interrupted extraction never leaves a truncated batch under its name.
    """
    root = Path(data_folder or config.DATA_FOLDER)
    download_files(
        ARCHIVE_URL, root, ARCHIVE_NAME, ARCHIVE_MD5, BATCHES_FOLDER,
        f"CIFAR-10 is not in {root / BATCHES_FOLDER}",
        f"download {ARCHIVE_URL}, extract it so that {root / BATCHES_FOLDER} holds "
        "data_batch_1..5 and test_batch, or set DATA_FOLDER to a folder that has them",
        required=TRAIN_BATCHES + TEST_BATCHES)


def ensure_cifar10(data_folder=None) -> Path:
    """Download CIFAR-10 unless all its batches are there; return the batches' folder."""
    folder = batches_folder(data_folder)
    if _missing_files(folder):
        download(data_folder)
    return folder


# What a batch's pickle may name: numpy's array reconstruction (numpy 1 and 2 spell its
# module differently) and the codec that pickles of bytes use. Anything else (os.system,
# builtins.eval ...) is refused before it runs: a pickle is a program.
_BATCH_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                  "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
                  ("_codecs", "encode")}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _BATCH_GLOBALS:
            raise pickle.UnpicklingError(f"it names {module}.{name}")
        return super().find_class(module, name)


def _plain(value) -> bool:
    """Whether a batch's value is data: an array, a list of numbers or strings, a string."""
    if isinstance(value, (np.ndarray, str, bytes, int)):
        return not isinstance(value, np.ndarray) or value.dtype != object
    return isinstance(value, list) and all(isinstance(v, (int, str, bytes)) for v in value)


def unpickle_batch(path: Path, title: str = "CIFAR-10") -> dict:
    """A batch's dict, read without running code: a pickle that names anything but
    numpy's arrays, or holds anything but a dict of arrays, lists and strings, is a
    UserError naming the file. `title`: the data set's name in the message."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise UserError(f"{path} is not a {title} batch: its pickle holds more than "
                        f"arrays ({e}), so it was not loaded; delete the folder and download "
                        f"{title} again") from None
    if not (isinstance(batch, dict) and all(isinstance(k, str) and _plain(v)
                                            for k, v in batch.items())):
        raise UserError(f"{path} is not a {title} batch (not a dict of arrays, lists and "
                        f"strings); delete the folder and download {title} again")
    return batch


def read_batch(path: Path, title: str = "CIFAR-10", num_classes: int = 10):
    """One pickled batch -> (images uint8 (n, 32, 32, 3) RGB, labels int64 (n,)).
    CIFAR-100's files are read the same way: their labels are `fine_labels`."""
    path = Path(path)
    again = f"delete the folder and download {title} again"
    try:
        batch = unpickle_batch(path, title)
        data = np.asarray(batch["data"])
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{path} is truncated or not a {title} batch ({type(e).__name__}); "
                        f"{again}") from None
    if data.dtype != np.uint8:
        # A cast would wrap values above 255 silently; the official files hold uint8 pixels.
        raise UserError(f"{path} holds {data.dtype} images, not uint8 pixels (0-255) as "
                        f"{title}'s batches do; {again}")
    try:
        labels = np.asarray(batch.get("labels", batch.get("fine_labels")), dtype=np.int64)
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    except Exception as e:
        raise UserError(f"{path} is truncated or not a {title} batch ({type(e).__name__}); "
                        f"{again}") from None
    if len(images) != len(labels) or (len(labels) and not (
            0 <= labels.min() and labels.max() < num_classes)):
        raise UserError(f"{path} has inconsistent images and labels; {again}")
    return np.ascontiguousarray(images), labels


def load_cifar10(split: str, data_folder=None, download_if_missing: bool = True):
    """Return (images uint8 (n, 32, 32, 3) RGB, labels int64 (n,)) of 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = batches_folder(data_folder)
    if _missing_files(folder) and not download_if_missing:
        raise UserError(f"CIFAR-10 batches {_missing_files(folder)} are missing in {folder}; "
                        "set DATA_FOLDER to the folder holding cifar-10-batches-py/")
    ensure_cifar10(data_folder)
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    parts = [read_batch(folder / n) for n in names]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def test_labels(data_folder=None):
    """The test batch's labels, None when that file is missing (nothing is downloaded)."""
    path = batches_folder(data_folder) / TEST_BATCHES[0]
    return read_batch(path)[1] if path.is_file() else None


# The reader's interface of datasets.catalog.
load, ensure, folder_of = load_cifar10, ensure_cifar10, batches_folder


def write_batch(path: Path, images, labels: dict) -> None:
    """One batch in the official format: `labels` maps each labels key of the batch
    ("labels"; CIFAR-100: "fine_labels", "coarse_labels") to its labels."""
    data = np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {"batch_label": path.name,
             **{key: [int(v) for v in values] for key, values in labels.items()},
             "data": data, "filenames": [f"{path.name}_{i}.png" for i in range(len(images))]}
    write_bytes(path, pickle.dumps(batch, protocol=2))


def write_cifar10_batches(data_folder, train_images, train_labels, test_images, test_labels):
    """Write arrays as the official python batches (5 train batches, 1 test batch, meta)."""
    folder = batches_folder(data_folder)
    folder.mkdir(parents=True, exist_ok=True)

    for name, idx in zip(TRAIN_BATCHES, np.array_split(np.arange(len(train_labels)), 5)):
        write_batch(folder / name, train_images[idx], {"labels": np.asarray(train_labels)[idx]})
    write_batch(folder / TEST_BATCHES[0], test_images, {"labels": test_labels})
    meta = {"label_names": list(CLASSES), "num_cases_per_batch": len(train_labels) // 5,
            "num_vis": 3072}
    write_bytes(folder / "batches.meta", pickle.dumps(meta, protocol=2))


def synthetic_cifar10(n_train: int, n_test: int, seed: int = 0):
    """A small, easily learnt stand-in for CIFAR-10 (for tests and benchmarks, no download).

    Each class has its own colour, far from the other nine (a fixed palette), and its own
    frequency of horizontal stripes, both unchanged by the training's random crops and
    flips, plus noise; a small network learns it from a few hundred images in an epoch or
    two. Images are uint8 (n, 32, 32, 3).
    """
    return striped_images(n_train, n_test, seed, 10, colour=lambda c: c, stripes=lambda c: c)


def striped_images(n_train: int, n_test: int, seed: int, num_classes: int, colour, stripes,
                   amplitude: float = 25):
    """Train and test images of `num_classes` classes drawn uniformly: class c has the
    palette's colour `colour(c)` (0-9) and `1 + stripes(c)` horizontal half-periods per
    16 rows (stripes(c) 0-9) of `amplitude` grey levels, at a random phase, plus noise."""
    rng = np.random.default_rng(seed)
    colours = np.array(_PALETTE, dtype=float)
    yy = np.arange(32)[None, :, None]

    def make(n):
        labels = rng.integers(0, num_classes, size=n)
        frequency = (1 + stripes(labels)[:, None, None]) * np.pi / 16
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
        wave = np.sin(frequency * yy + phase) * np.ones((1, 1, 32))
        images = colours[colour(labels)][:, None, None, :] + amplitude * wave[..., None]
        images += rng.normal(0, 12, size=images.shape)
        return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    return train_x, train_y, test_x, test_y


# Ten colours, none closer to another than 98 (Euclidean distance in 0..255 RGB).
_PALETTE = [(50, 50, 50), (205, 50, 50), (50, 205, 50), (50, 50, 205), (205, 205, 50),
            (205, 50, 205), (50, 205, 205), (205, 205, 205), (128, 128, 128), (128, 30, 128)]
