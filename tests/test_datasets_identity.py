"""datasets.identity: which data a folder holds (checksums), and the CIFAR-10-C markers."""
import hashlib
import os

import numpy as np
import pytest

from datasets import cifar10c, identity
from datasets.cifar10 import batches_folder, synthetic_cifar10, write_cifar10_batches


def md5_of(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_the_official_sums_are_torchvisions():
    """Read from torchvision's source without importing it, they are its classes' own."""
    import torchvision.datasets as tv

    for dataset, source in (("cifar_10", tv.CIFAR10), ("cifar_100", tv.CIFAR100)):
        table = identity.official_files(dataset)
        assert table["folder"] == source.base_folder
        assert table["md5"] == {**dict(source.train_list + source.test_list),
                                source.meta["filename"]: source.meta["md5"]}
    assert identity.official_files("cifar_10")["name"] == "CIFAR-10"
    assert len(identity.official_files("cifar_10")["md5"]) == 7
    assert set(identity.official_files("cifar_100")["md5"]) == {"train", "test", "meta"}
    with pytest.raises(ValueError, match="cifar_10"):
        identity.official_files("mnist")


def test_a_generated_folder_is_not_the_official_cifar10(cifar_folder):
    found = identity.describe(batches_folder(cifar_folder))
    assert not found["official"] and len(found["differs"]) == 7
    assert found["text"] == ("a CIFAR-format data set that is not the official CIFAR-10 "
                             "(data_batch_1 and 6 more differ)")
    assert found["md5"]["test_batch"] == md5_of(batches_folder(cifar_folder) / "test_batch")
    assert not identity.is_official(found)


def test_a_folder_matching_the_table_is_official_and_one_changed_file_is_named(tmp_path):
    write_cifar10_batches(tmp_path, *synthetic_cifar10(50, 20, seed=4))
    folder = batches_folder(tmp_path)
    # The table of "official" sums computed the way the module computes them.
    table = dict(name="CIFAR-10", folder=folder.name,
                 md5={p.name: md5_of(p) for p in sorted(folder.iterdir())})
    found = identity.describe(folder, official=table)
    assert found["official"] and found["differs"] == []
    assert found["text"] == "CIFAR-10 (official files, checksums verified)"
    assert identity.is_official(found)
    (folder / "test_batch").write_bytes(b"other")
    changed = identity.describe(folder, official=table)
    assert changed["differs"] == ["test_batch"]
    assert changed["text"] == ("a CIFAR-format data set that is not the official CIFAR-10 "
                               "(test_batch differs)")
    (folder / "test_batch").unlink()
    assert identity.describe(folder, official=table)["text"].endswith("(test_batch is missing)")
    (folder / "data_batch_2").unlink()
    assert identity.describe(folder, official=table)["differs"] == ["data_batch_2", "test_batch"]


def test_a_file_is_hashed_once_per_version(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"one")
    assert identity.file_digest(path, "md5") == hashlib.md5(b"one").hexdigest()
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    identity.file_digest(path, "md5")
    assert opened == []                      # the same version: not read again
    path.write_bytes(b"two!")
    os.utime(path, ns=(1, 1))
    assert identity.file_digest(path, "md5") == hashlib.md5(b"two!").hexdigest()
    assert opened == [path]


def test_cifar10c_by_hand_verified_and_changed(tmp_path):
    images = np.zeros((10, 32, 32, 3), np.uint8)
    folder = cifar10c.write_cifar10c(tmp_path, {"fog": images}, np.zeros(2))
    assert identity.describe_corruptions(folder)["text"] == (
        "CIFAR-10-C placed by hand (not verified: CIFAR-10-C publishes no per-file checksums)")
    identity.mark_verified_download(folder, cifar10c.ARCHIVE_NAME, cifar10c.ARCHIVE_MD5)
    found = identity.describe_corruptions(folder)
    assert found["verified"] and found["text"] == "CIFAR-10-C (md5-verified download)"
    np.save(folder / "fog.npy", np.zeros((5, 32, 32, 3), np.uint8))
    found = identity.describe_corruptions(folder)
    assert not found["verified"]
    assert found["text"] == "CIFAR-10-C changed since its md5-verified download (fog.npy differs)"


def test_a_verified_download_leaves_its_marker(tmp_path, monkeypatch, request):
    """cifar10c.download end to end, offline: a local HTTP server with an archive in the
    official layout; the folder it extracts is marked as the md5-verified download."""
    import functools
    import http.server
    import tarfile
    import threading

    source = cifar10c.write_cifar10c(tmp_path / "src", {"fog": np.zeros((5, 32, 32, 3))}, [1])
    archive = tmp_path / "served" / cifar10c.ARCHIVE_NAME
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tar:
        tar.add(source, arcname=cifar10c.FOLDER)

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(archive.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)
    monkeypatch.setenv(cifar10c.URL_ENV, f"http://127.0.0.1:{server.server_port}/{archive.name}")
    monkeypatch.setattr(cifar10c, "ARCHIVE_MD5", md5_of(archive))
    folder = cifar10c.ensure_cifar10c(tmp_path / "data")
    assert (folder / "fog.npy").is_file()
    assert identity.describe_corruptions(folder)["text"] == "CIFAR-10-C (md5-verified download)"


def test_cifar101_against_its_pinned_sums(tmp_path):
    from datasets import cifar101

    folder = cifar101.write_cifar101(tmp_path, np.zeros((4, 32, 32, 3), np.uint8), [1, 2, 3, 4])
    assert identity.describe_cifar101(folder) == (
        "not the published CIFAR-10.1 v6 (cifar10.1_v6_data.npy differs)")
    sums = {name: md5_of(folder / name) for name in (cifar101.DATA_FILE, cifar101.LABELS_FILE)}
    assert identity.describe_cifar101(folder, sums) == "CIFAR-10.1 v6 (md5 as published)"
    (folder / cifar101.LABELS_FILE).unlink()
    assert identity.describe_cifar101(folder, sums).endswith("(cifar10.1_v6_labels.npy differs)")
