"""The smoke flow of every experiment, end to end, as the README runs it.

Train (--profile smoke: one seed, the smallest size of each model, a few epochs on a
subset; each model must beat chance clearly), evaluate, and for exp_10 and exp_11_1 compute the JPEG predictions and their
tables: real scripts in subprocesses on a data set in CIFAR-10's format, with every output
under a temporary --base_folder.
"""
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from experiments import grid, predictions

REPO_ROOT = grid.config.REPO_ROOT


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory, cifar_folder):
    """Own copy of the data: the JPEG scripts add the compressed test set to it."""
    import os

    data = tmp_path_factory.mktemp("smoke_data")
    shutil.copytree(cifar_folder, data, dirs_exist_ok=True)
    env = dict(os.environ, DATA_FOLDER=str(data), MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)  # the scripts must find the repository by themselves
    return env


def run_script(script, base_folder, *options, env):
    cmd = [sys.executable, f"experiments/{script}", "--profile", "smoke",
           "--base_folder", str(base_folder), *options]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def assert_learned(run_folder):
    """The smoke profile trains enough to learn: far better than chance (90 % error) on
    the generated data, whose classes differ in colour and stripes."""
    log = json.loads((run_folder / "log.json").read_text(encoding="utf-8"))
    assert len(log["val_er"]) == grid.SMOKE["epochs"]
    assert log["val_er"][-1] < 50, f"{run_folder.name} did not learn: {log['val_er']}"


def smoke_runs(experiment):
    return [experiment.run_name(m, experiment.sizes[0], experiment.seeds[0])
            for m in experiment.models]


@pytest.mark.slow
@pytest.mark.parametrize("experiment, jpeg_script", [
    (grid.EXP_10, "exp_10/exe_exp10_jpeg_tests.py"),
    (grid.EXP_11_1, "exp_11_1/exe_exp_11_1_jpeg_tests.py"),
])
def test_smoke_flow_train_evaluate_jpeg(experiment, jpeg_script, tmp_path, smoke_env):
    name = experiment.name
    run_script(f"{name}/exe_train_{name}.py", tmp_path, env=smoke_env)
    runs = smoke_runs(experiment)
    for run in runs:
        assert (tmp_path / grid.EXP_DATA / run / "model.pt").is_file()
        assert_learned(tmp_path / grid.EXP_DATA / run)

    run_script(f"{name}/exe_eval_{name}.py", tmp_path, env=smoke_env)
    results = pd.read_csv(tmp_path / "results.csv")
    assert sorted(results["name"]) == sorted(runs)
    assert results["last_val_er"].between(0, 100).all()
    assert (tmp_path / "grouped_results.csv").is_file()

    result = run_script(jpeg_script, tmp_path, "--run-predictions", env=smoke_env)
    for run in runs:
        predictions = np.load(predictions.predictions_file(tmp_path, run))
        # The smoke profile predicts on the first 1,000 test images; the data has 500.
        assert predictions.shape == (500, 11)
        assert predictions[:, 1:].min() >= 0 and predictions[:, 1:].max() < 10
    table = (tmp_path / "images" / "er_result_table.txt").read_text()
    for model in experiment.models:
        assert grid.DISPLAY_NAMES[model] in table
    report = (tmp_path / "report.md").read_text()
    assert "er_result_table" in report or "100%" in report
    assert "images/" in report  # the plots are embedded
    assert "0 failed" in result.stdout


@pytest.mark.slow
def test_smoke_flow_seed_variance(tmp_path, smoke_env):
    run_script("exp_10_1/exe_train_exp_10_1.py", tmp_path, env=smoke_env)
    run_script("exp_10_1/exe_eval_exp_10_1.py", tmp_path, env=smoke_env)
    text = (tmp_path / "results.txt").read_text()
    for label in ("Median last:", "Mean last:", "Std last:", "Min last:", "Max last:",
                  "Median min:"):
        assert label in text
    (run,) = smoke_runs(grid.EXP_10_1)
    assert_learned(tmp_path / grid.EXP_DATA / run)
    last = json.loads((tmp_path / grid.EXP_DATA / run / "log.json").read_text())["val_er"][-1]
    assert f"Median last: {last:.3f}" in text
    assert (tmp_path / "images" / "error_curves.png").stat().st_size > 1000


def test_smoke_profile_never_touches_a_reproduction():
    for experiment in grid.EXPERIMENTS.values():
        smoke = experiment.base_folder("smoke")
        assert smoke.parent == experiment.base_folder("paper") and smoke.name == "smoke"


def test_training_grid_without_data_offline_stops_before_launching(tmp_path, smoke_env):
    """CIFAR-10 is fetched once by the launcher (where the network is), not by every run:
    offline and without the data, one line, exit 2, and no run is started."""
    env = dict(smoke_env, DATA_FOLDER=str(tmp_path / "no_data"))
    # Offline whatever the machine's network: urllib (torchvision's download) sends the
    # download to this proxy, where nothing listens.
    for key in ("no_proxy", "NO_PROXY"):
        env.pop(key, None)
    env.update({key: "http://127.0.0.1:9"
                for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")})
    cmd = [sys.executable, "experiments/exp_10/exe_train_exp_10.py", "--profile", "smoke",
           "--base_folder", str(tmp_path / "exp")]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cifar-10-batches-py" in result.stderr
    assert "Connection refused" in result.stderr  # the download failed at the proxy
    assert not (tmp_path / "exp" / grid.EXP_DATA).exists()
