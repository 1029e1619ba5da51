"""Shared fixtures: small data sets in the official CIFAR-10 format, the environment that
points the scripts at them, and trained run folders shared by the whole session.

Helpers that are not fixtures (running a script, writing a fake run folder) are in
tests/helpers.py.
"""
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
for path in (REPO_ROOT, REPO_ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("MPLBACKEND", "Agg")
# One CPU thread for torch, here and in every subprocess the tests start (they inherit
# it), unless the environment says otherwise: the tests' networks are tiny, and on a busy
# 2-core machine two threads per process wait on each other (measured: an epoch of the
# trained runs (helpers.RESNET_RUN) takes 1.4 s with one thread and 10 to 15 s with two).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import config  # noqa: E402
from datasets import cifar10c  # noqa: E402
from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches  # noqa: E402
# tests/helpers.py and tests/robustness_runs.py import torch (2 s): the fixtures import
# them when they run, in the test workers, not in pytest-xdist's controller, where those
# 2 s would delay the workers' start.

# The order of the test files. The longest first, longest to shortest: with two files at a
# time (pytest.ini), the files that follow fill in beside them, instead of one worker
# finishing a long file alone at the end. After the eight longest, the files whose tests
# mostly wait (on stand-in runs that sleep, on submitit's local executor's timeouts), each
# followed by one of the next longest, CPU-bound files, so that whichever worker is free
# next takes a file that works beside the waiting one. Side by side, two waiting files
# left a core idle: for 15 s when they came last (vmstat, 2 December), and half of both
# cores for 10 s when they came together after the eight longest (7 December).
# pytest.ini's --no-loadscope-reorder keeps this order (xdist's default puts the files
# with the most tests first, and these have one to ten).
FILE_ORDER = (
    # the eight longest, longest first
    "test_slurm_cluster.py", "test_smoke_exp_10.py", "test_exp_12.py", "test_run_training.py",
    "test_smoke_launcher.py", "test_smoke_exp_11_1.py", "test_outputs_unchanged.py",
    "test_smoke_exp_10_1.py",
    # mostly waiting, each followed by one of the next longest
    "test_launching_slurm.py", "test_evaluating_jpeg.py",
    "test_launching_local_pool.py", "test_robustness_adversarial.py",
    "test_launching_run_process.py", "test_cli.py", "test_run_corruption_test.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return FILE_ORDER.index(name) if name in FILE_ORDER else len(FILE_ORDER)

    items.sort(key=rank)   # stable: each file keeps its own order


@pytest.fixture(scope="session")
def cifar_folder(tmp_path_factory) -> Path:
    """A DATA_FOLDER holding 1,000 training and 500 test images in CIFAR-10's format."""
    folder = tmp_path_factory.mktemp("data")
    write_cifar10_batches(folder, *synthetic_cifar10(n_train=1000, n_test=500, seed=0))
    return folder


@pytest.fixture
def data_env(cifar_folder, monkeypatch):
    """Environment for subprocesses (and config) pointing DATA_FOLDER at `cifar_folder`."""
    import config

    monkeypatch.setenv("DATA_FOLDER", str(cifar_folder))
    monkeypatch.setattr(config, "DATA_FOLDER", cifar_folder)
    env = dict(os.environ)
    env["DATA_FOLDER"] = str(cifar_folder)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@pytest.fixture
def own_data(cifar_folder, tmp_path, monkeypatch) -> dict:
    """A copy of `cifar_folder` of the test's own (the JPEG and corruption tests add their
    test sets to their data folder) and the environment pointing at it."""
    import config

    data = tmp_path / "data"
    shutil.copytree(cifar_folder, data)
    monkeypatch.setenv("DATA_FOLDER", str(data))
    monkeypatch.setattr(config, "DATA_FOLDER", data)
    return dict(os.environ, DATA_FOLDER=str(data), MPLBACKEND="Agg")


class TrainedRun:
    """A finished run folder trained once per session, with what the training printed.
    Tests that change a run work on `copy(to)`."""

    def __init__(self, folder: Path, options, stdout: str, stderr: str):
        self.folder, self.options, self.stdout, self.stderr = folder, options, stdout, stderr

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.folder, to)
        return to


@pytest.fixture(scope="session")
def trained_resnet(tmp_path_factory, cifar_folder) -> TrainedRun:
    """CifarResNet N=1 (8 conv layers), 3 epochs (the learning-rate step after epoch 2) on
    400 of the images of `cifar_folder`, tested on 200."""
    from helpers import RESNET_RUN, train_in_process

    folder = tmp_path_factory.mktemp("trained") / "CifarResNet_s3_N1"
    return TrainedRun(folder, RESNET_RUN, *train_in_process(folder, RESNET_RUN, cifar_folder))


@pytest.fixture(scope="session")
def trained_densenet(tmp_path_factory, cifar_folder) -> TrainedRun:
    """CifarDenseNet L=22, k=12 with gradient checkpointing (`efficient: True`, as the
    authors' runs), 1 epoch on 192 of the images."""
    from helpers import DENSENET_RUN, train_in_process

    folder = tmp_path_factory.mktemp("trained") / "CifarDenseNet_k12_L22_s3"
    return TrainedRun(folder, DENSENET_RUN,
                      *train_in_process(folder, DENSENET_RUN, cifar_folder))


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory) -> dict:
    """The smoke flows' data (tests/smoke_flows.py) and the environment pointing at it."""
    from smoke_flows import smoke_data

    return smoke_data(tmp_path_factory.mktemp("smoke_data"))


@pytest.fixture
def stand_in(tmp_path) -> Path:
    """The stand-in for run_training.py (tests/helpers.py STAND_IN) as a script."""
    from helpers import STAND_IN

    path = tmp_path / "stand_in.py"
    path.write_text(STAND_IN)
    return path


@pytest.fixture(scope="module")
def c_data():
    """Synthetic CIFAR-10 (500 training images, C_N test images) for the CIFAR-10-C tests."""
    from helpers import C_N

    train_x, train_y, test_x, test_y = synthetic_cifar10(n_train=500, n_test=C_N, seed=1)
    return train_x, train_y, test_x[:C_N], test_y[:C_N]


@pytest.fixture
def folder_c(tmp_path, c_data):
    """CIFAR-10-C layout with two corruptions (made-up, growing with severity)."""
    from datasets import cifar10c
    from helpers import corrupted

    _, _, test_x, test_y = c_data
    images = {"gaussian_noise": corrupted(test_x, 0), "fog": corrupted(test_x, 10)}
    return cifar10c.write_cifar10c(tmp_path / "data", images, test_y)


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A DATA_FOLDER with CIFAR-10 (40 test images) and a CIFAR-10-C of two corruptions
    made from those test images, whose labels.npy repeats the test labels."""
    from robustness_runs import N_TEST

    folder = tmp_path / "data"
    train_x, train_y, test_x, test_y = synthetic_cifar10(n_train=100, n_test=N_TEST, seed=3)
    write_cifar10_batches(folder, train_x, train_y, test_x, test_y)
    rng = np.random.default_rng(0)
    noisy = [np.clip(test_x + rng.normal(0, 15 * s, test_x.shape), 0, 255) for s in range(1, 6)]
    bright = [np.clip(test_x.astype(int) + 20 * s, 0, 255) for s in range(1, 6)]
    cifar10c.write_cifar10c(folder, {"gaussian_noise": np.concatenate(noisy),
                                     "jpeg_compression": np.concatenate(bright)}, test_y)
    monkeypatch.setattr(config, "DATA_FOLDER", folder)
    monkeypatch.setenv("DATA_FOLDER", str(folder))
    return folder



N_CIFAR101 = 30                              # CIFAR-10.1 images of the `data101` fixture


@pytest.fixture
def data101(data) -> Path:
    """`data` (CIFAR-10 with 40 test images, CIFAR-10-C) plus CIFAR-10.1 in its official
    format: 30 new images of the same classes, ordered by class as the official files."""
    from datasets import cifar101

    _, _, images, labels = synthetic_cifar10(n_train=0, n_test=N_CIFAR101, seed=11)
    order = np.argsort(labels, kind="stable")
    cifar101.write_cifar101(data, images[order], labels[order])
    return data
