"""exe_move_models_to_exp_folder.py: the authors' extracted downloads placed by run name;
identical files skipped, different ones refused, the rest reported."""
import os
from pathlib import Path

import numpy as np
import pytest

from helpers import run_in_process, run_script, snapshot

SCRIPT = "exe_move_models_to_exp_folder.py"

MINNET = "CifarMinFP-LS_s9_N3"          # exp_10
DENSE = "CifarDenseMin_k12_L58_s507"    # exp_11_1
RESNET = "CifarResNet_s257_N9"          # exp_10_1


def write_npy(path: Path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(array))


@pytest.fixture
def downloads(tmp_path) -> dict:
    """Extracted archives as one might find them: run folders at any depth, plus noise."""
    models = tmp_path / "downloads" / "models"
    minnet = models / "min_nets_models" / "exp_10" / "exp_data" / MINNET
    minnet.mkdir(parents=True)
    for name, content in (("model.pt", b"minnet weights"), ("opt.json", b'{"epochs": 200}'),
                          ("log.json", b'{"val_er": [5.0]}'), ("model_specs.json", b"{}")):
        (minnet / name).write_bytes(content)
    dense = models / DENSE
    dense.mkdir(parents=True)
    (dense / "model.pt").write_bytes(b"dense weights")
    (models / "notes" / "NotARun").mkdir(parents=True)
    (models / "notes" / "NotARun" / "model.pt").write_bytes(b"?")

    predictions = tmp_path / "downloads" / "predictions"
    write_npy(predictions / "exp_10" / f"{MINNET}.npy", np.arange(22).reshape(2, 11) % 10)
    write_npy(predictions / f"{RESNET}.npy", np.ones((3, 11), dtype=np.int64))
    write_npy(predictions / "summary.npy", np.zeros(3))
    return {"models": models, "predictions": predictions, "experiments": tmp_path / "experiments"}


def move(downloads, *extra):
    """The script's main(argv) in this process (its one run as a subprocess: the test of
    the missing download folders)."""
    args = ["--models_folder", downloads["models"], "--predictions_folder",
            downloads["predictions"], "--experiments_folder", downloads["experiments"], *extra]
    return run_in_process(SCRIPT, *args)


def test_places_by_run_name_then_skips_identical_files(downloads):
    result = move(downloads)
    assert result.returncode == 0, result.stdout + result.stderr
    exps = downloads["experiments"]
    run = exps / "exp_10" / "exp_data" / MINNET
    for name in ("model.pt", "opt.json", "log.json", "model_specs.json"):
        assert (run / name).read_bytes() == (
            downloads["models"] / "min_nets_models" / "exp_10" / "exp_data" / MINNET / name
        ).read_bytes()
    assert (exps / "exp_11_1" / "exp_data" / DENSE / "model.pt").read_bytes() == b"dense weights"
    assert sorted(p.name for p in (exps / "exp_11_1" / "exp_data" / DENSE).iterdir()) == ["model.pt"]
    assert np.array_equal(np.load(exps / "exp_10" / "jpeg_model_predictions" / f"{MINNET}.npy"),
                          np.arange(22).reshape(2, 11) % 10)
    assert (exps / "exp_10_1" / "jpeg_model_predictions" / f"{RESNET}.npy").is_file()
    assert "7 files copied, 0 already in place, 0 conflicts, 0 invalid, 2 unmatched" in result.stdout
    assert "NotARun/model.pt" in result.stdout and "summary.npy" in result.stdout
    # No temporary files left behind.
    assert not [p for p in exps.rglob("*") if p.name.startswith(".")]

    before = snapshot(exps)
    result = move(downloads)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 files copied, 7 already in place" in result.stdout
    assert snapshot(exps) == before


def test_refuses_to_overwrite_a_different_file(downloads):
    assert move(downloads).returncode == 0
    exps = downloads["experiments"]
    ours = exps / "exp_10" / "exp_data" / MINNET / "model.pt"
    ours.write_bytes(b"our own training")
    (exps / "exp_10" / "exp_data" / MINNET / "log.json").unlink()
    before = snapshot(exps)

    result = move(downloads)
    assert result.returncode == 1
    assert f"CONFLICT: {ours} differs from" in result.stdout
    # Nothing of that run is touched: not even the missing log.json is put back beside
    # a model.pt that is not the authors'.
    assert snapshot(exps) == before
    assert "0 files copied, 3 already in place, 1 conflict," in result.stdout


def test_the_smoke_profile_places_only_the_smoke_runs_under_smoke(downloads):
    result = move(downloads, "--profile", "smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    exps = downloads["experiments"]
    # MinNet s9 N3 and ResNet s257 N9 are smoke runs (first seed, smallest size); the
    # DenseMin L58 s507 is not.
    smoke_run = exps / "exp_10" / "smoke" / "exp_data" / MINNET
    assert (smoke_run / "model.pt").read_bytes() == b"minnet weights"
    assert (exps / "exp_10_1" / "smoke" / "jpeg_model_predictions" / f"{RESNET}.npy").is_file()
    assert not (exps / "exp_11_1").exists() and not (exps / "exp_10" / "exp_data").exists()
    assert "smoke grids" in result.stdout and DENSE in result.stdout
    assert "6 files copied, 0 already in place, 0 conflicts, 0 invalid, 3 unmatched" \
        in result.stdout


def test_dry_run_copies_nothing(downloads):
    result = move(downloads, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would copy" in result.stdout and "7 files would be copied" in result.stdout
    assert not downloads["experiments"].exists()


def test_a_malformed_predictions_file_is_reported_not_copied(downloads):
    write_npy(downloads["predictions"] / f"{DENSE}.npy", np.zeros((4, 10)))
    result = move(downloads)
    assert result.returncode == 1
    assert f"{DENSE}.npy: has shape (4, 10), expected (n, 11)" in result.stdout
    assert not (downloads["experiments"] / "exp_11_1" / "jpeg_model_predictions").exists()


def test_missing_download_folders_are_one_line_errors(downloads, tmp_path):
    downloads["models"] = tmp_path / "not_extracted"
    result = move(downloads)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --models_folder {tmp_path / 'not_extracted'} is not a folder; extract the "
        "downloaded zip archive there, or name the folder it is in"]

    env = dict(os.environ, DOWNLOADED_MODELS=str(tmp_path / "a"),
               DOWNLOADED_PREDICTIONS=str(tmp_path / "b"))
    # In a subprocess: config reads these variables when it is imported.
    result = run_script(SCRIPT, "--experiments_folder", tmp_path, env=env)
    assert result.returncode == 2 and "found neither" in result.stderr
