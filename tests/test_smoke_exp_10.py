"""exp_10's smoke flow through the real scripts as subprocesses, as the README runs it:
train (--profile smoke: one seed, the smallest size of each model, a few epochs; each
model must beat chance clearly), evaluate, the JPEG test, the common corruptions,
CIFAR-10.1 and AutoAttack, then the JPEG test's skip and failure paths."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import grid
from helpers import assert_a_drawn_png, run_script as run_exe
import run_folder as rf
from robustness import jpeg as predictions
from smoke_flows import CPU, N_TEST, TWO_AT_A_TIME, run_script, train_evaluate_jpeg

pytestmark = pytest.mark.slow


def test_smoke_flow_of_exp_10(tmp_path, smoke_env):
    jpeg_script = "exp_10/exe_exp10_jpeg_tests.py"
    runs = train_evaluate_jpeg(grid.EXP_10, jpeg_script, tmp_path, smoke_env)
    robustness_flow(grid.EXP_10, runs, tmp_path, smoke_env)
    jpeg_skip_and_failure(jpeg_script, runs, tmp_path, smoke_env)


def jpeg_skip_and_failure(jpeg_script, runs, base_folder, env):
    """The JPEG test launched again skips the existing files and builds no test set; then
    its failure path (below)."""
    result = run_script(jpeg_script, base_folder, "--run-predictions", *CPU, env=env)
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
                     base_folder, "--run-predictions", *CPU, "--", "--subset", "50", env=env,
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

    # Fewer images than the smoke profile's 32: the flow is the same, and CI is faster
    # (an image that stays robust costs all of APGD's 100 steps: 8 images took 5 times
    # as long as 4 here).
    attack = ["--n-images", "4", "--eps", "2", "8"]
    run_script("exp_10/exe_exp10_adversarial_tests.py", base_folder, "--run-predictions",
               *TWO_AT_A_TIME, *attack, env=env)
    table = pd.read_csv(base_folder / "adversarial_results.csv")
    assert sorted(table["eps"].unique()) == [0, 2, 8]   # in units of 1/255
    assert set(table["n"]) == {4}
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
    section = (base_folder / "cifar101_results.md").read_text(encoding="utf-8")
    assert f"2 runs: the same weights on 60 CIFAR-10.1 images and {N_TEST} CIFAR-10" in section
    assert section.strip() in report
    assert_a_drawn_png(base_folder / "images" / "cifar101_reliability_CifarMinFP-LS.png")
    # Launched again, it finds both files complete and would compute nothing.
    again = run_script("exp_10/exe_exp10_cifar101_tests.py", base_folder, "--run-predictions",
                       "--dry-run", env=env)
    assert "would start 0, resume 0, skip 2" in again.stdout, again.stdout
    assert again.stdout.count("predictions exist") == 2, again.stdout
