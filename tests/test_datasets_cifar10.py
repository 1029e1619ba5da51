"""datasets/cifar10.py: CIFAR-10 in the official batch format, read and written, and the
one-line errors for missing or damaged files.
"""
import os
import pickle
import shutil

import numpy as np
import pytest

from datasets.cifar10 import load_cifar10, synthetic_cifar10, write_cifar10_batches
from errors import UserError


@pytest.fixture
def copied_folder(cifar_folder, tmp_path):
    """A private copy of the session's data folder, free to damage."""
    folder = tmp_path / "data"
    shutil.copytree(cifar_folder, folder)
    return folder


def test_load_cifar10_reads_the_official_format_without_md5(cifar_folder):
    train_x, train_y, test_x, test_y = synthetic_cifar10(n_train=1000, n_test=500, seed=0)
    x, y = load_cifar10("train", cifar_folder, download_if_missing=False)
    assert x.dtype == np.uint8 and x.shape == (1000, 32, 32, 3) and y.dtype == np.int64
    assert np.array_equal(x, train_x) and np.array_equal(y, train_y)
    x, y = load_cifar10("test", cifar_folder, download_if_missing=False)
    assert np.array_equal(x, test_x) and np.array_equal(y, test_y)


def test_data_folder_defaults_to_config(cifar_folder, monkeypatch):
    import config

    monkeypatch.setattr(config, "DATA_FOLDER", cifar_folder)
    assert load_cifar10("test", download_if_missing=False)[0].shape == (500, 32, 32, 3)


def test_batch_layout_is_channel_major_like_the_official_files(tmp_path):
    """The official rows are R plane, G plane, B plane: check a known pixel lands right."""
    image = np.zeros((5, 32, 32, 3), np.uint8)
    image[0, 1, 2] = (10, 20, 30)
    write_cifar10_batches(tmp_path, image, np.arange(5) % 10, image, np.arange(5) % 10)
    raw = pickle.loads((tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes())["data"]
    assert [raw[0][c * 1024 + 1 * 32 + 2] for c in range(3)] == [10, 20, 30]
    assert tuple(load_cifar10("test", tmp_path)[0][0, 1, 2]) == (10, 20, 30)


def test_missing_cifar10_without_download_names_the_files(tmp_path):
    with pytest.raises(UserError, match="data_batch_1.*missing.*DATA_FOLDER"):
        load_cifar10("test", tmp_path, download_if_missing=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_a_batch", "bad_labels"])
def test_corrupt_batch_is_a_user_error_naming_the_file(copied_folder, damage):
    path = copied_folder / "cifar-10-batches-py" / "data_batch_3"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "not_a_batch":
        path.write_bytes(pickle.dumps({"something": [1, 2, 3]}))
    else:
        batch = pickle.loads(data)
        batch["labels"] = batch["labels"][:-1]
        path.write_bytes(pickle.dumps(batch))
    with pytest.raises(UserError) as info:
        load_cifar10("train", copied_folder)
    assert str(path) in str(info.value) and "download" in str(info.value)
    load_cifar10("test", copied_folder)  # the other split is unaffected


def test_a_batch_whose_pixels_are_not_uint8_is_refused_naming_the_file(copied_folder):
    path = copied_folder / "cifar-10-batches-py" / "data_batch_2"
    batch = pickle.loads(path.read_bytes())
    batch["data"] = batch["data"].astype(np.float64) * 2.0  # values up to 510
    path.write_bytes(pickle.dumps(batch))
    with pytest.raises(UserError) as info:
        load_cifar10("train", copied_folder)
    message = str(info.value)
    assert str(path) in message and "float64" in message and "uint8" in message
    assert "\n" not in message


# ------------------------------------------ what a robustness file records (issue 23)

class _Payload:
    """Pickled, it calls os.system when it is loaded."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_crafted_test_batch_runs_no_code(tmp_path):
    folder = tmp_path / "data"
    write_cifar10_batches(folder, *synthetic_cifar10(n_train=20, n_test=10, seed=0))
    marker = tmp_path / "code_ran"
    batch = folder / "cifar-10-batches-py" / "test_batch"
    images, labels = load_cifar10("test", folder)
    crafted = {"batch_label": "test", "labels": [int(v) for v in labels],
               "data": images.transpose(0, 3, 1, 2).reshape(len(labels), -1),
               "filenames": _Payload(f"touch {marker}")}
    batch.write_bytes(pickle.dumps(crafted, protocol=2))
    with pytest.raises(UserError) as error:
        load_cifar10("test", folder)
    assert not marker.exists()
    assert str(batch) in str(error.value) and "\n" not in str(error.value)
    # A batch holding something else than data (here a tuple) is refused too.
    batch.write_bytes(pickle.dumps(dict(crafted, filenames=("a",)), protocol=2))
    with pytest.raises(UserError, match="not a dict of arrays"):
        load_cifar10("test", folder)
