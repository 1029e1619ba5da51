"""experiments/evaluating/cifar101.py: the CIFAR-10.1 tables, plots and section from
hand-made prediction files in the per-run format (robustness/cifar101.py)."""
import numpy as np
import pandas as pd
import pytest

from errors import UserError
from experiments.evaluating import cifar101 as cifar101_eval
from helpers import assert_a_drawn_png, write_run
from robustness import cifar101
from robustness_runs import THREE_SEEDS as GRID, evaluated_run
from run_folder import EXP_DATA

N_CLEAN, N_NEW = 800, 400      # errors to one decimal (precision.error_digits)


def part(n: int, wrong: int, confidence: float = 0.9) -> dict:
    labels = (np.arange(n) % 10).astype(np.uint8)
    predicted = labels.copy()
    predicted[:wrong] = (predicted[:wrong] + 1) % 10
    return dict(labels=labels, predicted=predicted,
                confidence=np.full(n, confidence, np.float32))


def write(base, name, clean_wrong, new_wrong, n_new=N_NEW):
    cifar101.write_predictions(cifar101.output_file(base, name),
                               {"cifar101": part(n_new, new_wrong),
                                "cifar10": part(N_CLEAN, clean_wrong)})


@pytest.fixture
def grid_folder(tmp_path):
    """Min-Net: 1 in 8 CIFAR-10 and 1 in 4 CIFAR-10.1 images wrong; ResNet: 2 in 8, and 2
    in 4 (one seed 3 in 4); every confidence 0.9."""
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        evaluated_run(tmp_path, name)
        if model_type == "CifarMinFP-LS":
            write(tmp_path, name, 100, 100)
        else:
            write(tmp_path, name, 200, 300 if seed == 723 else 200)
    return tmp_path


def test_errors_gap_and_calibration_from_hand_made_files(grid_folder):
    found = cifar101_eval.collect_cifar101(GRID, grid_folder)
    assert found.missing == [] and len(found.table) == 12
    measures = cifar101_eval.per_run(found.table).set_index(["model_type", "seed"])
    columns = ["n_clean", "n_new", "er_clean", "er_new", "ece_clean", "ece_new", "gap"]
    assert measures.loc[("CifarMinFP-LS", 9), columns].tolist() == pytest.approx(
        [800, 400, 12.5, 25.0, 2.5, 15.0, 12.5], abs=1e-4)
    assert measures.loc[("CifarPyrResNet", 723), "gap"] == pytest.approx(50.0)
    assert measures.loc[("CifarPyrResNet", 723), "ece_new"] == pytest.approx(65.0, abs=1e-4)
    diffs = cifar101_eval.differences(cifar101_eval.per_run(found.table), GRID)
    new = diffs.set_index("measure").loc["CIFAR-10.1 error"]
    # By hand: the baseline's sd 14.434 over 3 seeds, se 8.333, Welch df 2, t 4.3027.
    assert new.difference == pytest.approx(25 - 175 / 3)
    assert (new.ci_low, new.ci_high) == pytest.approx((-33.3333 - 35.8556, -33.3333 + 35.8556),
                                                      abs=1e-3)
    clean = diffs.set_index("measure").loc["CIFAR-10 error"]
    assert (clean.difference, clean.ci_low, clean.ci_high) == (-12.5, -12.5, -12.5)
    assert cifar101_eval.evaluate_cifar101(GRID, grid_folder) == 0
    section = (grid_folder / cifar101_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "| Min-Net | 3 | 12.5 ± 0.0 | 25.0 ± 0.0 | 12.5 ± 0.0 | 2.5 ± 0.0 |" in section
    assert "| 3 | CIFAR-10.1 error | -33.3 [-69.2, +2.5] |" in section
    assert "Errors to 1 decimal: on 400 images one image is 0.25 %." in section
    assert section.strip() in (grid_folder / "report.md").read_text(encoding="utf-8")
    csv = pd.read_csv(grid_folder / cifar101_eval.CSV_FILE)
    assert list(csv.columns) == ["name", "model_type", "N", "seed", "cifar10_n", "cifar10_er",
                                 "cifar10_ece", "cifar101_n", "cifar101_er", "cifar101_ece",
                                 "gap"]
    assert len(csv) == 6 and csv.set_index("name").loc[
        GRID.run_name("CifarPyrResNet", 3, 723), ["cifar101_er", "gap"]].tolist() == [75, 50]
    for plot in ("errors", "reliability_CifarMinFP-LS", "reliability_CifarPyrResNet"):
        assert_a_drawn_png(grid_folder / "images" / f"cifar101_{plot}.png")
        assert (grid_folder / "images" / f"cifar101_{plot}.pdf").is_file()


def test_unfinished_incomplete_and_odd_files_are_left_out_and_named(grid_folder, capsys):
    unfinished = GRID.run_name("CifarMinFP-LS", 3, 9)
    write_run(grid_folder / EXP_DATA / unfinished, epochs=4, done=2)
    incomplete = GRID.run_name("CifarMinFP-LS", 3, 507)
    path = cifar101.output_file(grid_folder, incomplete)
    cifar101.write_predictions(path, {"cifar101": part(N_NEW, 100)})
    odd = GRID.run_name("CifarPyrResNet", 3, 9)
    write(grid_folder, odd, 200, 100, n_new=300)
    assert cifar101_eval.evaluate_cifar101(GRID, grid_folder) == 0
    err = capsys.readouterr().err
    assert f"{path} lacks the CIFAR-10 predictions" in err and unfinished in err
    section = (grid_folder / cifar101_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "3 runs" in section
    assert f"{unfinished} (2/4 epochs)" in section and f"{odd} (n 300)" in section
    assert f"without usable results (left out): {incomplete}" in section
    assert "exe_exp10_cifar101_tests.py" in section and "--run-predictions" in section


def test_no_files_is_one_line_naming_the_command(tmp_path):
    evaluated_run(tmp_path, GRID.run_name("CifarMinFP-LS", 3, 9))
    with pytest.raises(UserError) as error:
        cifar101_eval.evaluate_cifar101(GRID, tmp_path)
    assert str(error.value).endswith(
        "compute them with python experiments/exp_10/exe_exp10_cifar101_tests.py "
        f"--base_folder {tmp_path} --run-predictions")
    assert "\n" not in str(error.value)
