"""experiments/evaluating/jpeg.py: the JPEG tables of exp_10 and exp_11_1 from prediction files
with exactly the paper's errors (tests/paper_runs.py), cell by cell, and the warnings for bad,
unfinished or disagreeing files.
"""
import json
import re

import numpy as np
import pandas as pd
import pytest

from errors import UserError
from experiments.evaluating import jpeg as je
from experiments.evaluating import jpeg as jm
from experiments.evaluating import test_error as ev
from experiments.grid import EXP_10, EXP_11_1
from paper_runs import (MIN_NET_WRONG, N_TEST, PREDICTIONS, RESNET_WRONG, predictions,
                        values_with_mean_std, write_authors_run,
                        write_exp_10_n9)
from robustness.jpeg import OUTPUT_FOLDERS, check_predictions


def test_metrics_of_one_file():
    array = predictions(MIN_NET_WRONG, [50 * v for v in range(1, 10)])
    metrics = jm.jpeg_metrics(check_predictions(array))
    assert metrics["n"] == N_TEST
    assert metrics["errors"] == pytest.approx([k / 100 for k in MIN_NET_WRONG])
    pocp = [(MIN_NET_WRONG[v] - MIN_NET_WRONG[0] + 50 * v) / 100 for v in range(1, 10)]
    assert metrics["pocp"] == pytest.approx(pocp)


@pytest.fixture(scope="module")
def exp_10_n9(tmp_path_factory):
    """exp_10's N = 9 prediction files and logs (tests/paper_runs.py), evaluated once for
    the tests that only read the outputs; (base folder, what the evaluation warned)."""
    import contextlib
    import io

    base = tmp_path_factory.mktemp("exp_10_n9")
    write_exp_10_n9(base)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert je.evaluate_jpeg(EXP_10, base) == 0
    return base, err.getvalue()


def test_exp_10_latex_tables_cell_by_cell(exp_10_n9):
    tmp_path, _ = exp_10_n9
    header = "Model & N & 100\\% & 90\\% & 80\\% & 70\\% & 60\\% & 50\\% & 40\\% & 30\\% & " \
             "20\\% & 10\\% \\\\"
    assert (tmp_path / "images" / "er_result_table.txt").read_text() == "\n".join([
        r"\begin{tabular}{llrrrrrrrrrr}", r"\toprule", header, r"\midrule",
        r"Min-Net & 9 & 6.0 & 10.1 & 13.0 & 16.2 & 19.8 & 24.2 & 29.5 & 36.4 & 45.3 & 58.8 \\",
        r"ResNet & 9 & 6.3 & 10.9 & 14.0 & 17.5 & 21.3 & 25.6 & 30.9 & 37.9 & 46.7 & 59.1 \\",
        r"\bottomrule", r"\end{tabular}", ""])
    # POCP at level v: (wrong[v] − wrong[0] + step·v) / 100, e.g. (1010 − 599 + 50) → 4.61
    assert (tmp_path / "images" / "nc_result_table.txt").read_text() == "\n".join([
        r"\begin{tabular}{llrrrrrrrrr}", r"\toprule",
        "Model & N & 90\\% & 80\\% & 70\\% & 60\\% & 50\\% & 40\\% & 30\\% & 20\\% & 10\\% \\\\",
        r"\midrule",
        r"Min-Net & 9 & 4.6 & 8.0 & 11.7 & 15.8 & 20.7 & 26.5 & 33.9 & 43.3 & 57.3 \\",
        r"ResNet & 9 & 4.9 & 8.3 & 12.1 & 16.2 & 20.8 & 26.4 & 33.7 & 42.8 & 55.5 \\",
        r"\bottomrule", r"\end{tabular}", ""])

    md = (tmp_path / "jpeg_results.md").read_text()
    assert ("| Min-Net | 9 | 6.0 | 10.1 | 13.0 | 16.2 | 19.8 | 24.2 | 29.5 | 36.4 | 45.3 | 58.8 "
            "| 5 |") in md
    assert "| ResNet | 9 | 4.9 | 8.3 | 12.1 | 16.2 | 20.8 | 26.4 | 33.7 | 42.8 | 55.5 | 5 |" in md
    assert "10 prediction files, 10,000 test images each" in md
    for stem in ("jpeg_N9", "jpeg_pocp_vs_error"):
        assert (tmp_path / "images" / f"{stem}.png").stat().st_size > 1000
        assert (tmp_path / "images" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
        assert f"](images/{stem}.png)" in md
    runs = pd.read_csv(tmp_path / "jpeg_results.csv")
    assert len(runs) == 10 and runs.er_orig.min() == pytest.approx(5.79)


def test_densenet_tables_have_k_and_the_depth_as_l(tmp_path):
    for model_type, last, wrong in (("CifarDenseNet", 4.79, 480), ("CifarDenseMin", 4.57, 457)):
        for seed, value in zip(EXP_11_1.seeds, values_with_mean_std(last, 0.06, 3)):
            name = EXP_11_1.run_name(model_type, 100, seed)
            path = tmp_path / PREDICTIONS / f"{name}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, predictions([wrong + 100 * v for v in range(10)], [0] * 9, seed=seed))
            write_authors_run(tmp_path, EXP_11_1, model_type, 100, seed, value)
    assert je.evaluate_jpeg(EXP_11_1, tmp_path) == 0
    lines = (tmp_path / "images" / "er_result_table.txt").read_text().splitlines()
    assert lines[0] == r"\begin{tabular}{lllrrrrrrrrrr}"
    # The depth is L, as in exp_11_1's other tables.
    assert lines[2].startswith(r"Model & L & k & 100\% & 90\% & ")
    assert lines[4] == r"DenseNet & 100 & 12 & 4.8 & 5.8 & 6.8 & 7.8 & 8.8 & 9.8 & 10.8 & " \
                       r"11.8 & 12.8 & 13.8 \\"
    assert lines[5] == r"Min-DenseNet & 100 & 12 & 4.6 & 5.6 & 6.6 & 7.6 & 8.6 & 9.6 & 10.6 & " \
                       r"11.6 & 12.6 & 13.6 \\"
    nc = (tmp_path / "images" / "nc_result_table.txt").read_text().splitlines()
    assert nc[4] == r"DenseNet & 100 & 12 & 1.0 & 2.0 & 3.0 & 4.0 & 5.0 & 6.0 & 7.0 & 8.0 & 9.0 \\"
    assert (tmp_path / "images" / "jpeg_L100.png").is_file()


def test_bad_files_are_named_and_skipped(tmp_path, capsys):
    write_exp_10_n9(tmp_path)
    folder = tmp_path / PREDICTIONS
    bad = {EXP_10.run_name("CifarMinFP-LS", 9, 9): "has shape (10000, 10)",
           EXP_10.run_name("CifarMinFP-LS", 9, 507): "has dtype float64",
           EXP_10.run_name("CifarMinFP-LS", 9, 723): "holds values outside the classes 0–9",
           EXP_10.run_name("CifarPyrResNet", 9, 9): "cannot be read as a .npy array"}
    good = np.load(folder / f"{EXP_10.run_name('CifarMinFP-LS', 9, 16)}.npy")
    np.save(folder / f"{EXP_10.run_name('CifarMinFP-LS', 9, 9)}.npy", good[:, :10])
    np.save(folder / f"{EXP_10.run_name('CifarMinFP-LS', 9, 507)}.npy", good.astype(float))
    out_of_range = good.copy()
    out_of_range[0, 3] = 10
    np.save(folder / f"{EXP_10.run_name('CifarMinFP-LS', 9, 723)}.npy", out_of_range)
    (folder / f"{EXP_10.run_name('CifarPyrResNet', 9, 9)}.npy").write_bytes(b"\x93NUMPY garbage")

    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    err = capsys.readouterr().err
    for name, reason in bad.items():
        assert f"warning: skipping {folder / name}.npy: it {reason}" in err
    runs = pd.read_csv(tmp_path / "jpeg_results.csv")
    assert sorted(runs.seed[runs.model_type == "CifarMinFP-LS"]) == [16, 744]
    md = (tmp_path / "jpeg_results.md").read_text()
    assert "6 prediction files" in md and "Skipped (see the warnings): " in md
    assert f"{EXP_10.run_name('CifarPyrResNet', 9, 9)}.npy" in md


def test_missing_logs_leave_the_100_column_empty(tmp_path, capsys):
    write_exp_10_n9(tmp_path, models=("CifarPyrResNet",))
    for seed in EXP_10.seeds:
        (tmp_path / "exp_data" / EXP_10.run_name("CifarPyrResNet", 9, seed) / "log.json").unlink()
    (tmp_path / "exp_data" / EXP_10.run_name("CifarPyrResNet", 9, 9) / "log.json").write_text("{")
    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    assert "not valid JSON" in capsys.readouterr().err
    table = (tmp_path / "images" / "er_result_table.txt").read_text()
    assert r"ResNet & 9 & -- & 10.9 & " in table


def test_csv_has_no_float_noise(exp_10_n9):
    tmp_path, _ = exp_10_n9
    runs = jm.collect_jpeg(EXP_10, tmp_path).table   # read from the same inputs
    noisy = runs[jm.metric_columns()].map(lambda v: round(v, 4) != v).to_numpy().any()
    assert noisy  # e.g. 100 · (1 − 0.9401): what the CSV would carry unrounded
    text = (tmp_path / "jpeg_results.csv").read_text()
    assert not re.search(r"\.\d{5,}", text)
    written = pd.read_csv(tmp_path / "jpeg_results.csv")
    assert written[jm.metric_columns()].to_numpy() == pytest.approx(
        runs[jm.metric_columns()].to_numpy(), abs=5e-5)
    assert sorted(written.er_orig[written.model_type == "CifarMinFP-LS"]) == \
        [5.79, 5.89, 5.99, 6.09, 6.19]

DISAGREES = "differs from its run's last test error in log.json"


def test_predictions_agreeing_with_their_logs_give_no_warning(exp_10_n9):
    tmp_path, err = exp_10_n9
    assert DISAGREES not in err
    assert "disagree" not in (tmp_path / "jpeg_results.md").read_text()


def test_predictions_of_another_model_are_named_and_used(tmp_path, capsys):
    """A file whose error on the uncompressed images is far from the run's last val_er
    (here 6.99 % against 5.99 % in the log): another model's predictions."""
    write_exp_10_n9(tmp_path)
    name = EXP_10.run_name("CifarMinFP-LS", 9, 723)    # seed index 2: 599 wrong, 5.99 %
    path = tmp_path / PREDICTIONS / f"{name}.npy"
    np.save(path, predictions([699] + MIN_NET_WRONG[1:], [50 * v for v in range(1, 10)]))
    log = json.loads((tmp_path / "exp_data" / name / "log.json").read_text())

    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    err = capsys.readouterr().err
    assert err.count(DISAGREES) == 1
    assert (f"warning: {path}: its error on the uncompressed images, 6.99 %, {DISAGREES}, "
            f"{log['val_er'][-1]:.2f} %, by more than 0.5 points") in err
    assert "delete the file and rerun python experiments/exp_10/" in err
    assert "--run-predictions" in err
    runs = pd.read_csv(tmp_path / "jpeg_results.csv")
    assert len(runs) == 10 and runs.er_orig.max() == pytest.approx(6.99)   # still used
    md = (tmp_path / "jpeg_results.md").read_text()
    assert "Predictions that disagree with their run's log (" in md and f"{name}.npy." in md


@pytest.mark.parametrize("log_count, test_subset, warned", [
    (10_000, None, False),   # 1,000 predictions, 10,000 validated images: not comparable
    (1_000, None, True),     # the log says 1,000 validated images
    (None, 1_000, True),     # no val_num_samples: opt.json's test_subset says it
    (None, None, False)])    # neither: the authors' opt.json, the full 10,000
def test_log_check_only_on_the_same_test_images(tmp_path, capsys, log_count, test_subset,
                                                 warned):
    write_exp_10_n9(tmp_path, models=("CifarPyrResNet",))
    name = EXP_10.run_name("CifarPyrResNet", 9, 9)
    path = tmp_path / PREDICTIONS / f"{name}.npy"
    wrong = [k // 10 for k in RESNET_WRONG]
    wrong[0] += 30                                     # 9.2 % on 1,000 images, log 6.1 %
    np.save(path, predictions(wrong, [0] * 9, n=1000))
    folder = tmp_path / "exp_data" / name
    log = json.loads((folder / "log.json").read_text())
    if log_count is None:
        del log["val_num_samples"]
    else:
        log["val_num_samples"] = [log_count] * len(log["val_num_samples"])
    (folder / "log.json").write_text(json.dumps(log))
    opt = json.loads((folder / "opt.json").read_text())
    if test_subset is not None:
        opt["test_subset"] = test_subset
    (folder / "opt.json").write_text(json.dumps(opt))

    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    err = capsys.readouterr().err
    # 1,000 images: one decimal (precision.error_digits), the log's 6.1 % the same.
    assert (f"warning: {path}: its error on the uncompressed images, 9.2 %, {DISAGREES}, "
            "6.1 %" in err) == warned
    assert err.count(DISAGREES) == int(warned)


def test_no_prediction_files(tmp_path):
    with pytest.raises(UserError) as error:
        je.evaluate_jpeg(EXP_10, tmp_path)
    lines = f"error: {error.value}".splitlines()      # as errors.run_main prints it
    assert len(lines) == 1 and str(tmp_path / PREDICTIONS) in lines[0]
    assert lines[0].startswith("error: no usable JPEG prediction files of exp_10")
    assert not (tmp_path / "images").exists()


def test_report_has_both_sections_whichever_runs_first(tmp_path):
    write_exp_10_n9(tmp_path)
    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    report = (tmp_path / "report.md").read_text()
    assert report.index("## Test error\n") < report.index(
        "## Robustness to JPEG compression")
    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0      # rerunning one keeps the other
    assert (tmp_path / "report.md").read_text() == report
    assert not list(tmp_path.rglob("*.tmp"))


def test_rgb_protocol_writes_its_own_files(tmp_path):
    write_exp_10_n9(tmp_path)
    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    paper_table = (tmp_path / "images" / "er_result_table.txt").read_text()
    # The rgb predictions: ResNet only, in their own folder.
    write_exp_10_n9(tmp_path, models=("CifarPyrResNet",),
                    predictions_folder=OUTPUT_FOLDERS["rgb"])
    assert je.evaluate_jpeg(EXP_10, tmp_path, protocol="rgb") == 0
    assert (tmp_path / "images" / "er_result_table.txt").read_text() == paper_table
    rgb_table = (tmp_path / "images" / "er_result_table_rgb.txt").read_text()
    assert "ResNet & 9 & 6.3 & 10.9" in rgb_table and "Min-Net" not in rgb_table
    assert (tmp_path / "images" / "jpeg_rgb_N9.png").is_file()
    report = (tmp_path / "report.md").read_text()
    assert report.index("## Robustness to JPEG compression\n") < report.index(
        "## Robustness to JPEG compression (rgb protocol)")


def test_a_tie_in_the_jpeg_table(tmp_path):
    """DenseNet L = 58 at quality 70: 2,000 and 2,010 wrong of 10,000, mean exactly 20.05."""
    for seed, at_70 in zip(EXP_11_1.seeds[:2], (2000, 2010)):
        name = EXP_11_1.run_name("CifarDenseNet", 58, seed)
        path = tmp_path / OUTPUT_FOLDERS["paper"] / f"{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        wrong = [500, 1000, 1500, at_70, 2500, 3000, 3500, 4000, 4500, 5000]
        np.save(path, predictions(wrong, [0] * 9, seed=seed))
        write_authors_run(tmp_path, EXP_11_1, "CifarDenseNet", 58, seed, 5.0)
    assert je.evaluate_jpeg(EXP_11_1, tmp_path) == 0
    rows = (tmp_path / "images" / "er_result_table.txt").read_text(encoding="utf-8").splitlines()
    assert rows[4].startswith(r"DenseNet & 58 & 12 & 5.0 & 10.0 & 15.0 & 20.0 & 25.0 & ")


def test_an_unfinished_runs_predictions_are_left_out_and_named(tmp_path, capsys):
    write_exp_10_n9(tmp_path)
    name = EXP_10.run_name("CifarMinFP-LS", 9, 723)
    opt_path = tmp_path / "exp_data" / name / "opt.json"
    opt = json.loads(opt_path.read_text(encoding="utf-8"))
    opt_path.write_text(json.dumps(dict(opt, epochs=300)), encoding="utf-8")   # 200 of 300
    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    assert f"leaving out {tmp_path / OUTPUT_FOLDERS['paper'] / name}.npy: its run is " \
           "unfinished (200/300 epochs)" in capsys.readouterr().err
    runs = pd.read_csv(tmp_path / "jpeg_results.csv")
    assert len(runs) == 9 and name not in runs.name.tolist()
    md = (tmp_path / "jpeg_results.md").read_text(encoding="utf-8")
    assert f"Left out, their runs are unfinished (as in the other tables): {name} " \
           "(200/300 epochs)." in md


def test_a_prediction_file_of_the_wrong_shape_is_named_for_deletion(tmp_path, capsys):
    write_exp_10_n9(tmp_path)
    path = tmp_path / OUTPUT_FOLDERS["paper"] / f"{EXP_10.run_name('CifarPyrResNet', 9, 9)}.npy"
    np.save(path, np.zeros((5, 10), dtype=np.int64))
    assert je.evaluate_jpeg(EXP_10, tmp_path) == 0
    assert f"skipping {path}: it has shape (5, 10), expected (n, 11): the label and the " \
           "predictions for versions 0–9; delete it and recompute it with python " \
           f"experiments/exp_10/exe_exp10_jpeg_tests.py --base_folder {tmp_path} " \
           "--run-predictions" in capsys.readouterr().err
