"""run_cifar101_test.py: one run's CIFAR-10.1 file, through the planner and the evaluation
(main(argv) in this process), and bad input in one line."""
import pytest

import run_cifar101_test
from datasets import cifar101 as dataset
from errors import run_main
from experiments import robustness_suite as suite
from experiments.evaluating import cifar101 as cifar101_eval
from experiments.launching import jobs
from robustness import cifar101
from robustness_runs import GRID, one_error_line, script, smoke_runs, trained_run
from run_folder import EXP_DATA


def test_cifar101(run_folder, base, *options) -> int:
    """run_cifar101_test.py in this process; its exit code."""
    return run_main(run_cifar101_test.main, ["--model_folder", str(run_folder), "--base_folder",
                                             str(base), "--device", "cpu", "--bs", "16",
                                             *options])


test_cifar101.__test__ = False     # a helper, not a test


def test_files_plan_and_evaluation_of_a_grid(data101, tmp_path, capsys):
    base = tmp_path / "exp"
    runs = smoke_runs(base)
    for seed, run in enumerate(runs):
        trained_run(run.folder, seed=seed)
        assert test_cifar101(run.folder, base) == 0
    printed = capsys.readouterr().out
    assert "CIFAR-10.1: error" in printed and "CIFAR-10: error" in printed
    assert f"-> {cifar101.output_file(base, runs[0].name)}" in printed
    found = cifar101.read_predictions(cifar101.output_file(base, runs[0].name))
    assert [len(found["sets"][s]["labels"]) for s in ("cifar101", "cifar10")] == [30, 40]
    # The record names both test sets' data in words (datasets.identity): generated files.
    assert found["record"]["data_source"] == {
        "cifar10": "a CIFAR-format data set that is not the official CIFAR-10 (data_batch_1 "
                   "and 6 more differ)",
        "cifar101": "not the published CIFAR-10.1 v6 (cifar10.1_v6_data.npy differs)"}
    planned = jobs.prediction_jobs(suite.cifar101(), runs, base, base / "logs")
    assert [j.action for j in planned] == [jobs.SKIP, jobs.SKIP]
    smoke = jobs.prediction_jobs(suite.cifar101(10), runs, base, base / "logs")
    assert [j.action for j in smoke] == [jobs.START, jobs.START]
    assert "--replace-larger" in smoke[0].note and smoke[0].argv[-2:] == ("--subset", "10")
    # A truncated file: recomputed by the planner, left out (named) by the evaluation,
    # computed afresh by the script.
    output = cifar101.output_file(base, runs[0].name)
    output.write_bytes(output.read_bytes()[:300])
    planned = jobs.prediction_jobs(suite.cifar101(), runs, base, base / "logs")
    assert [j.action for j in planned] == [jobs.START, jobs.SKIP] and "truncated" in planned[0].note
    assert cifar101_eval.evaluate_cifar101(GRID, base) == 0
    assert str(output) in capsys.readouterr().err
    csv = (base / cifar101_eval.CSV_FILE).read_text(encoding="utf-8")
    assert runs[0].name not in csv and csv.count(runs[1].name) == 1
    assert "not the published CIFAR-10.1 v6 (cifar10.1_v6_data.npy differs)" in csv
    assert test_cifar101(runs[0].folder, base) == 0
    assert "truncated" in capsys.readouterr().err
    assert set(cifar101.read_predictions(output)["sets"]) == {"cifar101", "cifar10"}


def test_bad_options_and_missing_data_are_one_line(data101, tmp_path, capsys, monkeypatch):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    assert test_cifar101(run, base, "--subset", "0") == 2
    assert "--subset must be positive" in one_error_line(capsys)
    (data101 / dataset.FOLDER / dataset.DATA_FILE).unlink()
    monkeypatch.setenv(dataset.URL_ENV, "http://127.0.0.1:9")
    assert test_cifar101(run, base) == 2
    line = one_error_line(capsys)
    assert "downloading it failed" in line and dataset.DATA_FILE in line
    assert str(data101 / dataset.FOLDER) in line
    assert not cifar101.output_file(base, run.name).exists()


@pytest.mark.slow
def test_two_tests_of_one_run_at_once_write_one_file(data101, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    both = [script("run_cifar101_test.py", "--model_folder", run, "--base_folder", base,
                   "--device", "cpu") for _ in range(2)]
    outputs = []
    for process in both:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
        outputs.append(out + err)
    found = cifar101.read_predictions(cifar101.output_file(base, run.name))
    assert set(found["sets"]) == {"cifar101", "cifar10"}
    # The second one waited for the lock, then found both sets done and computed nothing.
    assert sum("CIFAR-10.1: error" in text for text in outputs) == 1, outputs
