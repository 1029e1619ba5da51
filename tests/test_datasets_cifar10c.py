"""datasets/cifar10c.py: the CIFAR-10-C loader on files in the official layout (conftest.py
folder_c), its error messages, and the download's failure message.
"""

import numpy as np
import pytest

import atomic_files
from datasets import cifar10c
from datasets.cifar10 import load_cifar10
from errors import UserError
from helpers import C_N as N
from helpers import corrupted
from robustness import corruptions
from robustness_runs import corrupt, one_error_line, trained_run
from run_folder import EXP_DATA


def test_the_loader_infers_n_and_splits_severities(folder_c, c_data):
    _, _, test_x, test_y = c_data
    labels, n = cifar10c.load_labels(folder_c, test_labels=test_y)
    assert n == N and np.array_equal(labels, np.tile(test_y, 5))
    images = cifar10c.open_corruption(folder_c, "fog", n)
    assert images.shape == (5 * N, 32, 32, 3) and images.dtype == np.uint8
    expected = corrupted(test_x, 10)
    for severity in cifar10c.SEVERITIES:
        rows = cifar10c.severity_rows(n, severity)
        assert np.array_equal(images[rows], expected[rows])
    subset = cifar10c.first_of_each_severity(images, n, 7)
    assert np.array_equal(subset[7:14], expected[N:N + 7])


def test_present_and_missing_corruptions(folder_c):
    present = cifar10c.present_corruptions(folder_c)
    assert present == ["gaussian_noise", "fog"]     # the benchmark's order
    missing = cifar10c.missing_benchmark_corruptions(present)
    assert len(missing) == 13 and "fog" not in missing and "snow" in missing
    assert cifar10c.missing_benchmark_corruptions(cifar10c.BENCHMARK_CORRUPTIONS) == []
    with pytest.raises(UserError, match=r"snow\.npy is missing"):
        cifar10c.open_corruption(folder_c, "snow", N)


def test_a_truncated_file_is_one_line_naming_it(folder_c):
    path = folder_c / "fog.npy"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(UserError) as error:
        cifar10c.open_corruption(folder_c, "fog", N)
    message = str(error.value)
    assert "fog.npy" in message and "\n" not in message and "download" in message


def test_wrong_shapes_and_labels_are_named(folder_c, c_data):
    np.save(folder_c / "fog.npy", np.zeros((5 * N - 5, 32, 32, 3), np.uint8))
    with pytest.raises(UserError, match=r"fog\.npy holds uint8 .*expected uint8"):
        cifar10c.open_corruption(folder_c, "fog", N)
    labels = np.tile(c_data[3], 5).astype(np.uint8)
    labels[-1] = (labels[-1] + 1) % 10              # the last block differs
    np.save(folder_c / "labels.npy", labels)
    with pytest.raises(UserError, match="repeat the same test labels"):
        cifar10c.load_labels(folder_c)
    np.save(folder_c / "labels.npy", labels[:-1])   # not 5 n
    with pytest.raises(UserError, match=r"labels\.npy holds uint8"):
        cifar10c.load_labels(folder_c)
    np.save(folder_c / "labels.npy", np.tile(c_data[3], 5).astype(np.uint8))
    with pytest.raises(UserError, match="does not repeat the CIFAR-10 test labels"):
        cifar10c.load_labels(folder_c, test_labels=(c_data[3] + 1) % 10)


def test_a_failed_download_says_where_to_put_which_files(tmp_path, monkeypatch):
    monkeypatch.setenv(cifar10c.URL_ENV, "http://127.0.0.1:9/CIFAR-10-C.tar")
    with pytest.raises(UserError) as error:
        cifar10c.ensure_cifar10c(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "CIFAR-10-C") in message and "labels.npy" in message
    assert cifar10c.ARCHIVE_URL in message and cifar10c.ARCHIVE_MD5 in message
    assert not (tmp_path / "CIFAR-10-C").exists()


# ------------------------------------------ what a robustness file records (issue 23)

def test_labels_permuted_alike_in_every_block_are_refused(data, tmp_path, capsys):
    test_labels = load_cifar10("test")[1]
    permuted = np.random.default_rng(0).permutation(test_labels).astype(np.uint8)
    assert not np.array_equal(permuted, test_labels)
    atomic_files.save_npy(data / "CIFAR-10-C" / "labels.npy", np.tile(permuted, 5))
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    capsys.readouterr()
    assert corrupt(run, base) == 2
    assert "labels.npy does not repeat the CIFAR-10 test labels" in one_error_line(capsys)
    assert not corruptions.output_file(base, run.name).exists()
