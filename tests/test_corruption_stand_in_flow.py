"""The corruption test offline: the smoke profile on the stand-in for CIFAR-10-C
(datasets.corruption_stand_in), built from a generated test set in CIFAR-10's format, and
every output that says so; the paper profile still needs the real set."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from errors import run_main
from experiments import cli, grid
from experiments import robustness_suite as suite
from experiments.evaluating import corruptions as corruption_eval
from datasets import corruption_stand_in as stand_in
from helpers import offline
from helpers import run_in_process as exe
from robustness import corruptions
from robustness_runs import GRID, corrupt, one_error_line, smoke_runs, trained_run

STAND_IN = "stand-in corruptions (7 of 15), not CIFAR-10-C"
SCRIPT = "experiments/exp_10/exe_exp10_corruption_tests.py"


def test_predictions_and_tables_on_the_stand_in_say_so(own_data, tmp_path):
    folder = stand_in.ensure_stand_in(20)
    base = tmp_path / "B"
    for i, run in enumerate(smoke_runs(base)):
        trained_run(run.folder, seed=i)
        assert corrupt(run.folder, base, "--corruption_folder", str(folder)) == 0
    found = corruptions.read_predictions(corruptions.output_file(base, run.name))
    assert set(found["predictions"]) == set(stand_in.CORRUPTIONS) and found["n"] == 20
    assert found["record"]["data_source"] == STAND_IN
    assert corruption_eval.evaluate_corruptions(GRID, base, profile="smoke") == 0
    section = (base / "corruption_results.md").read_text(encoding="utf-8")
    assert section.startswith(f"## Robustness to common corruptions ({STAND_IN})\n")
    assert f"Corrupted images: {STAND_IN}." in section
    assert "No mean corruption error" in section and "fog" in section
    assert set(pd.read_csv(base / "corruption_results.csv").data) == {STAND_IN}
    assert f"({STAND_IN})" in (base / "report.md").read_text(encoding="utf-8")
    # The plots' title line says it too, after the smoke note.
    note = corruption_eval.figure_note(
        "smoke run", corruption_eval.data_title(found_runs(base), GRID))
    assert note == f"smoke run; {STAND_IN}"
    fig = corruption_eval.plot_severity(found_runs(base), GRID, 3, note)
    assert fig._suptitle.get_text() == note


def found_runs(base):
    return corruption_eval.collect_corruptions(GRID, base).table


def test_the_paper_profile_still_needs_cifar10c(own_data, tmp_path, capsys):
    base = tmp_path / "B"
    for run in smoke_runs(base):
        trained_run(run.folder)
    env = offline(dict(own_data, CIFAR10C_URL="http://127.0.0.1:9/CIFAR-10-C.tar"))
    result = exe(SCRIPT, "--base_folder", base, "--run-predictions", env=env, check_rc=2)
    assert "CIFAR-10-C is not in" in result.stderr and "downloading it failed" in result.stderr
    assert not (Path(own_data["DATA_FOLDER"]) / stand_in.FOLDER).exists()


def test_the_stand_in_refuses_corruptions_it_does_not_have(own_data, tmp_path, capsys):
    main = cli.robustness_tests(grid.EXP_10, suite.CORRUPTIONS)
    assert run_main(main, ["--profile", "smoke", "--base_folder", str(tmp_path),
                           "--run-predictions", "--corruptions", "fog", "contrast"]) == 2
    line = one_error_line(capsys)
    assert "--corruptions fog" in line and "stand-in has only" in line
    assert "contrast" in line.split("only")[1]


@pytest.mark.slow
def test_the_smoke_profile_runs_offline_on_the_stand_in(own_data, tmp_path):
    """The exe script end to end, without CIFAR-10-C and without a network: it builds the
    stand-in once, predicts every run (launched jobs) and says what the images were."""
    base = tmp_path / "B"
    for i, run in enumerate(smoke_runs(base)):
        trained_run(run.folder, seed=i)
    env = offline(dict(own_data, CIFAR10C_URL="http://127.0.0.1:9/CIFAR-10-C.tar"))
    result = exe(SCRIPT, "--profile", "smoke", "--base_folder", base, "--run-predictions",
                 "--cpu", env=env, check_rc=0)
    assert f"building the {STAND_IN} from 100 test images" in result.stdout
    assert f"on {STAND_IN}:" in result.stdout
    data = Path(own_data["DATA_FOLDER"])
    assert not (data / "CIFAR-10-C").exists()
    marker = json.loads((data / stand_in.FOLDER / "stand_in.json").read_text())
    assert marker["corruptions"] == list(stand_in.CORRUPTIONS) and marker["n"] == 100
    table = pd.read_csv(base / "corruption_results.csv")
    assert set(table.corruption) == set(stand_in.CORRUPTIONS) and set(table.n) == {100}
    assert set(table.data) == {STAND_IN}
    assert np.isfinite(table.er).all()
    again = exe(SCRIPT, "--profile", "smoke", "--base_folder", base, "--run-predictions",
                "--cpu", env=env, check_rc=0)
    assert "building" not in again.stdout and "2 skipped" in again.stdout
