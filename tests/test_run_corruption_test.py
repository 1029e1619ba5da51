"""run_corruption_test.py: one run's corruption predictions, and a bad option in one line
(main(argv) in this process; test_smoke_exp_10.py runs the script as a subprocess).
"""
import json
import os
import re
import sys

import pytest
import torch

from errors import UserError
from experiments import robustness_suite as suite
from experiments.evaluating import corruptions as corruption_eval
from experiments.launching import jobs
from helpers import run_in_process
from robustness import corruptions
from robustness_runs import (GRID, corrupt, finished_run, in_namespace, labels_of, one_error_line,
                             script, smoke_runs, trained_run)
from run_folder import EXP_DATA


def test_cli_end_to_end(folder_c, tmp_path):
    from models import build_model_from_opt

    opt = {"model_type": "CifarResNet", "model_kw": "q: 2;k: 3;N: 1;", "epochs": 1}
    run = tmp_path / "exp" / "exp_data" / "CifarResNet_s1_N1"
    run.mkdir(parents=True)
    (run / "opt.json").write_text(json.dumps(opt), encoding="utf-8")
    torch.save(build_model_from_opt(opt).state_dict(), run / "model.pt")
    env = dict(os.environ, DATA_FOLDER=str(folder_c.parent))
    done = run_in_process("run_corruption_test.py", "--model_folder", run, "--device", "cpu",
                          "--subset", "4", env=env)
    assert done.returncode == 0, done.stderr
    result = corruptions.read_predictions(tmp_path / "exp" / "corruption_predictions"
                                          / "CifarResNet_s1_N1.npz")
    assert result["n"] == 4 and set(result["predictions"]) == {"fog", "gaussian_noise"}
    # 4 images per severity: 20 per corruption, steps of 5 %: whole percents.
    assert re.search(r"^fog: error \d+ % over 20 images$", done.stdout, re.M), done.stdout
    assert re.search(r"^2 corruptions, mean error \d+ % -> ", done.stdout, re.M), done.stdout
    bad = run_in_process("run_corruption_test.py", "--model_folder", run, "--subset", "0",
                         env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# ------------------------------------------ what a robustness file records (issue 23)

def test_a_subset_never_replaces_full_corruption_predictions(data, tmp_path, capsys):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    assert corrupt(run, base) == 0
    output = corruptions.output_file(base, run.name)
    full = output.read_bytes()
    capsys.readouterr()
    assert corrupt(run, base, "--subset", "3") == 2
    line = one_error_line(capsys)
    assert str(output) in line and "--replace-larger" in line
    assert output.read_bytes() == full
    assert corrupt(run, base, "--subset", "3", "--replace-larger") == 0
    assert corruptions.read_predictions(output)["n"] == 3
    # The record names the folder in words: this one was placed by hand.
    assert corruptions.read_predictions(output)["record"]["data_source"] == (
        "CIFAR-10-C placed by hand (not verified: CIFAR-10-C publishes no per-file checksums)")


def test_a_truncated_npz_is_recomputed_everywhere(data, tmp_path, capsys):
    base = tmp_path / "exp"
    runs = smoke_runs(base)
    for run in runs:
        trained_run(run.folder)
        assert corrupt(run.folder, base) == 0
    output = corruptions.output_file(base, runs[0].name)
    output.write_bytes(output.read_bytes()[:300])
    with pytest.raises(UserError, match="truncated"):
        corruptions.read_predictions(output)
    planned = jobs.prediction_jobs(suite.corruption(), runs, base, base / "logs")
    assert [j.action for j in planned] == [jobs.START, jobs.SKIP]
    assert "truncated" in planned[0].note
    capsys.readouterr()
    assert corruption_eval.evaluate_corruptions(GRID, base) == 0
    assert str(output) in capsys.readouterr().err
    csv = (base / corruption_eval.CSV_FILE).read_text(encoding="utf-8")
    assert runs[0].name not in csv and runs[1].name in csv
    assert corrupt(runs[0].folder, base) == 0
    assert "truncated" in capsys.readouterr().err
    assert set(corruptions.read_predictions(output)["predictions"]) == {"gaussian_noise",
                                                                         "jpeg_compression"}


@pytest.mark.slow
def test_two_corruption_tests_of_one_run_at_once_both_count(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    both = [script("run_corruption_test.py", "--model_folder", run, "--base_folder", base,
                   "--device", "cpu", "--corruptions", name)
            for name in ("gaussian_noise", "jpeg_compression")]
    for process in both:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    found = corruptions.read_predictions(corruptions.output_file(base, run.name))
    assert set(found["predictions"]) == {"gaussian_noise", "jpeg_compression"}


@pytest.mark.slow
def test_a_read_only_folder_is_one_line_naming_it(data, tmp_path):
    base = tmp_path / "exp"
    run = trained_run(base / EXP_DATA / "CifarResNet_s1_N1")
    for name in GRID.run_name("CifarMinFP-LS", 3, 9), GRID.run_name("CifarPyrResNet", 3, 9):
        finished_run(base, name)
        corruptions.write_predictions(corruptions.output_file(base, name), 4, labels_of(4),
                                      {"fog": labels_of(4)})
    python = sys.executable
    commands = [f"{python} run_corruption_test.py --model_folder {run} --device cpu",
                f"{python} run_adversarial_test.py --model_folder {run} --device cpu "
                "--attacks apgd-ce --n-images 4 --eps 1",
                f"{python} experiments/exp_10/exe_exp10_corruption_tests.py "
                f"--base_folder {base}"]
    body = " ; ".join(f"{{ {c} ; echo \"rc=$?\" ; }}" for c in commands)
    done = in_namespace(body, f"mount --bind {base} {base} && "
                              f"mount -o remount,ro,bind {base}")
    assert done.stdout.count("rc=2") == 3, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3 and "Traceback" not in done.stderr, done.stderr
    assert all("cannot write in" in line and str(base) in line for line in errors), errors
