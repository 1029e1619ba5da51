"""datasets/cifar101.py: CIFAR-10.1's two .npy files, checked, and their download (offline:
a local server, an unreachable address)."""
import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

from datasets import cifar101
from datasets.cifar10 import synthetic_cifar10
from errors import UserError


def official_like(folder, n=20):
    _, _, images, labels = synthetic_cifar10(n_train=0, n_test=n, seed=5)
    order = np.argsort(labels, kind="stable")
    return cifar101.write_cifar101(folder, images[order], labels[order]), images[order], \
        labels[order]


def test_the_official_format_loads_as_written(tmp_path):
    folder, images, labels = official_like(tmp_path)
    assert folder == tmp_path / "CIFAR-10.1"
    assert np.load(folder / cifar101.LABELS_FILE).dtype.itemsize == 4   # as the official file
    loaded_images, loaded_labels = cifar101.load_cifar101(folder)
    assert loaded_images.dtype == np.uint8 and loaded_images.shape == (20, 32, 32, 3)
    assert np.array_equal(loaded_images, images) and loaded_labels.tolist() == labels.tolist()


@pytest.mark.parametrize("file, array, expected", [
    (cifar101.DATA_FILE, np.zeros((20, 32, 32, 3), np.float32), "float32 (20, 32, 32, 3)"),
    (cifar101.DATA_FILE, np.zeros((20, 3, 32, 32), np.uint8), "uint8 (20, 3, 32, 32)"),
    (cifar101.LABELS_FILE, np.zeros(19, np.int32), "(20,) class indices"),
    (cifar101.LABELS_FILE, np.full(20, 10, np.int32), "not the classes 0-9"),
    (cifar101.LABELS_FILE, np.full(20, 2.5), "not the classes 0-9"),
])
def test_a_bad_file_is_one_line_saying_where_to_put_which_file(tmp_path, file, array, expected):
    folder, _, _ = official_like(tmp_path)
    np.save(folder / file, array)
    with pytest.raises(UserError) as error:
        cifar101.load_cifar101(folder)
    message = str(error.value)
    assert "\n" not in message and str(folder / file) in message and expected in message
    assert f"{cifar101.BASE_URL}/{cifar101.DATA_FILE}" in message and str(folder) in message


def test_a_truncated_or_missing_file_is_one_line(tmp_path):
    folder, _, _ = official_like(tmp_path)
    data = folder / cifar101.DATA_FILE
    data.write_bytes(data.read_bytes()[:500])
    with pytest.raises(UserError, match="truncated"):
        cifar101.load_cifar101(folder)
    official_like(folder.parent)
    (folder / cifar101.LABELS_FILE).unlink()
    with pytest.raises(UserError, match=f"{cifar101.LABELS_FILE} is missing"):
        cifar101.load_cifar101(folder)


def test_a_subset_is_spread_over_the_classes():
    labels = np.repeat(np.arange(10), 200)      # the official order: 200 per class
    chosen = cifar101.evenly_spaced(2000, 100)
    assert len(set(chosen)) == 100 and np.bincount(labels[chosen]).tolist() == [10] * 10
    assert cifar101.evenly_spaced(30, None).tolist() == list(range(30))
    assert cifar101.evenly_spaced(30, 50).tolist() == list(range(30))


@pytest.fixture
def server(tmp_path, request):
    """A local HTTP server of a folder holding the two files; (its URL, the files' md5)."""
    served, _, _ = official_like(tmp_path / "served")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    request.addfinalizer(httpd.shutdown)
    md5 = {name: hashlib.md5((served / name).read_bytes()).hexdigest()
           for name in (cifar101.DATA_FILE, cifar101.LABELS_FILE)}
    return f"http://127.0.0.1:{httpd.server_port}", md5, served


def test_the_download_checks_the_md5_and_puts_both_files_in_place(server, tmp_path,
                                                                  monkeypatch):
    url, md5, served = server
    monkeypatch.setattr(cifar101, "MD5", md5)
    monkeypatch.setenv(cifar101.URL_ENV, url)
    folder = cifar101.ensure_cifar101(tmp_path / "data")
    for name in (cifar101.DATA_FILE, cifar101.LABELS_FILE):
        assert (folder / name).read_bytes() == (served / name).read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == sorted(md5)   # no temporary file left


def test_a_failed_download_is_one_line_and_leaves_nothing(server, tmp_path, monkeypatch):
    url, md5, _ = server
    monkeypatch.setattr(cifar101, "MD5", dict(md5, **{cifar101.DATA_FILE: "0" * 32}))
    monkeypatch.setenv(cifar101.URL_ENV, url)
    folder = tmp_path / "data" / cifar101.FOLDER
    with pytest.raises(UserError) as error:
        cifar101.ensure_cifar101(tmp_path / "data")
    message = str(error.value)
    assert "\n" not in message and f"CIFAR-10.1 is not in {folder}" in message
    assert f"{cifar101.BASE_URL}/{cifar101.DATA_FILE}" in message and f"in {folder}" in message
    assert sorted(p.name for p in folder.iterdir()) == [cifar101.LABELS_FILE]


def test_an_unreachable_address_is_one_line(tmp_path, monkeypatch):
    import datasets.download as download

    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 5)
    monkeypatch.setenv(cifar101.URL_ENV, "http://127.0.0.1:9")
    with pytest.raises(UserError) as error:
        cifar101.ensure_cifar101(tmp_path)
    assert "\n" not in str(error.value) and "downloading it failed" in str(error.value)
    assert not list((tmp_path / cifar101.FOLDER).glob(".*"))
