"""CIFAR-10-C: the loader on files in the official layout, its error messages, the
download's failure message, and the per-run corruption predictions (resume, redo)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from datasets import cifar10c
from datasets.cifar10 import synthetic_cifar10
from datasets.loader import Normalize
from errors import UserError
from robustness import corruptions

REPO_ROOT = Path(__file__).resolve().parents[1]
N = 60                                          # images per severity
# Severities 1..5 of a made-up corruption: blending each image towards a random colour.
BLEND = (0.05, 0.3, 0.5, 0.7, 0.95)


def blended(images, alpha, seed):
    colours = np.random.default_rng(seed).uniform(0, 255, (len(images), 1, 1, 3))
    return ((1 - alpha) * images + alpha * colours).astype(np.uint8)


@pytest.fixture(scope="module")
def synthetic():
    train_x, train_y, test_x, test_y = synthetic_cifar10(n_train=500, n_test=N, seed=1)
    return train_x, train_y, test_x[:N], test_y[:N]


def corrupted(test_x, seed=0):
    return np.concatenate([blended(test_x, alpha, seed) for alpha in BLEND])


@pytest.fixture
def folder_c(tmp_path, synthetic):
    """CIFAR-10-C layout with two corruptions (made-up, growing with severity)."""
    _, _, test_x, test_y = synthetic
    images = {"gaussian_noise": corrupted(test_x, 0), "fog": corrupted(test_x, 10)}
    return cifar10c.write_cifar10c(tmp_path / "data", images, test_y)


class NearestClassMean(torch.nn.Module):
    """A fixed classifier: the class whose mean normalised training image is nearest."""

    def __init__(self, train_x, train_y):
        super().__init__()
        x = Normalize("cpu")(torch.from_numpy(train_x), channels_last=False).flatten(1)
        means = torch.stack([x[torch.from_numpy(train_y) == c].mean(0) for c in range(10)])
        self.linear = torch.nn.Linear(means.shape[1], 10)
        with torch.no_grad():
            self.linear.weight.copy_(means)
            self.linear.bias.copy_(-0.5 * (means ** 2).sum(1))

    def forward(self, x):
        return self.linear(x.flatten(1))


# ------------------------------------------------------------------ loader

def test_the_loader_infers_n_and_splits_severities(folder_c, synthetic):
    _, _, test_x, test_y = synthetic
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


def test_wrong_shapes_and_labels_are_named(folder_c, synthetic):
    np.save(folder_c / "fog.npy", np.zeros((5 * N - 5, 32, 32, 3), np.uint8))
    with pytest.raises(UserError, match=r"fog\.npy holds uint8 .*expected uint8"):
        cifar10c.open_corruption(folder_c, "fog", N)
    labels = np.tile(synthetic[3], 5).astype(np.uint8)
    labels[-1] = (labels[-1] + 1) % 10              # the last block differs
    np.save(folder_c / "labels.npy", labels)
    with pytest.raises(UserError, match="repeat the same test labels"):
        cifar10c.load_labels(folder_c)
    np.save(folder_c / "labels.npy", labels[:-1])   # not 5 n
    with pytest.raises(UserError, match=r"labels\.npy holds uint8"):
        cifar10c.load_labels(folder_c)
    np.save(folder_c / "labels.npy", np.tile(synthetic[3], 5).astype(np.uint8))
    with pytest.raises(UserError, match="does not repeat the CIFAR-10 test labels"):
        cifar10c.load_labels(folder_c, test_labels=(synthetic[3] + 1) % 10)


def test_a_failed_download_says_where_to_put_which_files(tmp_path, monkeypatch):
    monkeypatch.setenv(cifar10c.URL_ENV, "http://127.0.0.1:9/CIFAR-10-C.tar")
    with pytest.raises(UserError) as error:
        cifar10c.ensure_cifar10c(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "CIFAR-10-C") in message and "labels.npy" in message
    assert cifar10c.ARCHIVE_URL in message and cifar10c.ARCHIVE_MD5 in message
    assert not (tmp_path / "CIFAR-10-C").exists()


# ------------------------------------------------------------------ predictions

def test_error_grows_with_severity(folder_c, synthetic, tmp_path):
    model = NearestClassMean(*synthetic[:2]).eval()
    output = tmp_path / "B" / "corruption_predictions" / "run.npz"
    errors = corruptions.predict_corruptions(model, folder_c, output, "cpu", batch_size=64,
                                             log=lambda line: None)
    assert set(errors) == {"gaussian_noise", "fog"}
    rows = corruptions.errors_by_severity(corruptions.read_predictions(output))
    for name in errors:
        curve = [r["er"] for r in rows if r["corruption"] == name]
        assert len(curve) == 5 and curve[0] < 20 and curve[-1] > 50, curve
        assert curve == sorted(curve), curve


def test_predictions_match_a_plain_per_image_loop(folder_c, synthetic, tmp_path):
    model = NearestClassMean(*synthetic[:2]).eval()
    images = np.array(cifar10c.open_corruption(folder_c, "fog", N))
    fast = corruptions.predict_images(model, images, "cpu", batch_size=37)
    normalize = Normalize("cpu")
    with torch.no_grad():
        slow = [int(model(normalize(torch.from_numpy(im[None]), False)).argmax())
                for im in images]
    assert fast.dtype == np.uint8 and fast.tolist() == slow


def test_an_interrupted_job_resumes_with_the_missing_corruptions(folder_c, synthetic, tmp_path):
    model = NearestClassMean(*synthetic[:2]).eval()
    output = tmp_path / "run.npz"
    corruptions.predict_corruptions(model, folder_c, output, "cpu", corruptions=["fog"],
                                    log=lambda line: None)
    done = corruptions.read_predictions(output)
    assert list(done["predictions"]) == ["fog"]
    # Marks the finished corruption: if it were computed again, the mark would be lost.
    marked = dict(done["predictions"], fog=np.zeros(5 * N, np.uint8))
    corruptions.write_predictions(output, N, done["labels"], marked)
    computed = []
    corruptions.predict_corruptions(model, folder_c, output, "cpu", log=computed.append)
    final = corruptions.read_predictions(output)
    assert len(computed) == 1 and computed[0].startswith("gaussian_noise")
    assert not final["predictions"]["fog"].any()
    assert set(final["predictions"]) == {"fog", "gaussian_noise"}


def test_an_unusable_file_is_computed_again(folder_c, synthetic, tmp_path, capsys):
    model = NearestClassMean(*synthetic[:2]).eval()
    output = tmp_path / "run.npz"
    output.write_bytes(b"not an npz")
    corruptions.predict_corruptions(model, folder_c, output, "cpu", log=lambda line: None)
    assert set(corruptions.read_predictions(output)["predictions"]) == {"fog", "gaussian_noise"}
    assert "cannot be read" in capsys.readouterr().err
    # A file of a subset is made on other images: computed again for the full set (fewer
    # images replace more only when asked to: issue 23).
    corruptions.predict_corruptions(model, folder_c, output, "cpu", subset=5, log=lambda l: None,
                                    replace_larger=True)
    small = corruptions.read_predictions(output)
    assert small["n"] == 5 and small["predictions"]["fog"].shape == (25,)
    assert "other images" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_end_to_end(folder_c, tmp_path):
    from models import build_model_from_opt

    opt = {"model_type": "CifarResNet", "model_kw": "q: 2;k: 3;N: 1;", "epochs": 1}
    run = tmp_path / "exp" / "exp_data" / "CifarResNet_s1_N1"
    run.mkdir(parents=True)
    (run / "opt.json").write_text(json.dumps(opt), encoding="utf-8")
    torch.save(build_model_from_opt(opt).state_dict(), run / "model.pt")
    env = dict(os.environ, DATA_FOLDER=str(folder_c.parent))
    done = subprocess.run([sys.executable, str(REPO_ROOT / "run_corruption_test.py"),
                           "--model_folder", str(run), "--device", "cpu", "--subset", "4"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = corruptions.read_predictions(tmp_path / "exp" / "corruption_predictions"
                                          / "CifarResNet_s1_N1.npz")
    assert result["n"] == 4 and set(result["predictions"]) == {"fog", "gaussian_noise"}
    bad = subprocess.run([sys.executable, str(REPO_ROOT / "run_corruption_test.py"),
                          "--model_folder", str(run), "--subset", "0"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
