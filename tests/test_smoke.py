"""The end-to-end flows, through the real scripts as subprocesses, as the README runs them.

The smoke flow of every experiment: train (--profile smoke: one seed, the smallest size of
each model, a few epochs; each model must beat chance clearly), evaluate, and for exp_10 and
exp_11_1 compute the JPEG predictions and their tables (for exp_10 also the common
corruptions, AutoAttack and CIFAR-10.1), on data sets in CIFAR-10's, CIFAR-10-C's and
CIFAR-10.1's formats, with
every output under a temporary --base_folder; exp_10's flow ends with the JPEG test's skip
and failure paths. Then the launcher's failure, skip and resume paths with the real
run_training.py, and the Slurm launcher through submitit's local executor.
"""
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets.cifar10 import load_cifar10, synthetic_cifar10, write_cifar10_batches
from experiments import grid
from helpers import assert_a_drawn_png, run_script as run_exe
import run_folder as rf
from robustness import jpeg as predictions

pytestmark = pytest.mark.slow

# The smoke flows' data: 300 training and 100 test images (the smoke profile asks for up
# to 5,000 and 1,000: it takes what there is), in batches of 32 instead of the recipes' 128
# or 64 and for 4 epochs (learning rate x0.1 after epochs 2 and 3) instead of the profile's
# 8, passed on to every run after `--`: 10 steps an epoch learn the synthetic classes
# (measured on this data: ResNet N=3 4 % after the 4 epochs, Min-Net 11 % and DenseNet L=22 0 %
# after 3; with the profile's batches of 128, 3 steps an epoch, the ResNet ended at 55 %
# after 8 epochs).
N_TRAIN, N_TEST = 300, 100
SMALL_BATCHES = ["--", "--bs", "32", "--epochs", "4", "--fixed_steps", "2", "3"]
# exp_10_1's CifarResNet N=9 (56 layers, the He et al. initialisation) diverges in batches of
# 32 at the recipe's learning rate, and stays near chance in batches of 128; in batches of
# 64 (5 steps an epoch) it ended at 9 % after the profile's 8 epochs (88 % after 4).
DEEP_BATCHES = ["--", "--bs", "64"]
# Two runs at a time on the CPU (each takes one thread: conftest.py), as a second GPU would.
TWO_AT_A_TIME = ["--jobs-per-gpu", "2"]


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory):
    """Own data: the JPEG scripts add the compressed test set to it."""
    from datasets.cifar101 import write_cifar101
    from datasets.cifar10c import write_cifar10c

    data = tmp_path_factory.mktemp("smoke_data")
    write_cifar10_batches(data, *synthetic_cifar10(n_train=N_TRAIN, n_test=N_TEST, seed=7))
    # Two corruptions of the test set, Gaussian noise growing with the severity.
    images, labels = load_cifar10("test", data)
    rng = np.random.default_rng(0)
    noisy = [np.clip(images + rng.normal(0, 20 * s, images.shape), 0, 255) for s in range(1, 6)]
    write_cifar10c(data, {"gaussian_noise": np.concatenate(noisy),
                          "brightness": np.concatenate([np.clip(images + 10 * s, 0, 255)
                                                        for s in range(1, 6)])}, labels)
    # A "new test set" of the same classes, drawn afresh, ordered by class as the official.
    _, _, new_images, new_labels = synthetic_cifar10(n_train=0, n_test=60, seed=8)
    order = np.argsort(new_labels, kind="stable")
    write_cifar101(data, new_images[order], new_labels[order])
    env = dict(os.environ, DATA_FOLDER=str(data), MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)  # the scripts must find the repository by themselves
    return env


def run_script(script, base_folder, *options, env):
    return run_exe(f"experiments/{script}", "--profile", "smoke", "--base_folder", base_folder,
                   *options, env=env, check_rc=0, timeout=900)


def assert_learned(run_folder, epochs):
    """The run trained the `epochs` it was asked for, enough to learn: far better than
    chance (90 % error) on the generated data, whose classes differ in colour and stripes."""
    log = json.loads((run_folder / "log.json").read_text(encoding="utf-8"))
    assert len(log["val_er"]) == epochs
    assert log["val_er"][-1] < 50, f"{run_folder.name} did not learn: {log['val_er']}"
    return log


def smoke_runs(experiment):
    return [experiment.run_name(m, experiment.sizes[0], experiment.seeds[0])
            for m in experiment.models]


@pytest.mark.parametrize("experiment, jpeg_script", [
    (grid.EXP_10, "exp_10/exe_exp10_jpeg_tests.py"),
    (grid.EXP_11_1, "exp_11_1/exe_exp_11_1_jpeg_tests.py"),
])
def test_smoke_flow_train_evaluate_jpeg(experiment, jpeg_script, tmp_path, smoke_env):
    name = experiment.name
    run_script(f"{name}/exe_train_{name}.py", tmp_path, *TWO_AT_A_TIME, *SMALL_BATCHES,
               env=smoke_env)
    runs = smoke_runs(experiment)
    last = {}
    for run in runs:
        assert (tmp_path / rf.EXP_DATA / run / "model.pt").is_file()
        last[run] = assert_learned(tmp_path / rf.EXP_DATA / run, 4)["val_er"][-1]

    run_script(f"{name}/exe_eval_{name}.py", tmp_path, env=smoke_env)
    results = pd.read_csv(tmp_path / "results.csv")
    assert sorted(results["name"]) == sorted(runs)
    assert results["last_val_er"].between(0, 100).all()
    assert (tmp_path / "grouped_results.csv").is_file()

    result = run_script(jpeg_script, tmp_path, "--run-predictions", *TWO_AT_A_TIME,
                        env=smoke_env)
    assert "2 predictions: 2 done, 0 resumed, 0 skipped, 0 failed" in result.stdout
    table = (tmp_path / "images" / "er_result_table.txt").read_text()
    report = (tmp_path / "report.md").read_text()
    assert "## Robustness to JPEG compression" in report
    assert "([LaTeX](images/er_result_table.txt))" in report
    size = experiment.sizes[0]
    for model, run in zip(experiment.models, runs):
        array = np.load(predictions.output_file(tmp_path, run))
        # The smoke profile predicts on the first 1,000 test images; the data has N_TEST.
        assert array.shape == (N_TEST, 11)
        assert array[:, 1:].min() >= 0 and array[:, 1:].max() < 10
        # The table's row of the run: its last test error (100 %), then its error at each
        # JPEG quality 90 ... 10 as its predictions give it (column 1 is the original).
        errors = [100.0 * np.mean(array[:, 2 + q] != array[:, 0]) for q in range(9)]
        # DenseNet tables have the growth rate k after the depth L.
        k = re.findall(r"growth_rate: (\d+);", experiment.model_kw(size))
        cells = [experiment.display_name(model), str(size), *k, f"{last[run]:.1f}",
                 *(f"{e:.1f}" for e in errors)]
        assert "| " + " | ".join(cells) + " | 1 |" in report, report   # one seed
        assert " & ".join(cells) + r" \\" in table, table
    for png in (f"jpeg_{experiment.size_label}{size}.png", "jpeg_pocp_vs_error.png"):
        assert f"(images/{png})" in report                # the plots are embedded
        assert_a_drawn_png(tmp_path / "images" / png)
    if experiment is grid.EXP_10:
        robustness_flow(experiment, runs, tmp_path, smoke_env)
        jpeg_skip_and_failure(jpeg_script, runs, tmp_path, smoke_env)


def jpeg_skip_and_failure(jpeg_script, runs, base_folder, env):
    """The JPEG test launched again skips the existing files and builds no test set; then
    its failure path (below)."""
    result = run_script(jpeg_script, base_folder, "--run-predictions", env=env)
    assert "2 predictions: 0 done, 0 resumed, 2 skipped, 0 failed" in result.stdout
    # The JPEG test set was created once, in the data folder, by the first launch.
    assert (Path(env["DATA_FOLDER"]) / "test_cifar10_jpeg_noise_image_stacks.npy").is_file()
    assert "creating the JPEG test set" not in result.stdout
    assert np.load(predictions.output_file(base_folder, runs[0])).dtype == np.int64

    # Both files removed, one run's model.pt damaged, and the subset set after `--` (the
    # profile's --subset 1000 comes first: argparse keeps the last): the other run's file
    # is computed on 50 images, the damaged run's job fails and is named, the evaluation
    # still runs, and the exit status says that something failed.
    for run in runs:
        predictions.output_file(base_folder, run).unlink()
    (base_folder / rf.EXP_DATA / runs[0] / rf.MODEL_FILE).write_bytes(b"not a checkpoint")
    (base_folder / "report.md").unlink()
    result = run_exe(f"experiments/{jpeg_script}", "--profile", "smoke", "--base_folder",
                     base_folder, "--run-predictions", "--", "--subset", "50", env=env,
                     check_rc=1, timeout=900)
    assert "2 predictions: 1 done, 0 resumed, 0 skipped, 1 failed" in result.stdout
    assert f"failed: {runs[0]}: exit 2: error: " in result.stdout
    assert (base_folder / "report.md").is_file()
    assert not predictions.output_file(base_folder, runs[0]).exists()
    assert np.load(predictions.output_file(base_folder, runs[1])).shape == (50, 11)


def robustness_flow(experiment, runs, base_folder, env):
    """The common corruptions, AutoAttack and CIFAR-10.1 of the smoke runs, then their
    tables."""
    run_script("exp_10/exe_exp10_corruption_tests.py", base_folder, "--run-predictions",
               *TWO_AT_A_TIME, env=env)
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
    # The files keep each image's confidence: the calibration tables are there.
    assert "ECE (%, 15 bins) per severity" in section and "not recorded" not in section
    assert table["ece"].between(0, 100).all()
    cifar101_flow(runs, base_folder, env)

    # Fewer images than the smoke profile's 32: the flow is the same, and CI is faster.
    attack = ["--n-images", "8", "--eps", "2", "8"]
    run_script("exp_10/exe_exp10_adversarial_tests.py", base_folder, "--run-predictions",
               *TWO_AT_A_TIME, *attack, env=env)
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


def cifar101_flow(runs, base_folder, env):
    """CIFAR-10.1 beside the CIFAR-10 test set: the CIFAR-10 error of the file is the
    run's own last test error (the same weights on the same images), and the models that
    learned the classes recognise them in the new images too."""
    result = run_script("exp_10/exe_exp10_cifar101_tests.py", base_folder, "--run-predictions",
                        *TWO_AT_A_TIME, env=env)
    assert "2 predictions: 2 done, 0 resumed, 0 skipped, 0 failed" in result.stdout
    table = pd.read_csv(base_folder / "cifar101_results.csv").set_index("name")
    for run in runs:
        log = json.loads((base_folder / rf.EXP_DATA / run / "log.json").read_text())
        assert table.loc[run, ["cifar10_n", "cifar101_n"]].tolist() == [N_TEST, 60]
        assert table.loc[run, "cifar10_er"] == pytest.approx(log["val_er"][-1], abs=1e-3)
        assert table.loc[run, "cifar101_er"] < 50
    assert table[["cifar10_ece", "cifar101_ece"]].stack().between(0, 100).all()
    report = (base_folder / "report.md").read_text(encoding="utf-8")
    assert "## A new test set (CIFAR-10.1)" in report
    assert_a_drawn_png(base_folder / "images" / "cifar101_reliability_CifarMinFP-LS.png")


def test_smoke_flow_seed_variance(tmp_path, smoke_env):
    run_script("exp_10_1/exe_train_exp_10_1.py", tmp_path, *DEEP_BATCHES, env=smoke_env)
    run_script("exp_10_1/exe_eval_exp_10_1.py", tmp_path, env=smoke_env)
    text = (tmp_path / "results.txt").read_text()
    for label in ("Median last:", "Mean last:", "Std last:", "Min last:", "Max last:",
                  "Median min:"):
        assert label in text
    (run,) = smoke_runs(grid.EXP_10_1)
    assert_learned(tmp_path / rf.EXP_DATA / run, grid.SMOKE["epochs"])
    last = json.loads((tmp_path / rf.EXP_DATA / run / "log.json").read_text())["val_er"][-1]
    assert f"Median last: {last:.3f}" in text
    assert_a_drawn_png(tmp_path / "images" / "error_curves.png")



# ------------------------------------------- the launcher with the real run_training.py

# A few images and one epoch per run: the launcher is under test, not the training.
TINY = ["--", "--train_subset", "256", "--test_subset", "100", "--epochs", "1", "--fixed_steps"]


def test_training_grid_end_to_end_failure_skip_resume(tmp_path, own_data):
    """exp_10's smoke grid (2 runs) with the real run_training.py: one run cannot write its
    folder and fails, the other finishes; a relaunch skips the finished one and runs the
    fixed one; a run without model.pt is resumed."""
    base = tmp_path / "B"
    blocked = base / "exp_data" / "CifarPyrResNet_s9_N3"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run folder should be")
    script = "experiments/exp_10/exe_train_exp_10.py"

    result = run_exe(script, "--profile", "smoke", "--base_folder", base, *TINY, env=own_data,
                 check_rc=1)
    assert "2 runs: 1 done, 0 resumed, 0 skipped, 1 failed" in result.stdout
    log = base / "logs" / "CifarPyrResNet_s9_N3.log"
    assert "failed: CifarPyrResNet_s9_N3: exit 2: error: " in result.stdout
    assert f"(log: {log})" in result.stdout
    assert "run_training.py --model_type CifarPyrResNet" in log.read_text()
    done = base / "exp_data" / "CifarMinFP-LS_s9_N3"
    assert rf.run_state(done) == rf.FINISHED
    opt = json.loads((done / rf.OPT_FILE).read_text())
    assert (opt["epochs"], opt["fixed_steps"], opt["train_subset"], opt["seed"]) == (1, [], 256, 9)
    assert opt["model_kw"] == "q: 2;k: 3;N: 3;" and opt["device"] == "cpu"

    blocked.unlink()
    result = run_exe(script, "--profile", "smoke", "--base_folder", base, *TINY, env=own_data,
                 check_rc=0)
    assert "2 runs: 1 done, 0 resumed, 1 skipped, 0 failed" in result.stdout

    (done / rf.MODEL_FILE).unlink()   # as if killed after its last epoch's checkpoint
    result = run_exe(script, "--profile", "smoke", "--base_folder", base, *TINY, env=own_data,
                 check_rc=0)
    assert "2 runs: 0 done, 1 resumed, 1 skipped, 0 failed" in result.stdout
    assert "resuming at epoch 1" in (base / "logs" / "CifarMinFP-LS_s9_N3.log").read_text()
    assert rf.run_state(done) == rf.FINISHED


def test_slurm_launcher_end_to_end_through_submitit_local(tmp_path, own_data):
    result = run_exe("experiments/exp_10/exe_train_exp_10.py", "--profile", "smoke",
                 "--models", "CifarPyrResNet", "--base_folder", tmp_path, "--launcher", "slurm",
                 "--submitit-cluster", "local", "--gpus-per-job", "0", "--time", "10", *TINY,
                 env=own_data, check_rc=0)
    assert "submitted CifarPyrResNet_s9_N3 as job" in result.stdout
    assert "1 run: 1 done, 0 resumed, 0 skipped, 0 failed" in result.stdout
    assert rf.run_state(tmp_path / "exp_data" / "CifarPyrResNet_s9_N3") == rf.FINISHED
    assert list((tmp_path / "logs" / "submitit").iterdir())   # submitit's own files
