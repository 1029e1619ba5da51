"""datasets/download.py: CIFAR-10's download, offline: a refused port, and a local server with
a verified archive.
"""

from pathlib import Path

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
    # What the attempt created is gone: the data folder it made, with no archive, no
    # batches folder and no temporary extraction folder in it.
    assert not empty.exists()


def serve(folder: Path, request) -> str:
    """A local HTTP server of `folder` for the test's duration; its base URL."""
    import functools
    import http.server
    import threading

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.02),
                     daemon=True).start()
    request.addfinalizer(server.shutdown)
    return f"http://127.0.0.1:{server.server_port}"


@pytest.mark.parametrize("data_set", ["CIFAR-10", "CIFAR-10-C"])
def test_a_failed_download_keeps_what_was_there_and_removes_what_it_made(
        data_set, tmp_path, monkeypatch, request):
    import datasets.cifar10c as cifar10c

    # CIFAR-10: an archive that downloads and fails its md5 check; CIFAR-10-C: a refused port.
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    monkeypatch.setattr(cifar10, "ARCHIVE_URL",
                        f"{serve(tmp_path / 'served', request)}/cifar-10-python.tar.gz")
    monkeypatch.setenv(cifar10c.URL_ENV, "http://127.0.0.1:9/CIFAR-10-C.tar")
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 5)
    data = tmp_path / "data"
    (data / "mine").mkdir(parents=True)
    (data / "mine" / "notes.txt").write_text("kept")
    (data / "cifar-10-batches-py").mkdir()            # a batches folder missing its files
    (data / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"an old batch")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    with pytest.raises(UserError, match="downloading it failed"):
        if data_set == "CIFAR-10":
            cifar10.ensure_cifar10(data)
        else:
            cifar10c.ensure_cifar10c(data)
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    assert (data / "cifar-10-batches-py" / "data_batch_1").read_bytes() == b"an old batch"


def test_archive_constants_match_torchvision():
    from torchvision.datasets import CIFAR10

    assert (cifar10.ARCHIVE_URL, cifar10.ARCHIVE_NAME, cifar10.ARCHIVE_MD5) == (
        CIFAR10.url, CIFAR10.filename, CIFAR10.tgz_md5)


def test_download_extracts_a_verified_archive_into_place(cifar_folder, tmp_path, monkeypatch,
                                                        request):
    """The download path end to end, offline: a local HTTP server with an archive in the
    official layout."""
    import hashlib
    import tarfile

    archive = tmp_path / "served" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(cifar_folder / "cifar-10-batches-py", arcname="cifar-10-batches-py")

    monkeypatch.setattr(cifar10, "ARCHIVE_URL", f"{serve(archive.parent, request)}/{archive.name}")
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", "0" * 32)
    target = tmp_path / "data"
    with pytest.raises(UserError, match="downloading it failed"):  # md5 mismatch: refused
        load_cifar10("test", target)
    assert not target.exists()            # the refused archive and the folder it made: gone
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    x, y = load_cifar10("test", target)
    assert np.array_equal(x, load_cifar10("test", cifar_folder)[0])
    assert sorted(p.name for p in target.iterdir()) == ["cifar-10-batches-py",
                                                        "cifar-10-python.tar.gz"]
