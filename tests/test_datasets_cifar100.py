"""datasets/cifar100.py and datasets/catalog.py: CIFAR-100's official python files (train,
test, meta; fine labels) through CIFAR-10's restricted unpickler, its download, the
synthetic stand-in, its normalisation, and CIFAR-100-C beside CIFAR-10-C."""
import os
import pickle

import numpy as np
import pytest
import torch

import datasets.download as download
from datasets import catalog, cifar100, cifar10c
from datasets.cifar100 import load, synthetic_cifar100, write_cifar100
from datasets.loader import EvalBatches
from errors import UserError


@pytest.fixture(scope="module")
def folder_100(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data100")
    write_cifar100(folder, *synthetic_cifar100(n_train=300, n_test=120, seed=4))
    return folder


def test_the_official_files_are_read_with_their_fine_labels(folder_100):
    train_x, train_y, test_x, test_y = synthetic_cifar100(n_train=300, n_test=120, seed=4)
    x, y = load("train", folder_100, download_if_missing=False)
    assert np.array_equal(x, train_x) and np.array_equal(y, train_y)
    x, y = load("test", folder_100, download_if_missing=False)
    assert np.array_equal(x, test_x) and np.array_equal(y, test_y)
    # The official layout: one train and one test pickle with both labellings, and meta.
    files = folder_100 / "cifar-100-python"
    assert sorted(p.name for p in files.iterdir()) == ["meta", "test", "train"]
    with open(files / "test", "rb") as f:
        batch = pickle.load(f)
    assert batch["data"].shape == (120, 3072) and batch["data"].dtype == np.uint8
    assert batch["fine_labels"] == test_y.tolist()
    assert batch["coarse_labels"] != batch["fine_labels"]   # the fine ones were read
    with open(files / "meta", "rb") as f:
        assert len(pickle.load(f)["fine_label_names"]) == 100
    # The catalog reads it by opt.json's name.
    assert np.array_equal(catalog.data_set("cifar_100").load("test", folder_100)[1], test_y)


def test_labels_beyond_the_100_classes_and_crafted_pickles_are_refused(tmp_path):
    _, _, x, y = synthetic_cifar100(0, 10, seed=0)
    folder = write_cifar100(tmp_path, x, y, x, np.r_[y[:-1], 100])
    with pytest.raises(UserError, match="inconsistent images and labels"):
        load("test", tmp_path, download_if_missing=False)
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (folder / "test").write_bytes(pickle.dumps({"data": Payload()}, protocol=2))
    with pytest.raises(UserError) as error:
        load("test", tmp_path, download_if_missing=False)
    assert not marker.exists()
    assert "is not a CIFAR-100 batch" in str(error.value) and "\n" not in str(error.value)


def test_missing_cifar100_and_a_failed_download_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"CIFAR-100 files \['train', 'test'\] are missing"):
        load("train", tmp_path, download_if_missing=False)
    monkeypatch.setattr(cifar100, "ARCHIVE_URL", "http://127.0.0.1:9/cifar-100-python.tar.gz")
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 5)
    with pytest.raises(UserError) as error:
        load("train", tmp_path)
    message = str(error.value)
    assert "\n" not in message and "downloading it failed" in message
    assert str(tmp_path / "cifar-100-python") in message and "train, test and meta" in message
    assert not list(tmp_path.glob(".*extract*"))


def test_archive_constants_match_torchvision():
    from torchvision.datasets import CIFAR100

    assert (cifar100.ARCHIVE_URL, cifar100.ARCHIVE_NAME, cifar100.ARCHIVE_MD5) == (
        CIFAR100.url, CIFAR100.filename, CIFAR100.tgz_md5)
    assert cifar100.FOLDER == CIFAR100.base_folder


def test_the_synthetic_classes_are_a_colour_and_a_stripe_frequency():
    x, y, _, _ = synthetic_cifar100(n_train=2000, n_test=0, seed=1)
    assert sorted(set(y.tolist())) == list(range(100))
    from datasets.cifar10 import _PALETTE

    # Each class's mean colour is its palette colour (the stripes average out) ...
    for c in (0, 37, 99):
        mean = x[y == c].reshape(-1, 3).mean(axis=0)
        assert np.abs(mean - _PALETTE[c // 10]).max() < 12, (c, mean)
    # ... and its rows oscillate at its own frequency: the strongest of the row profile's
    # spectrum is at (1 + c % 10) half-periods per 16 rows, i.e. (1 + c % 10) cycles per 32.
    for c in (3, 58):
        rows = x[y == c].astype(float).mean(axis=(2, 3))          # (n, 32)
        spectrum = np.abs(np.fft.rfft(rows - rows.mean(axis=1, keepdims=True))).mean(axis=0)
        assert spectrum.argmax() == 1 + c % 10, (c, spectrum.round(1))


def test_the_loader_normalises_with_cifar100s_mean_and_std_like_torchvision():
    from PIL import Image
    from torchvision import transforms

    _, _, images, labels = synthetic_cifar100(0, 40, seed=3)
    data = catalog.CIFAR_100
    assert (data.num_classes, data.mean, data.std) == (100, catalog.CIFAR100_MEAN,
                                                       catalog.CIFAR100_STD)
    x = torch.cat([x for x, _ in EvalBatches(images, labels, 16, "cpu", mean=data.mean,
                                             std=data.std)])
    reference = transforms.Compose([transforms.ToTensor(), transforms.Normalize(data.mean,
                                                                                data.std)])
    assert torch.equal(x, torch.stack([reference(Image.fromarray(im)) for im in images]))
    # Not CIFAR-10's normalisation, which the loader keeps as its default.
    assert not torch.equal(x, torch.cat([x for x, _ in EvalBatches(images, labels, 16, "cpu")]))


def test_an_unknown_dataset_and_a_run_on_other_data_are_one_line():
    with pytest.raises(UserError, match="unknown dataset 'cifar_1000'; choose one of "
                                        "cifar_10, cifar_100"):
        catalog.data_set("cifar_1000")
    assert catalog.of_run({"model_type": "CifarResNet"}) is catalog.CIFAR_10  # the authors'
    with pytest.raises(UserError) as error:
        catalog.refuse_other_data({"dataset": "cifar_100"}, "runs/x", "cifar_10", "do y")
    assert str(error.value) == ("runs/x was trained on CIFAR-100 (its opt.json says "
                                "cifar_100), not on CIFAR-10: it is not evaluated on CIFAR-10 "
                                "data; do y")


def test_cifar100c_has_its_own_folder_archive_and_100_classes(tmp_path, monkeypatch):
    _, _, x, y = synthetic_cifar100(0, 30, seed=2)
    y = np.r_[y[:-1], 99]     # a class CIFAR-10-C's labels cannot hold
    folder = cifar10c.write_cifar10c(tmp_path, {"fog": np.concatenate([x] * 5)}, y,
                                     dataset="cifar_100")
    assert folder == tmp_path / "CIFAR-100-C" == cifar10c.corruption_folder(tmp_path,
                                                                             "cifar_100")
    labels, n = cifar10c.load_labels(folder, test_labels=y)
    assert n == 30 and np.array_equal(labels, np.tile(y, 5))
    assert cifar10c.open_corruption(folder, "fog", n).shape == (150, 32, 32, 3)
    with pytest.raises(UserError, match="does not repeat the CIFAR-100 test labels"):
        cifar10c.load_labels(folder, test_labels=(y + 1) % 100)
    # The same labels in CIFAR-10-C's folder are refused: classes 0-9 there.
    ten = cifar10c.write_cifar10c(tmp_path, {}, y)
    with pytest.raises(UserError, match=r"classes 0-9\); delete .*CIFAR-10-C"):
        cifar10c.load_labels(ten)
    # A failed download names CIFAR-100-C's archive (Zenodo record 3555552) and its md5.
    monkeypatch.setenv("CIFAR100C_URL", "http://127.0.0.1:9/CIFAR-100-C.tar")
    with pytest.raises(UserError) as error:
        cifar10c.ensure_cifar10c(tmp_path / "empty", dataset="cifar_100")
    message = str(error.value)
    assert "\n" not in message and "CIFAR-100-C is not in" in message
    assert "https://zenodo.org/records/3555552/files/CIFAR-100-C.tar" in message
    assert "11f0ed0f1191edbf9fa23466ae6021d3" in message
    assert not (tmp_path / "empty" / "CIFAR-100-C").exists()
