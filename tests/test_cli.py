"""experiments/cli.py: the exe_ scripts' command lines (selections, --dry-run, the launchers'
options, --run-predictions), and the per-run scripts' shared options; each script's
main(argv) run in this process.
"""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import run_folder as rf
from errors import run_main
from experiments import cli, grid
from experiments import robustness_suite as suite
from experiments.grid import EXP_10, EXP_10_1, EXP_11_1
# The exe scripts' main(argv), in this process.
from helpers import REPO_ROOT, assert_a_drawn_png, offline
from helpers import run_in_process as exe
from helpers import write_run
from paper_runs import (PAPER_EXP_10, PAPER_EXP_11_1, paper_table_cells, values_with_mean_std,
                        write_authors_run, write_exp_10_n9, write_paper_runs)
from robustness import corruptions, provenance
from robustness_runs import corrupt, one_error_line, smoke_runs, trained_run


def test_dry_run_lists_what_would_happen_and_changes_nothing(tmp_path):
    base = tmp_path / "B"
    write_run(base / "exp_data" / "CifarResNet_s257_N9", 200, 200)
    write_run(base / "exp_data" / "CifarResNet_s408_N9", 200, 12, model=False)
    before = sorted(base.rglob("*"))
    result = exe("experiments/exp_10_1/exe_train_exp_10_1.py", "--dry-run", "--base_folder",
                 base, "--", "--amp", "bf16", check_rc=0)
    lines = result.stdout.splitlines()
    assert any(l.split()[:2] == ["skip", "CifarResNet_s257_N9"] and "(finished)" in l for l in lines)
    assert any(l.split()[:2] == ["resume", "CifarResNet_s408_N9"] and "12 of 200" in l
               for l in lines)
    assert any(l.split()[:2] == ["start", "CifarResNet_s464_N9"] for l in lines)
    assert "12 runs: would start 10, resume 1, skip 1" in result.stdout
    example = next(l for l in lines if l.startswith("e.g. "))
    assert "run_training.py --model_type CifarResNet" in example
    assert example.endswith("--resume --device '<device>' --amp bf16")
    assert sorted(base.rglob("*")) == before


def test_dry_run_of_the_slurm_launcher_and_of_the_jpeg_predictions(tmp_path):
    result = exe("experiments/exp_11_1/exe_train_exp_11_1.py", "--dry-run", "--profile", "smoke",
                 "--base_folder", tmp_path, "--launcher", "slurm", "--partition", "gpu",
                 "--time", "600", check_rc=0)
    assert "2 runs: would start 2" in result.stdout
    assert "one Slurm job per run (1 GPU, 600 min, partition gpu)" in result.stdout

    write_run(tmp_path / "exp_data" / "CifarPyrResNet_s9_N3", 1, 1)
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", "--dry-run", "--profile",
                 "smoke", "--base_folder", tmp_path, "--run-predictions", check_rc=0)
    assert "2 predictions: would start 1, resume 0, skip 1" in result.stdout
    assert "(no trained model.pt)" in result.stdout
    assert "run_jpeg_robustness_test.py --model_folder" in result.stdout
    assert "--subset 1000" in result.stdout
    assert not (tmp_path / "jpeg_model_predictions").exists()

    # The paper protocol's file exists; the rgb protocol has its own files, so it would start.
    paper_file = tmp_path / "jpeg_model_predictions" / "CifarPyrResNet_s9_N3.npy"
    paper_file.parent.mkdir()
    import numpy as np

    np.save(paper_file, np.zeros((5, 11), dtype=np.int64))
    options = ["--dry-run", "--profile", "smoke", "--base_folder", tmp_path, "--run-predictions"]
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", *options, check_rc=0)
    assert "2 predictions: would start 0, resume 0, skip 2" in result.stdout
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", *options, "--protocol", "rgb",
                 check_rc=0)
    assert "2 predictions: would start 1, resume 0, skip 1" in result.stdout
    assert "--protocol rgb" in result.stdout
    assert not (tmp_path / "jpeg_model_predictions_rgb").exists()


@pytest.mark.parametrize("args, message", [
    (["--seeds", "1", "2"], "error: unknown seed 1 2; this experiment has 9 507 723 16 744"),
    (["--models", "CifarDenseNet"], "error: unknown model CifarDenseNet; this experiment has "
                                    "CifarMinFP-LS CifarPyrResNet"),
    (["--sizes", "4"], "error: unknown size 4; this experiment has 3 5 7 9"),
    (["--jobs-per-gpu", "0", "--seeds", "9", "--sizes", "3"], "error: --jobs-per-gpu must be at least 1"),
])
def test_bad_selections_are_one_line_errors(tmp_path, args, message):
    result = exe("experiments/exp_10/exe_train_exp_10.py", "--base_folder", tmp_path, *args,
                 check_rc=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not (tmp_path / "exp_data").exists()


def test_slurm_launcher_without_slurm_says_so(tmp_path):
    # A PATH without Slurm's commands, also on a machine that has them (CI does).
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not (Path(p) / "sbatch").exists())
    result = exe("experiments/exp_10_1/exe_train_exp_10_1.py", "--base_folder", tmp_path,
                 "--launcher", "slurm", env=dict(os.environ, PATH=path), check_rc=2)
    assert "needs Slurm's sbatch" in result.stderr


def test_run_predictions_with_nothing_trained_names_where_it_looked_and_the_command(tmp_path):
    result = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", "--profile", "smoke",
                 "--base_folder", tmp_path, "--run-predictions")
    assert result.returncode == 2, result.stdout + result.stderr
    line, = result.stderr.strip().splitlines()
    assert "no trained model.pt" in line
    assert str(tmp_path / rf.EXP_DATA / "CifarMinFP-LS_s9_N3" / "model.pt") in line
    assert line.endswith("train them first: python experiments/exp_10/exe_train_exp_10.py "
                         f"--profile smoke --base_folder {tmp_path}")
    assert "--run-predictions" not in line
    assert not (tmp_path / "jpeg_model_predictions").exists()


# ------------------------------------------------------------------ evaluation


@pytest.mark.parametrize("script, experiment, paper", [
    ("experiments/exp_10/exe_eval_exp_10.py", EXP_10, {9: PAPER_EXP_10[9]}),
    ("experiments/exp_11_1/exe_eval_exp_11_1.py", EXP_11_1, {22: PAPER_EXP_11_1[22]})])
def test_eval_scripts_end_to_end(tmp_path, script, experiment, paper):
    write_paper_runs(tmp_path, experiment, paper)
    result = exe(script, "--base_folder", str(tmp_path))
    assert result.returncode == 0, result.stderr
    # Every file, by its content: one row per run, one per model and size, the paper's
    # mean ± std in results.md, the report's heading, a drawn plot.
    (size, per_model), = paper.items()
    runs = pd.read_csv(tmp_path / "results.csv")
    assert sorted(runs.name) == sorted(experiment.run_name(m, size, s)
                                       for m in experiment.models for s in experiment.seeds)
    assert len(pd.read_csv(tmp_path / "grouped_results.csv")) == len(experiment.models)
    cells = paper_table_cells((tmp_path / "results.md").read_text(encoding="utf-8"))
    for model, (mean, std) in zip(experiment.models, per_model):
        column = f"{experiment.display_name(model)} ({model})"
        assert cells[size, column] == f"{mean:.3f} ± {std:.3f}", column
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report.startswith(f"# {experiment.name}: report")
    assert "(images/error_vs_params.png)" in report
    assert_a_drawn_png(tmp_path / "images/error_vs_params.png")
    assert (tmp_path / "images/error_vs_params.pdf").read_bytes().startswith(b"%PDF")


def test_eval_exp_10_1_script_end_to_end(tmp_path):
    for seed, value in zip(EXP_10_1.seeds, values_with_mean_std(7.267, 0.502, 12, ddof=0)):
        write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, value)
    result = exe("experiments/exp_10_1/exe_eval_exp_10_1.py", "--base_folder", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Mean last: 7.267\nStd last: 0.502\n" in (tmp_path / "results.txt").read_text()
    assert_a_drawn_png(tmp_path / "images" / "error_curves.png")


def test_eval_script_without_runs(tmp_path):
    result = exe("experiments/exp_10/exe_eval_exp_10.py", "--base_folder", str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and str(tmp_path) in result.stderr
    result = exe("experiments/exp_10/exe_eval_exp_10.py", "--profile", "nonsense")
    assert result.returncode == 2 and "invalid choice" in result.stderr


# Python's own start under another locale: the one test here in a subprocess.
@pytest.mark.slow
@pytest.mark.parametrize("script", ["experiments/exp_10/exe_eval_exp_10.py",
                                    "experiments/exp_10/exe_exp10_jpeg_tests.py"])
def test_evaluation_under_an_ascii_locale_and_a_non_ascii_path(tmp_path, script):
    """Python turns on its UTF-8 mode by itself under LC_ALL=C; PYTHONUTF8=0 keeps the
    plain ASCII default, as an interpreter configured otherwise has it."""
    base = tmp_path / "résultats"
    write_exp_10_n9(base)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONIOENCODING")}
    env.update(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    result = subprocess.run([sys.executable, str(REPO_ROOT / script), "--base_folder", str(base)],
                            cwd=REPO_ROOT, env=env, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    report = (base / "report.md").read_text(encoding="utf-8")
    assert not report.isascii()                      # ± and … read and written as UTF-8
    assert f"--base_folder '{base}'" in report        # the tests not run, in UTF-8 too


# ------------------------------------------------------------------ training


def test_training_grid_without_data_offline_stops_before_launching(tmp_path):
    """CIFAR-10 is fetched once by the launcher (where the network is), not by every run:
    offline and without the data, one line, exit 2, and no run is started."""
    # Offline whatever the machine's network (helpers.offline).
    env = offline(dict(os.environ, DATA_FOLDER=str(tmp_path / "no_data")))
    result = exe("experiments/exp_10/exe_train_exp_10.py", "--profile", "smoke",
                            "--base_folder", tmp_path / "exp", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cifar-10-batches-py" in result.stderr
    assert "Connection refused" in result.stderr  # the download failed at the proxy
    assert not (tmp_path / "exp" / rf.EXP_DATA).exists()


# ------------------------------------------ what a robustness file records (issue 23)

@pytest.mark.slow
def test_the_launcher_says_what_it_recomputes_before_it_starts(data, tmp_path, capsys):
    base = tmp_path / "exp"
    run = smoke_runs(base)[0]
    trained_run(run.folder, seed=0)
    assert corrupt(run.folder, base) == 0
    trained_run(run.folder, seed=1)
    capsys.readouterr()
    exe = cli.robustness_tests(grid.EXP_10, suite.CORRUPTIONS)
    assert run_main(exe, ["--profile", "smoke", "--base_folder", str(base), "--run-predictions",
                          "--models", "CifarMinFP-LS", "--cpu"]) == 0
    out = capsys.readouterr().out
    said = out.index(f"{run.name}: recompute: {run.name}.npz was made with other weights")
    assert said < out.index("1 prediction on cpu")
    assert "1 prediction: 1 done" in out
    found = corruptions.read_predictions(corruptions.output_file(base, run.name))
    assert found["record"]["weights"] == provenance.weights_fingerprint(run.folder)


@pytest.mark.parametrize("options, named", [
    (["--seeds", "99"], "--seeds"), (["--models", "Foo"], "--models"),
    (["--eps", "2"], "--eps"), (["--n-images", "5", "--cpu"], "--cpu, --n-images"),
    (["--", "--bs", "10"], "-- --bs 10"),
])
def test_options_that_only_act_on_predictions_need_run_predictions(tmp_path, capsys,
                                                                      options, named):
    exe = cli.robustness_tests(grid.EXP_10, suite.ADVERSARIAL)
    assert run_main(exe, ["--base_folder", str(tmp_path), *options]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {named} only act on the predictions")
    assert "--run-predictions" in line


def test_n_images_0_is_refused_not_replaced(tmp_path, capsys):
    exe = cli.robustness_tests(grid.EXP_10, suite.ADVERSARIAL)
    assert run_main(exe, ["--base_folder", str(tmp_path), "--run-predictions", "--dry-run",
                          "--n-images", "0"]) == 2
    assert "--n-images must be positive" in one_error_line(capsys)


def test_dry_run_says_which_data_is_there_and_what_a_run_would_download(tmp_path, own_data):
    data = Path(own_data["DATA_FOLDER"])
    script = "experiments/exp_10/exe_exp10_corruption_tests.py"
    options = ["--dry-run", "--base_folder", tmp_path, "--run-predictions"]
    paper = exe(script, *options, env=own_data, check_rc=0).stdout
    assert (f"data: {data / 'cifar-10-batches-py'}: a CIFAR-format data set that is not the "
            "official CIFAR-10 (data_batch_1 and 6 more differ)") in paper
    assert (f"data: CIFAR-10-C is not in {data / 'CIFAR-10-C'}; a run would first download "
            "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar (2,918,471,680 bytes, "
            "md5-checked)") in paper
    smoke = exe(script, *options, "--profile", "smoke", env=own_data, check_rc=0).stdout
    assert (f"the smoke profile uses {data / 'CIFAR-10-C-stand-in'}: stand-in corruptions "
            "(7 of 15), not CIFAR-10-C (not yet built: a run builds it from the test set, no "
            "download)") in smoke
    assert not (data / "CIFAR-10-C-stand-in").exists() and not (data / "CIFAR-10-C").exists()
    jpeg = exe("experiments/exp_10/exe_exp10_jpeg_tests.py", *options, env=own_data,
               check_rc=0).stdout
    assert "data: the JPEG test set (paper protocol) is not in" in jpeg
    empty = dict(own_data, DATA_FOLDER=str(tmp_path / "empty"))
    train = exe("experiments/exp_10/exe_train_exp_10.py", "--dry-run", "--base_folder", tmp_path,
                env=empty, check_rc=0).stdout
    assert (f"data: CIFAR-10 is not in {tmp_path / 'empty' / 'cifar-10-batches-py'}; a run "
            "would first download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
            "(170,498,071 bytes, md5-checked)") in train
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("script, on_gpu, on_cpu", [
    ("run_jpeg_robustness_test", 200, 10), ("run_corruption_test", 1000, 100),
    ("run_cifar101_test", 1000, 100), ("run_adversarial_test", 250, 250)])
def test_per_run_scripts_take_smaller_batches_on_the_cpu(script, on_gpu, on_cpu, tmp_path):
    """--bs defaults to the GPU's batch there and to a smaller one on the CPU, where that is
    faster (robustness/per_run_script.py); one given is kept, on either device."""
    import importlib

    from robustness.per_run_script import run_of

    parser = importlib.import_module(script).build_parser()
    folder = tmp_path / "exp_data" / "run"
    args = parser.parse_args(["--model_folder", str(folder), "--device", "cpu"])
    assert (args.bs, args.bs_on_gpu, args.bs_on_cpu) == (None, on_gpu, on_cpu)
    assert run_of(args) == (folder, tmp_path, "cpu") and args.bs == on_cpu
    args = parser.parse_args(["--model_folder", str(folder), "--device", "cpu", "--bs", "7"])
    run_of(args)
    assert args.bs == 7
    default = f"{on_gpu} on a GPU, {on_cpu} on the CPU" if on_gpu != on_cpu else f"{on_gpu}"
    assert f"(default: {default})" in " ".join(parser.format_help().split())
