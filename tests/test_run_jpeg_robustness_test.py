"""run_jpeg_robustness_test.py end to end (in this process): a freshly initialised model saved as a run folder
(opt.json + model.pt), a small JPEG test set, predictions checked against an independent
computation, and the one-line errors for bad input."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import atomic_files
from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches
from helpers import run_in_process
import run_folder as rf
from models import get_model
from precision import error_digits

SCRIPT = "run_jpeg_robustness_test.py"
RUN_NAME = "CifarResNet_s1_N1"
N_TEST = 40


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    """A data folder of our own (40 test images): the script creates the JPEG set in it."""
    folder = tmp_path_factory.mktemp("jpeg_data")
    write_cifar10_batches(folder, *synthetic_cifar10(n_train=20, n_test=N_TEST, seed=5))
    return folder


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """B/exp_data/<run>: opt.json and the model.pt of a freshly initialised CifarResNet N=1."""
    folder = tmp_path_factory.mktemp("B") / rf.EXP_DATA / RUN_NAME
    torch.manual_seed(0)
    model = get_model("CifarResNet", N=1)
    # Random, not-yet-trained BatchNorm statistics, so that predictions differ per class.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    atomic_files.write_json(folder / "opt.json", {"model_type": "CifarResNet", "in_dim": 3,
                                                  "out_dim": 10, "model_kw": "q: 2;k: 3;N: 1;"})
    atomic_files.torch_save(folder / "model.pt", model.state_dict())
    return folder


def predict(*args, data_folder):
    """run_jpeg_robustness_test.py's main(argv) in this process (test_smoke_exp_10.py runs the
    script as a subprocess, through the launcher)."""
    return run_in_process(SCRIPT, *args, env=dict(os.environ, DATA_FOLDER=str(data_folder)))


def expected_predictions(run_folder: Path, stacks: np.ndarray) -> np.ndarray:
    """Each version on its own, normalised here by hand: (n, 10) predicted classes."""
    from datasets.loader import MEAN, STD
    from models import load_trained_model

    model = load_trained_model(run_folder)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    columns = []
    with torch.inference_mode():
        for version in range(stacks.shape[1]):
            x = torch.from_numpy(np.array(stacks[:, version])).permute(0, 3, 1, 2).float() / 255
            columns.append(model((x - mean) / std).argmax(1).numpy())
    return np.stack(columns, axis=1)


def test_predictions_file_end_to_end(run_folder, data_folder):
    base = run_folder.parent.parent
    result = predict("--model_folder", run_folder, "--base_folder", base, "--bs", 7,
                     "--device", "cpu", data_folder=data_folder)
    assert result.returncode == 0, result.stderr
    output = base / "jpeg_model_predictions" / f"{RUN_NAME}.npy"
    assert str(output) in result.stdout
    # Errors on N_TEST images with the decimals they support (precision.error_digits).
    shown = result.stdout.split("test error (%) of versions 0-9: ")[1].splitlines()[0].split()
    assert len(shown) == 10 and all(len(e.partition(".")[2]) == error_digits(N_TEST)
                                    for e in shown), shown
    predictions = np.load(output)
    assert predictions.shape == (N_TEST, 11) and predictions.dtype == np.int64

    # The JPEG test set was missing, so the script created it first.
    stacks = np.load(data_folder / "test_cifar10_jpeg_noise_image_stacks.npy")
    labels = np.load(data_folder / "test_cifar10_jpeg_noise_labels.npy")
    assert stacks.shape == (N_TEST, 10, 32, 32, 3)
    assert np.array_equal(predictions[:, 0], labels)
    expected = expected_predictions(run_folder, stacks)
    assert np.array_equal(predictions[:, 1:], expected)
    assert len(np.unique(expected)) > 1, "a test that only sees one class proves little"
    # The sidecar names the data set the test images came from (datasets.identity).
    sidecar = json.loads(Path(str(output) + ".json").read_text())
    assert sidecar["data_source"] == ("a CIFAR-format data set that is not the official "
                                      "CIFAR-10 (data_batch_1 and 6 more differ)")
    # Without --base_folder, the predictions go next to exp_data/; --subset keeps the first N.
    result = predict("--model_folder", run_folder, "--subset", 5, data_folder=data_folder)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(np.load(output), predictions[:5])


def test_rgb_protocol_predictions_go_elsewhere(run_folder, data_folder, tmp_path):
    result = predict("--model_folder", run_folder, "--base_folder", tmp_path, "--protocol", "rgb",
                     "--subset", 10, data_folder=data_folder)
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "jpeg_model_predictions_rgb" / f"{RUN_NAME}.npy").shape == (10, 11)
    assert not (tmp_path / "jpeg_model_predictions").exists()
    assert (data_folder / "test_cifar10_jpeg_noise_image_stacks_rgb.npy").is_file()


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_missing_or_broken_run_folders_are_one_line_errors(run_folder, data_folder, tmp_path):
    error = one_line_error(predict("--model_folder", tmp_path / "nowhere", "--base_folder",
                                   tmp_path, data_folder=data_folder))
    assert "nowhere" in error

    broken = tmp_path / "exp_data" / "broken"
    broken.mkdir(parents=True)
    (broken / "opt.json").write_text((run_folder / "opt.json").read_text())
    (broken / "model.pt").write_bytes((run_folder / "model.pt").read_bytes()[:500])
    error = one_line_error(predict("--model_folder", broken, data_folder=data_folder))
    assert "model.pt" in error
    assert not (tmp_path / "jpeg_model_predictions").exists()


def test_a_truncated_stack_file_is_a_one_line_error(run_folder, data_folder, tmp_path):
    from datasets.jpeg import create_jpeg_test_set

    truncated = tmp_path / "data"
    write_cifar10_batches(truncated, *synthetic_cifar10(n_train=20, n_test=N_TEST, seed=5))
    stacks, _ = create_jpeg_test_set(truncated, workers=1)
    stacks.write_bytes(stacks.read_bytes()[:-1000])
    error = one_line_error(predict("--model_folder", run_folder, "--base_folder", tmp_path,
                                   data_folder=truncated))
    assert "test_cifar10_jpeg_noise_image_stacks.npy" in error
    assert not (tmp_path / "jpeg_model_predictions").exists()
