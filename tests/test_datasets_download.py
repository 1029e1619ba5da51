"""datasets/download.py: CIFAR-10's download, offline: a refused port, and a local server with
a verified archive.
"""

import numpy as np
import pytest

import datasets.cifar10 as cifar10
import datasets.download as download
from datasets.cifar10 import load_cifar10
from errors import UserError


def test_missing_cifar10_and_failed_download_is_one_clear_user_error(tmp_path, monkeypatch):
    # A refused local port instead of the real URL: the test must never download 170 MB.
    monkeypatch.setattr(cifar10, "ARCHIVE_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 5)
    empty = tmp_path / "empty"
    with pytest.raises(UserError) as info:
        load_cifar10("train", empty)
    message = str(info.value)
    assert "\n" not in message
    assert str(empty / "cifar-10-batches-py") in message
    assert "data_batch_1..5" in message and "test_batch" in message
    assert "cifar-10-python.tar.gz" in message and "DATA_FOLDER" in message
    # Nothing half-extracted, no temporary extraction folder left behind.
    assert not list((empty / "cifar-10-batches-py").glob("*"))
    assert not list(empty.glob(".*extract*"))


def test_archive_constants_match_torchvision():
    from torchvision.datasets import CIFAR10

    assert (cifar10.ARCHIVE_URL, cifar10.ARCHIVE_NAME, cifar10.ARCHIVE_MD5) == (
        CIFAR10.url, CIFAR10.filename, CIFAR10.tgz_md5)


def test_download_extracts_a_verified_archive_into_place(cifar_folder, tmp_path, monkeypatch,
                                                        request):
    """The download path end to end, offline: a local HTTP server with an archive in the
    official layout."""
    import functools
    import hashlib
    import http.server
    import tarfile
    import threading

    archive = tmp_path / "served" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(cifar_folder / "cifar-10-batches-py", arcname="cifar-10-batches-py")

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(archive.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)
    monkeypatch.setattr(cifar10, "ARCHIVE_URL",
                        f"http://127.0.0.1:{server.server_port}/{archive.name}")
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", "0" * 32)
    target = tmp_path / "data"
    with pytest.raises(UserError, match="downloading it failed"):  # md5 mismatch: refused
        load_cifar10("test", target)
    assert not (target / "cifar-10-batches-py").exists()
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    x, y = load_cifar10("test", target)
    assert np.array_equal(x, load_cifar10("test", cifar_folder)[0])
    assert sorted(p.name for p in target.iterdir()) == ["cifar-10-batches-py",
                                                        "cifar-10-python.tar.gz"]
