"""experiments/evaluating/corruptions.py: the corruption tables from hand-made prediction files.
"""

import numpy as np
import pandas as pd
import pytest

import robustness_runs
from datasets.cifar10c import BENCHMARK_CORRUPTIONS
from errors import UserError
from experiments.evaluating import corruptions as corruption_eval
from robustness import corruptions
from robustness_runs import N_PER_SEVERITY, SEVERITY_LABELS, THREE_SEEDS, evaluated_run, labels_of
from run_folder import EXP_DATA

GRID, N, LABELS = THREE_SEEDS, N_PER_SEVERITY, SEVERITY_LABELS
finished_run = evaluated_run


def wrong(count):
    """Predictions with `count` of the N images of every severity wrong."""
    predicted = LABELS.copy()
    for severity in range(5):
        predicted[severity * N:severity * N + count] += 1
    return predicted


@pytest.fixture
def grid_folder(tmp_path):
    """Min-Net: 1 of 4 wrong; ResNet: 2 of 4 wrong (one seed 3 of 4) on every corruption."""
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        finished_run(tmp_path, name)
        count = 1 if model_type == "CifarMinFP-LS" else (3 if seed == 723 else 2)
        names = BENCHMARK_CORRUPTIONS if seed != 507 else BENCHMARK_CORRUPTIONS + ("saturate",)
        corruptions.write_predictions(corruptions.output_file(tmp_path, name), N, LABELS,
                                      {c: wrong(count) for c in names})
    return tmp_path


def test_corruption_tables_from_hand_made_files(grid_folder):
    found = corruption_eval.collect_corruptions(GRID, grid_folder)
    runs, missing = found.table, found.missing
    assert missing == [] and len(runs) == 6 * 15 * 5 + 2 * 5
    table = corruption_eval.error_table(runs, GRID)
    assert "saturate" not in table.columns           # not every run has it
    assert table.model_type.tolist() == ["CifarMinFP-LS", "CifarPyrResNet"]
    assert table.loc[0, "fog"] == pytest.approx(25.0)
    assert table.loc[1, "mCE"] == pytest.approx((50 + 50 + 75) / 3)
    diffs = corruption_eval.differences(runs, GRID)
    mce = diffs[diffs.corruption == "mCE"].iloc[0]
    assert mce.difference == pytest.approx(25 - 175 / 3)
    # By hand: the baseline's sd 14.434 over 3 seeds, se 8.333, Welch df 2, t 4.3027.
    assert mce.ci_low == pytest.approx(-33.3333 - 35.8556, abs=1e-3)
    assert mce.ci_high == pytest.approx(-33.3333 + 35.8556, abs=1e-3)
    assert corruption_eval.evaluate_corruptions(GRID, grid_folder) == 0
    text = (grid_folder / corruption_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "mCE" in text and "missing" not in text
    csv = pd.read_csv(grid_folder / corruption_eval.CSV_FILE)
    assert list(csv.columns) == ["name", "model_type", "N", "seed", "corruption", "severity",
                                 "n", "er", "data"]
    # Hand-made files without a record: CIFAR-10-C (nothing else existed), "not recorded".
    assert set(csv.data) == {"not recorded (a file from before data records)"}
    assert text.startswith("## Robustness to common corruptions (CIFAR-10-C)\n")
    assert "Corrupted images: not recorded (a file from before data records)." in text
    assert text.strip() in (grid_folder / "report.md").read_text(encoding="utf-8")
    assert (grid_folder / "images" / "corruption_severity_N3.png").is_file()
    assert (grid_folder / "images" / "corruption_difference.pdf").is_file()


def test_without_all_benchmark_corruptions_the_missing_ones_are_named(grid_folder):
    for model_type, size, seed in GRID.points():
        path = corruptions.output_file(grid_folder, GRID.run_name(model_type, size, seed))
        kept = corruptions.read_predictions(path)
        del kept["predictions"]["snow"], kept["predictions"]["fog"]
        corruptions.write_predictions(path, N, LABELS, kept["predictions"])
    # A run whose weights were deleted (its log is complete: it counts) and a run without
    # a file.
    (grid_folder / EXP_DATA / GRID.run_name("CifarMinFP-LS", 3, 9) / "model.pt").unlink()
    (corruptions.output_file(grid_folder, GRID.run_name("CifarPyrResNet", 3, 9))).unlink()
    assert corruption_eval.evaluate_corruptions(GRID, grid_folder) == 0
    text = (grid_folder / corruption_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "are missing" in text and "snow, fog" in text
    assert "CifarPyrResNet_s9_N3" in text and "CifarMinFP-LS_s9_N3" not in text
    table = corruption_eval.error_table(
        corruption_eval.collect_corruptions(GRID, grid_folder).table, GRID)
    assert table["mCE"].isna().all()


def test_no_files_is_one_line_naming_the_command(tmp_path):
    finished_run(tmp_path, GRID.run_name("CifarMinFP-LS", 3, 9))
    with pytest.raises(UserError) as error:
        corruption_eval.evaluate_corruptions(GRID, tmp_path)
    assert str(error.value).endswith(
        "compute them with python experiments/exp_10/exe_exp10_corruption_tests.py "
        f"--base_folder {tmp_path} --run-predictions")
    assert "\n" not in str(error.value)


# ------------------------------------------ what a robustness file records (issue 23)

def test_the_corruption_evaluation_leaves_out_runs_on_other_image_counts(tmp_path, capsys):
    minnet, resnet = (robustness_runs.GRID.run_name(m, 3, 9) for m in robustness_runs.GRID.models)
    for name, n in ((minnet, 3), (resnet, 10)):
        robustness_runs.finished_run(tmp_path, name)
        corruptions.write_predictions(corruptions.output_file(tmp_path, name), n, labels_of(n),
                                      {"fog": labels_of(n)})
    assert corruption_eval.evaluate_corruptions(robustness_runs.GRID, tmp_path) == 0
    csv = (tmp_path / corruption_eval.CSV_FILE).read_text(encoding="utf-8")
    assert minnet not in csv and resnet in csv
    section = (tmp_path / corruption_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "10 images per severity" in section
    assert f"other settings than most runs (their numbers are not comparable): {minnet} (n 3)" \
        in section
    assert minnet in capsys.readouterr().err


# ------------------------------------------------- calibration under corruption (issue 22)

def test_calibration_per_severity_with_old_files_named_not_recorded(grid_folder):
    """Confidence 0.9 everywhere, so the ECE is |accuracy - 0.9|: Min-Net 15 points,
    ResNet 40 (seed 723: 65). One old file keeps no confidences: named, left out of the
    calibration tables, and the command that computes it again is given."""
    old = GRID.run_name("CifarPyrResNet", 3, 9)
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        path = corruptions.output_file(grid_folder, name)
        kept = corruptions.read_predictions(path)
        confidences = {} if name == old else {c: np.full(5 * N, 0.9, np.float32)
                                              for c in kept["predictions"]}
        corruptions.write_predictions(path, N, LABELS, kept["predictions"],
                                      confidences=confidences)
    runs = corruption_eval.collect_corruptions(GRID, grid_folder).table
    assert runs.loc[runs.name == old, "ece"].isna().all()
    minnet = runs[runs.model_type == "CifarMinFP-LS"]
    assert minnet.ece.to_numpy() == pytest.approx(15.0, abs=1e-4)
    assert corruption_eval.evaluate_corruptions(GRID, grid_folder) == 0
    text = (grid_folder / corruption_eval.SECTION_FILE).read_text(encoding="utf-8")
    calibration_part = text[text.index("### Calibration"):]
    assert f"Calibration not recorded for {old}" in calibration_part
    assert "exe_exp10_corruption_tests.py" in calibration_part
    # 4 images per severity: whole percents (precision.error_digits).
    assert "| Model | N | 1 | 2 | 3 | 4 | 5 | all | seeds |" in calibration_part
    assert "| Min-Net | 3 | 15 | 15 | 15 | 15 | 15 | 15 | 3 |" in calibration_part
    # ResNet: seeds 507 and 723 only, (40 + 65) / 2 = 52.5 at every severity.
    assert "| ResNet | 3 | 52 | 52 | 52 | 52 | 52 | 52 | 2 |" in calibration_part
    assert "| 3 | all | -38 [" in calibration_part
    assert "| Model | N | gaussian_noise | shot_noise |" in calibration_part   # benchmark order
    csv = pd.read_csv(grid_folder / corruption_eval.CSV_FILE)
    assert list(csv.columns)[-3:] == ["er", "data", "ece"] and csv.loc[csv.name == old, "ece"].isna().all()


def test_without_any_confidences_the_calibration_says_not_recorded(grid_folder):
    assert corruption_eval.evaluate_corruptions(GRID, grid_folder) == 0
    text = (grid_folder / corruption_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "Calibration not recorded (6 runs): their files were written before" in text
    assert "ECE" not in text.split("### Calibration")[1].split("\n", 2)[2]
    assert "ece" not in pd.read_csv(grid_folder / corruption_eval.CSV_FILE).columns
