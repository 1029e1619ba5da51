"""exp_12 (exp_10's grid on CIFAR-100) and CIFAR-100 runs: training with --dataset
cifar_100, the per-run scripts (CIFAR-100-C, AutoAttack on CIFAR-100's test images), the
launchers' options and the evaluations; a run is never tested or tabled on the other data
set. Generated data in the official formats, the real entry points, in this process."""
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

import config
import run_folder as rf
from datasets import catalog, cifar10c
from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches
from datasets.cifar100 import synthetic_cifar100, write_cifar100
from errors import UserError, run_main
from experiments import grid
from experiments import robustness_suite as suite
from experiments.evaluating.corruptions import evaluate_corruptions
from experiments.evaluating.test_error import evaluate_experiment
from experiments.launching import runs
from helpers import run_in_process, train_in_process, write_run
from robustness import corruptions
from robustness_runs import TINY, attack, corrupt, one_error_line, trained_run
from smoke_flows import CPU_TWO_AT_A_TIME

N_TEST = 30
TINY_100 = dict(TINY, dataset="cifar_100", out_dim=100)


@pytest.fixture
def data_100(tmp_path, monkeypatch):
    """A DATA_FOLDER with CIFAR-100 (N_TEST test images), CIFAR-100-C (one corruption of
    them) and CIFAR-10 with as many test images."""
    folder = tmp_path / "data"
    train_x, train_y, test_x, test_y = synthetic_cifar100(n_train=200, n_test=N_TEST, seed=5)
    write_cifar100(folder, train_x, train_y, test_x, test_y)
    noisy = np.random.default_rng(0).normal(0, 20, (5,) + test_x.shape)
    cifar10c.write_cifar10c(folder, {"fog": np.clip(test_x + noisy, 0, 255).reshape(
        -1, 32, 32, 3)}, test_y, dataset="cifar_100")
    write_cifar10_batches(folder, *synthetic_cifar10(n_train=50, n_test=N_TEST, seed=5))
    monkeypatch.setattr(config, "DATA_FOLDER", folder)
    monkeypatch.setenv("DATA_FOLDER", str(folder))
    return folder


def run_100(folder, seed=0):
    """A finished CIFAR-100 run folder (a tiny network with 100 outputs, untrained)."""
    trained_run(folder, seed)
    (folder / rf.OPT_FILE).write_text(json.dumps(TINY_100), encoding="utf-8")
    torch.manual_seed(seed)
    from models import build_model_from_opt

    torch.save(build_model_from_opt(TINY_100).state_dict(), folder / rf.MODEL_FILE)
    return folder


def test_training_on_cifar_100_has_100_outputs_and_its_test_set(data_100, tmp_path, capsys):
    folder = tmp_path / "run"
    options = ["--model_type", "CifarResNet", "--model_kw", "q: 2;k: 3;N: 1;", "--dataset",
               "cifar_100", "--epochs", "1", "--bs", "50", "--device", "cpu"]
    train_in_process(folder, options, data_100)
    opt = rf.read_opt(folder)
    assert (opt["dataset"], opt["out_dim"]) == ("cifar_100", 100)
    weights = torch.load(folder / rf.MODEL_FILE, weights_only=True)
    assert [v.shape[0] for k, v in weights.items() if k.endswith("weight")][-1] == 100
    log = rf.read_log(folder)
    assert log["val_num_samples"] == [N_TEST] and log["num_samples"] == [200]
    # Fewer outputs than CIFAR-100's classes: one line, before anything is written.
    code = run_main(__import__("run_training").main,
                    [*options, "--out_dim", "10", "--folder", str(tmp_path / "other")])
    assert code == 2 and "cifar_100 has 3 input channels and 100 classes: use --in_dim 3 " \
                         "and --out_dim 100 or more" in one_error_line(capsys)
    assert not (tmp_path / "other").exists()


def test_exp_12_is_exp_10s_grid_and_recipe_on_cifar_100(tmp_path):
    assert (grid.EXP_12.models, grid.EXP_12.sizes, grid.EXP_12.seeds, grid.EXP_12.recipe) \
        == (grid.EXP_10.models, grid.EXP_10.sizes, grid.EXP_10.seeds, grid.RESNET_RECIPE)
    assert "exp_12" not in grid.PAPER_EXPERIMENTS   # the authors published no run of it
    run = runs.select_runs(grid.EXP_12, "smoke", base_folder=tmp_path)[0]
    argv = list(run.argv)
    assert argv[argv.index("--dataset") + 1] == "cifar_100"
    assert run.argv[:2] == runs.select_runs(grid.EXP_10, "smoke")[0].argv[:2]
    for test in suite.TESTS:
        # CIFAR-10.1 is a test set of CIFAR-10's classes: not for exp_12.
        exp_12 = {"exp_12"} if test is not suite.CIFAR101 else set()
        assert set(test.exe_scripts) == {"exp_10", "exp_11_1"} | exp_12, test.name
    # The per-run jobs say which data their runs must have been trained on.
    kind = suite.corruption(100, None, dataset="cifar_100")
    assert kind.options(run, tmp_path)[4:] == ["--dataset", "cifar_100", "--subset", "100"]


def test_corruption_test_of_a_cifar_100_run_reads_cifar_100_c(data_100, tmp_path, capsys):
    base = tmp_path / "exp"
    run = run_100(base / rf.EXP_DATA / "CifarResNet_s1_N1")
    assert corrupt(run, base) == 0
    found = corruptions.read_predictions(corruptions.output_file(base, run.name), 100)
    images = np.load(data_100 / "CIFAR-100-C" / "fog.npy")
    from robustness.per_run_script import trained_model

    expected = corruptions.predict_images(trained_model(run, "cpu"), images, "cpu", 64,
                                          catalog.CIFAR_100)
    assert np.array_equal(found["predictions"]["fog"], expected)   # CIFAR-100's normalisation
    assert np.array_equal(found["labels"], np.load(data_100 / "CIFAR-100-C" / "labels.npy"))
    assert expected.max() >= 10   # 100 outputs, not 10
    assert found["record"]["data_source"] == ("CIFAR-100-C placed by hand (not verified: "
                                              "CIFAR-100-C publishes no per-file checksums)")
    with pytest.raises(UserError, match="classes 0-9"):
        corruptions.read_predictions(corruptions.output_file(base, run.name))
    # Told that the run must be a CIFAR-10 one (exp_10's launcher would), it is refused.
    capsys.readouterr()
    assert corrupt(run, tmp_path / "elsewhere", "--dataset", "cifar_10") == 2
    assert f"{run} was trained on CIFAR-100 (its opt.json says cifar_100), not on " \
           "CIFAR-10" in one_error_line(capsys)
    assert not (tmp_path / "elsewhere").exists()
    # Without CIFAR-100's test file, CIFAR-100-C's labels cannot be checked: it says so.
    (data_100 / "cifar-100-python" / "test").unlink()
    assert corrupt(run, tmp_path / "unchecked") == 0
    assert "warning: CIFAR-100's test set is not in " in capsys.readouterr().err


class MeanProbe(torch.nn.Module):
    """Answers the class 100 x (the mean of the normalised red channel), modulo 100: any
    change of the normalisation shows in its predictions."""

    def forward(self, x):
        index = (100 * x[:, 0].mean(dim=(1, 2))).round().long() % 100
        return torch.nn.functional.one_hot(index, 100).float()


def test_predictions_are_normalised_with_the_models_data_set():
    _, _, images, _ = synthetic_cifar100(0, 20, seed=1)
    probe, cifar_100 = MeanProbe(), catalog.CIFAR_100
    own = corruptions.predict_images(probe, images, "cpu", 8, cifar_100)
    red = (images[..., 0] / 255.0 - cifar_100.mean[0]) / cifar_100.std[0]
    assert np.array_equal(own, np.round(100 * red.mean(axis=(1, 2))).astype(int) % 100)
    assert not np.array_equal(own, corruptions.predict_images(probe, images, "cpu", 8))


def test_jpeg_test_and_autoattack_of_a_cifar_100_run_use_its_test_set(data_100, tmp_path):
    base = tmp_path / "exp"
    run = run_100(base / rf.EXP_DATA / "CifarResNet_s1_N1")
    run_in_process("run_jpeg_robustness_test.py", "--model_folder", run, "--device", "cpu",
                   check_rc=0)
    # CIFAR-100's stacks, in files of their own; CIFAR-10's (the paper's) are not made.
    from datasets import jpeg
    from robustness import jpeg as jpeg_predictions

    assert [p.name for p in jpeg.stack_paths(data_100, "paper", "cifar_100")] == [
        "test_cifar100_jpeg_noise_image_stacks.npy", "test_cifar100_jpeg_noise_labels.npy"]
    assert all(p.is_file() for p in jpeg.stack_paths(data_100, "paper", "cifar_100"))
    assert not any(p.exists() for p in jpeg.stack_paths(data_100, "paper"))
    array = jpeg_predictions.load_predictions(jpeg_predictions.output_file(base, run.name), 100)
    assert np.array_equal(array[:, 0], catalog.CIFAR_100.load("test")[1])
    stacks, labels = jpeg.load_jpeg_test_set(data_100, dataset="cifar_100")
    from robustness.per_run_script import trained_model

    assert np.array_equal(array, jpeg_predictions.predict(
        trained_model(run, "cpu"), stacks, labels, 16, "cpu", True, catalog.CIFAR_100))
    refused = run_in_process("run_jpeg_robustness_test.py", "--model_folder", run,
                             "--device", "cpu", "--dataset", "cifar_10", "--base_folder",
                             tmp_path / "elsewhere")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "was trained on CIFAR-100" in refused.stderr
    assert not (tmp_path / "elsewhere").exists()
    # CIFAR-10.1 is a test set of CIFAR-10's classes: a CIFAR-100 run is refused in one line.
    from datasets.cifar101 import write_cifar101

    write_cifar101(data_100, *synthetic_cifar10(0, 20, seed=1)[2:])
    refused = run_in_process("run_cifar101_test.py", "--model_folder", run, "--device", "cpu")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "the CIFAR-10.1 test exists for CIFAR-10 runs only" in refused.stderr

    # A network that always answers the class of CIFAR-100's first test image (its last
    # layer: weights 0, one bias): its clean error tells which test set was attacked.
    first = int(catalog.CIFAR_100.load("test")[1][0])
    weights = torch.load(run / rf.MODEL_FILE, weights_only=True)
    last = [k for k in weights if k.endswith(".weight")][-1]
    weights[last].zero_()
    weights[last.replace("weight", "bias")][:] = torch.eye(100)[first]
    torch.save(weights, run / rf.MODEL_FILE)
    assert attack(run, base, "--n-images", "6", "--eps", "8") == 0
    (path,) = (base / "adversarial_predictions").rglob("*.json")
    from robustness.adversarial import read_results

    labels = catalog.CIFAR_100.load("test")[1][:6]
    clean = [r["er"] for r in read_results(path)["rows"] if r["eps_255"] == 0]
    assert clean == [pytest.approx(100.0 * np.mean(labels != first))] and clean[0] < 100


def test_evaluations_refuse_runs_of_the_other_data_set(tmp_path, capsys):
    name = grid.EXP_12.run_name("CifarMinFP-LS", 3, 9)    # exp_10 has the same name
    official = dict(dataset="cifar_100", official=True, text="CIFAR-100 (official files)")
    write_run(tmp_path / rf.EXP_DATA / name, dataset="cifar_100", data=official)
    with pytest.raises(UserError) as error:
        evaluate_experiment(grid.EXP_10, tmp_path, profile="smoke")
    assert str(error.value) == (
        f"{tmp_path / rf.EXP_DATA / name} was trained on CIFAR-100 (its opt.json says "
        "cifar_100), not on CIFAR-10: it is not evaluated on CIFAR-10 data; evaluate it "
        "with the exe scripts of exp_12")
    assert not (tmp_path / "results.csv").exists()
    # exp_12's own evaluation tables it, headed by its data set.
    assert evaluate_experiment(grid.EXP_12, tmp_path, profile="smoke") == 0
    assert pd.read_csv(tmp_path / "results.csv")["name"].tolist() == [name]
    assert (tmp_path / "results.md").read_text().startswith("## Test error on CIFAR-100\n")
    # The reverse: a CIFAR-10 run's corruption file in exp_12's folder is refused too.
    other = tmp_path / "other"
    folder = write_run(other / rf.EXP_DATA / name, dataset="cifar_10")
    labels = np.zeros(10, dtype=np.uint8)
    corruptions.write_predictions(corruptions.output_file(other, name), 2, labels,
                                  {"fog": labels})
    with pytest.raises(UserError, match=f"{folder} was trained on CIFAR-10 .* evaluate it "
                                        "with the exe scripts of exp_10$"):
        evaluate_corruptions(grid.EXP_12, other, profile="smoke")
    assert evaluate_corruptions(grid.EXP_10, other, profile="smoke") == 0
    assert "## Robustness to common corruptions (CIFAR-10-C)" in \
        (other / "corruption_results.md").read_text()


# ------------------------------------------------- the smoke flow, through the scripts

# 1,000 training images (10 per class) and 200 test images of the 100-class stand-in, in
# batches of 32 for 3 epochs (the learning rate x0.1 after epoch 2), passed on to every run
# after `--`: 96 steps (measured: ResNet N=3 26.0 % test error after them and Min-Net 39.0 %,
# 67 % and 65.5 % after 2 epochs; chance is 99 %). 2,000 images for 4 epochs (4.0 % and
# 2.0 %) took twice as long.
SMOKE_TRAIN, SMOKE_TEST, SMOKE_EPOCHS = 1000, 200, 3
SMALL_BATCHES = ["--", "--bs", "32", "--epochs", str(SMOKE_EPOCHS), "--fixed_steps", "2"]


def smoke_script(script, base_folder, *options, env, rc=0):
    from helpers import run_script

    return run_script(f"experiments/{script}", "--profile", "smoke", "--base_folder",
                      base_folder, *options, env=env, check_rc=rc, timeout=900)


@pytest.mark.slow
def test_smoke_flow_of_exp_12_learns_and_tests_on_cifar_100(tmp_path):

    data = tmp_path / "data"
    train_x, train_y, test_x, test_y = synthetic_cifar100(SMOKE_TRAIN, SMOKE_TEST, seed=7)
    write_cifar100(data, train_x, train_y, test_x, test_y)
    noisy = [np.clip(test_x + np.random.default_rng(s).normal(0, 20 * s, test_x.shape), 0, 255)
             for s in range(1, 6)]
    cifar10c.write_cifar10c(data, {"gaussian_noise": np.concatenate(noisy), "brightness":
                                   np.concatenate([np.clip(test_x + 10 * s, 0, 255)
                                                   for s in range(1, 6)])},
                            test_y, dataset="cifar_100")
    env = dict(os.environ, DATA_FOLDER=str(data), MPLBACKEND="Agg")
    base = tmp_path / "exp_12"
    smoke_script("exp_12/exe_train_exp_12.py", base, *CPU_TWO_AT_A_TIME, *SMALL_BATCHES,
                 env=env)
    names = [grid.EXP_12.run_name(m, 3, 9) for m in grid.EXP_12.models]
    for name in names:
        log = rf.read_log(base / rf.EXP_DATA / name)
        assert log["val_num_samples"] == [SMOKE_TEST] * SMOKE_EPOCHS
        assert log["val_er"][-1] < 50, f"{name} did not learn: {log['val_er']}"   # chance: 99 %
        assert rf.read_opt(base / rf.EXP_DATA / name)["dataset"] == "cifar_100"

    smoke_script("exp_12/exe_eval_exp_12.py", base, env=env)
    results = pd.read_csv(base / "results.csv")
    assert sorted(results["name"]) == sorted(names)
    assert results.set_index("name")["num_params"].to_dict() == {   # python -m models's
        names[0]: 222_932, names[1]: 276_148}
    report = (base / "report.md").read_text(encoding="utf-8")
    # Generated data: not headed "on CIFAR-100" (the official files), and named as such.
    assert "## Test error\n" in report and "Trained and tested on: a CIFAR-format data set " \
        "that is not the official CIFAR-100 (train and 2 more differ)." in report

    smoke_script("exp_12/exe_exp_12_corruption_tests.py", base, "--run-predictions",
                 *CPU_TWO_AT_A_TIME, env=env)
    table = pd.read_csv(base / "corruption_results.csv")
    assert sorted(table["name"].unique()) == sorted(names)
    assert set(table["corruption"]) == {"gaussian_noise", "brightness"}
    assert set(table["n"]) == {grid.SMOKE_ROBUSTNESS["corruption_subset"]}
    for name in names:
        found = corruptions.read_predictions(corruptions.output_file(base, name), 100)
        assert np.array_equal(found["labels"][:100], test_y[:100])   # CIFAR-100-C's
        assert found["predictions"]["brightness"].max() >= 10
    report = (base / "report.md").read_text(encoding="utf-8")
    assert "## Robustness to common corruptions (CIFAR-100-C)" in report

    # AutoAttack and the JPEG test of a CIFAR-100 run, and the refusals of the other data
    # set's scripts, run in this process above
    # (test_jpeg_test_and_autoattack_of_a_cifar_100_run_use_its_test_set); here exp_10's
    # evaluation refuses these runs in one line, naming exp_12, as a subprocess.
    for script in ("exp_10/exe_eval_exp_10.py",):
        refused = smoke_script(script, base, env=env, rc=2)
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "was trained on CIFAR-100" in refused.stderr and "exp_12" in refused.stderr
