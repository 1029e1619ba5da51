"""Shared fixtures: small data sets written in the official CIFAR-10 batch format."""
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches  # noqa: E402


@pytest.fixture(scope="session")
def cifar_folder(tmp_path_factory) -> Path:
    """A DATA_FOLDER holding 1,000 training and 500 test images in CIFAR-10's format."""
    folder = tmp_path_factory.mktemp("data")
    write_cifar10_batches(folder, *synthetic_cifar10(n_train=1000, n_test=500, seed=0))
    return folder


@pytest.fixture
def data_env(cifar_folder, monkeypatch):
    """Environment for subprocesses (and config) pointing DATA_FOLDER at `cifar_folder`."""
    monkeypatch.setenv("DATA_FOLDER", str(cifar_folder))
    env = dict(os.environ)
    env["DATA_FOLDER"] = str(cifar_folder)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env
