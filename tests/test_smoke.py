"""The smoke flow of every experiment, end to end, as the README runs it.

Train (--profile smoke: one seed, the smallest size of each model, a few epochs on a
subset; each model must beat chance clearly), evaluate, and for exp_10 and exp_11_1 compute
the JPEG predictions and their tables (for exp_10 also the common corruptions and
AutoAttack): real scripts in subprocesses on data sets in CIFAR-10's and CIFAR-10-C's
formats, with every output under a temporary --base_folder.
"""
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from experiments import grid
import run_folder as rf
from robustness import jpeg as predictions

REPO_ROOT = grid.config.REPO_ROOT


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory, cifar_folder):
    """Own copy of the data: the JPEG scripts add the compressed test set to it."""
    import os

    from datasets.cifar10 import load_cifar10
    from datasets.cifar10c import write_cifar10c

    data = tmp_path_factory.mktemp("smoke_data")
    shutil.copytree(cifar_folder, data, dirs_exist_ok=True)
    # Two corruptions of the test set, Gaussian noise growing with the severity.
    images, labels = load_cifar10("test", data)
    rng = np.random.default_rng(0)
    noisy = [np.clip(images + rng.normal(0, 20 * s, images.shape), 0, 255) for s in range(1, 6)]
    write_cifar10c(data, {"gaussian_noise": np.concatenate(noisy),
                          "brightness": np.concatenate([np.clip(images + 10 * s, 0, 255)
                                                        for s in range(1, 6)])}, labels)
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
        assert (tmp_path / rf.EXP_DATA / run / "model.pt").is_file()
        assert_learned(tmp_path / rf.EXP_DATA / run)

    run_script(f"{name}/exe_eval_{name}.py", tmp_path, env=smoke_env)
    results = pd.read_csv(tmp_path / "results.csv")
    assert sorted(results["name"]) == sorted(runs)
    assert results["last_val_er"].between(0, 100).all()
    assert (tmp_path / "grouped_results.csv").is_file()

    result = run_script(jpeg_script, tmp_path, "--run-predictions", env=smoke_env)
    for run in runs:
        array = np.load(predictions.output_file(tmp_path, run))
        # The smoke profile predicts on the first 1,000 test images; the data has 500.
        assert array.shape == (500, 11)
        assert array[:, 1:].min() >= 0 and array[:, 1:].max() < 10
    table = (tmp_path / "images" / "er_result_table.txt").read_text()
    for model in experiment.models:
        assert grid.DISPLAY_NAMES[model] in table
    report = (tmp_path / "report.md").read_text()
    assert "er_result_table" in report or "100%" in report
    assert "images/" in report  # the plots are embedded
    assert "0 failed" in result.stdout
    if experiment is grid.EXP_10:
        robustness_flow(experiment, runs, tmp_path, smoke_env)


def robustness_flow(experiment, runs, base_folder, env):
    """The common corruptions and AutoAttack of the smoke runs, then their tables."""
    run_script("exp_10/exe_exp10_corruption_tests.py", base_folder, "--run-predictions", env=env)
    table = pd.read_csv(base_folder / "corruption_results.csv")
    assert sorted(table["name"].unique()) == sorted(runs)
    assert set(table["corruption"]) == {"gaussian_noise", "brightness"}
    assert set(table["severity"]) == {1, 2, 3, 4, 5}
    # The smoke profile predicts the first 100 images of every severity.
    assert set(table["n"]) == {grid.SMOKE_ROBUSTNESS["corruption_subset"]}
    section = (base_folder / "corruption_results.md").read_text(encoding="utf-8")
    assert "smoke run of" in section.lower()
    # Two of the 15 benchmark corruptions: no mean corruption error, the others named.
    assert "No mean corruption error" in section and "jpeg_compression" in section
    assert "gaussian_noise" in (base_folder / "report.md").read_text(encoding="utf-8")

    # Fewer images than the smoke profile's 32: the flow is the same, and CI is faster.
    attack = ["--n-images", "8", "--eps", "2", "8"]
    run_script("exp_10/exe_exp10_adversarial_tests.py", base_folder, "--run-predictions",
               *attack, env=env)
    table = pd.read_csv(base_folder / "adversarial_results.csv")
    assert sorted(table["eps"].unique()) == [0, 2, 8]   # in units of 1/255
    assert set(table["n"]) == {8}
    assert set(table["attack"]) == {grid.SMOKE_ROBUSTNESS["adversarial_attacks"]}
    for _, run in table.groupby("name"):
        errors = run.sort_values("eps")["er"].tolist()
        assert errors == sorted(errors)   # a larger radius never leaves more images right
    # Launched again, every prediction file is found complete and nothing is recomputed.
    again = run_script("exp_10/exe_exp10_adversarial_tests.py", base_folder,
                       "--run-predictions", "--dry-run", *attack, env=env)
    assert again.stdout.count("predictions exist") == len(runs), again.stdout


@pytest.mark.slow
def test_smoke_flow_seed_variance(tmp_path, smoke_env):
    run_script("exp_10_1/exe_train_exp_10_1.py", tmp_path, env=smoke_env)
    run_script("exp_10_1/exe_eval_exp_10_1.py", tmp_path, env=smoke_env)
    text = (tmp_path / "results.txt").read_text()
    for label in ("Median last:", "Mean last:", "Std last:", "Min last:", "Max last:",
                  "Median min:"):
        assert label in text
    (run,) = smoke_runs(grid.EXP_10_1)
    assert_learned(tmp_path / rf.EXP_DATA / run)
    last = json.loads((tmp_path / rf.EXP_DATA / run / "log.json").read_text())["val_er"][-1]
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
    assert not (tmp_path / "exp" / rf.EXP_DATA).exists()
