"""experiments/evaluating/test_error.py: the test-error tables of exp_10 and exp_11_1 and the
seed-variance summary of exp_10_1, on run folders in the authors' format whose numbers
are the paper's (tests/paper_runs.py), and on our trainer's.
"""
import json
import math

import pandas as pd
import pytest

from errors import UserError
from experiments.evaluating import run_table as rt
from experiments.evaluating import seed_statistics as stats
from experiments.evaluating import test_error as ev
from experiments.grid import EXP_10, EXP_10_1, EXP_11_1
from paper_runs import (CURVES, PAPER_EXP_10, PAPER_EXP_10_1, PAPER_EXP_11_1,
                        paper_table_cells, values_with_mean_std,
                        values_with_stats, write_authors_run,
                        write_paper_runs, write_short_run)


def test_exp_10_tables_reproduce_the_paper(tmp_path):
    write_paper_runs(tmp_path, EXP_10, PAPER_EXP_10)
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0

    cells = paper_table_cells((tmp_path / "results.md").read_text())
    for n, ((min_mean, min_std), (res_mean, res_std)) in PAPER_EXP_10.items():
        assert cells[n, "Min-Net (CifarMinFP-LS)"] == f"{min_mean:.3f} ± {min_std:.3f}"
        assert cells[n, "ResNet (CifarPyrResNet)"] == f"{res_mean:.3f} ± {res_std:.3f}"
    assert cells[3, "Min-Net (CifarMinFP-LS)"] == "8.048 ± 0.216"

    grouped = pd.read_csv(tmp_path / "grouped_results.csv")
    row = grouped[(grouped.model_type == "CifarPyrResNet") & (grouped.N == 5)].iloc[0]
    assert (round(row.last_val_er_mean, 3), round(row.last_val_er_std, 3)) == (7.198, 0.056)
    assert row.runs == 5 and row.num_params == 465178
    assert {"min_val_er_median", "last_val_er_max", "last_val_er_min"} <= set(grouped.columns)

    results = pd.read_csv(tmp_path / "results.csv")
    assert len(results) == 40
    assert list(results.columns[:7]) == ["name", "model_type", "model", "N", "seed",
                                         "num_params", "min_val_er"]
    assert (results.epochs == 200).all()
    assert results.min_val_er.tolist() == pytest.approx((results.last_val_er - 0.2).tolist())


def test_exp_11_1_tables_reproduce_the_paper(tmp_path):
    write_paper_runs(tmp_path, EXP_11_1, PAPER_EXP_11_1)
    assert ev.evaluate_experiment(EXP_11_1, tmp_path) == 0
    cells = paper_table_cells((tmp_path / "results.md").read_text())
    for depth, ((dn_mean, dn_std), (dm_mean, dm_std)) in PAPER_EXP_11_1.items():
        # The paper prints two decimals; ours has three, the paper's plus a 0.
        assert cells[depth, "DenseNet (CifarDenseNet)"] == f"{dn_mean:.2f}0 ± {dn_std:.2f}0"
        assert cells[depth, "Min-DenseNet (CifarDenseMin)"] == f"{dm_mean:.2f}0 ± {dm_std:.2f}0"
    assert "L" in pd.read_csv(tmp_path / "results.csv").columns


def test_exp_10_1_results_txt_reproduces_the_paper(tmp_path):
    p = PAPER_EXP_10_1
    # results.txt is the authors': numpy's std, ddof=0 (docs/reference.md §6).
    last = values_with_stats(12, p["min"], p["max"], p["median"], p["mean"], p["std"], ddof=0)
    for seed, value in zip(EXP_10_1.seeds, last):
        write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, value, min_val_er=value - 0.3)
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    assert (tmp_path / "results.txt").read_text() == (
        "Median last: 7.100\nMean last: 7.267\nStd last: 0.502\n"
        "Min last: 6.700\nMax last: 8.260\nMedian min: 6.800\n")
    for suffix in ("png", "pdf"):
        assert (tmp_path / "images" / f"error_curves.{suffix}").stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert "He et al. 2016, ResNet-56: 6.97 %" in md
    assert "![training and test error per epoch](images/error_curves.png)" in md


def test_min_net_differences_in_results_md(tmp_path):
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    table = stats.min_net_differences(rt.collect_runs(EXP_10, tmp_path).table, EXP_10)
    row = table.iloc[0]
    assert row["size"] == 3 and row.difference == pytest.approx(8.048 - 8.324)
    expected = stats.welch_interval(values_with_mean_std(8.048, 0.216, 5),
                                 values_with_mean_std(8.324, 0.384, 5))
    assert row.ci_low == pytest.approx(expected["ci_low"])
    md = (tmp_path / "results.md").read_text()
    assert "| 3 | 5 / 5 | -0.276 | [" in md and "Welch" in md


def test_malformed_unfinished_and_missing_runs(tmp_path, capsys):
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    bad = tmp_path / "exp_data" / EXP_10.run_name("CifarMinFP-LS", 3, 9)
    (bad / "log.json").write_text('{"val_er": [1.0, ')               # cut off mid-write
    not_numbers = tmp_path / "exp_data" / EXP_10.run_name("CifarMinFP-LS", 3, 507)
    (not_numbers / "log.json").write_text('{"val_er": ["a"]}')
    write_authors_run(tmp_path, EXP_10, "CifarPyrResNet", 5, 9, 7.0, epochs_done=120)
    (tmp_path / "exp_data" / EXP_10.run_name("CifarPyrResNet", 3, 16) / "model_specs.json").unlink()

    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    err = capsys.readouterr().err
    assert f"warning: skipping {bad.name}: {bad}/log.json is not valid JSON" in err
    assert f"warning: skipping {not_numbers.name}: {not_numbers}/log.json: 'val_er'" in err
    assert "no parameter count" in err
    results = pd.read_csv(tmp_path / "results.csv")
    assert len(results) == 8 and bad.name not in results.name.tolist()
    md = (tmp_path / "results.md").read_text()
    assert "8 of the grid's 40 runs finished" in md
    assert "CifarPyrResNet_s9_N5 (120/200 epochs)" in md and bad.name in md


def edit_log(folder, **changes):
    """Rewrite some keys of a run folder's log.json (None removes the key)."""
    log = json.loads((folder / "log.json").read_text())
    for key, value in changes.items():
        if value is None:
            log.pop(key, None)
        else:
            log[key] = value
    (folder / "log.json").write_text(json.dumps(log))


def test_malformed_train_error_and_time_keep_the_run(tmp_path, capsys):
    """`er` and `sec` are only needed for last_train_er and hours: a run whose test errors
    are fine still counts, with those cells empty and a warning naming folder and key."""
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    folders = {seed: tmp_path / "exp_data" / EXP_10.run_name("CifarMinFP-LS", 3, seed)
               for seed in (9, 16, 507)}
    log = json.loads((folders[9] / "log.json").read_text())
    edit_log(folders[9], er=log["er"][:-1] + [None])                 # er[-1] = null
    edit_log(folders[16], sec=log["sec"][:3] + ["21.5"] + log["sec"][4:])  # a string in sec
    edit_log(folders[507], er=None)                                   # no er at all

    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    err = capsys.readouterr().err
    assert f"warning: {folders[9]}/log.json: 'er' is missing or not a list of finite " \
           "numbers; left out: its training error" in err
    assert f"warning: {folders[507]}/log.json: 'er' is missing" in err
    assert f"warning: {folders[16]}/log.json: 'sec' is missing or not a list of finite " \
           "numbers; left out: its training time (hours)" in err
    assert "Traceback" not in err
    results = pd.read_csv(tmp_path / "results.csv").set_index("seed")
    minimal = results[results.model_type == "CifarMinFP-LS"]
    assert len(results) == 10                     # every run counts
    assert sorted(minimal.index[minimal.last_train_er.isna()]) == [9, 507]
    assert minimal.index[minimal.hours.isna()].tolist() == [16]
    assert minimal.loc[723, "hours"] == pytest.approx(200 * 23.0 / 3600)
    assert minimal.last_val_er.notna().all()
    cells = paper_table_cells((tmp_path / "results.md").read_text())
    assert cells[3, "Min-Net (CifarMinFP-LS)"] == "8.048 ± 0.216"   # their val_er still counts
    assert (tmp_path / "images" / "error_vs_params.png").is_file()


def test_exp_10_1_run_without_train_error_is_left_out_of_the_curves(tmp_path, capsys):
    """One run's `er` unusable: the curves leave it out (named), results.txt counts it."""
    values = [7.0, 7.2, 8.0]
    for seed, value in zip(EXP_10_1.seeds, values):
        write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, value)
    worst = tmp_path / "exp_data" / EXP_10_1.run_name("CifarResNet", 9, EXP_10_1.seeds[2])
    edit_log(worst, er="not a list")             # the worst run: its line is drawn too

    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    err = capsys.readouterr().err
    assert f"warning: {worst}/log.json: 'er' is missing or not a list of finite numbers; " \
           "left out: its training error (last_train_er, training-error curve)" in err
    text = (tmp_path / "results.txt").read_text()
    assert "Median last: 7.200\nMean last: 7.400\n" in text and "Max last: 8.000\n" in text
    assert (tmp_path / "images" / "error_curves.png").stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert f"The training-error curves leave out {worst.name}" in md
    assert "3 of the grid's" in md


def test_exp_10_1_one_run_prints_no_nan(tmp_path, capsys):
    """One run: no std to print. Its `er` is bad too, so the training panel has no curve."""
    write_authors_run(tmp_path, EXP_10_1, "CifarResNet", 9, EXP_10_1.seeds[0], 7.25,
                      min_val_er=7.0)
    run = tmp_path / "exp_data" / EXP_10_1.run_name("CifarResNet", 9, EXP_10_1.seeds[0])
    edit_log(run, er=None)
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    assert (tmp_path / "results.txt").read_text() == (
        "Median last: 7.250\nMean last: 7.250\nStd last: n/a (one run)\n"
        "Min last: 7.250\nMax last: 7.250\nMedian min: 7.000\n")
    # NaN stays in the computation; only the printing changes.
    logs = rt.collect_runs(EXP_10_1, tmp_path).logs.values()
    stack = stats.stacked_curves([log["val_er"] for log in logs])
    assert math.isnan(stats.authors_variance_summary(stack)["Std last"])
    assert (tmp_path / "images" / "error_curves.png").stat().st_size > 1000
    md = (tmp_path / "results.md").read_text()
    assert "Std last: n/a (one run)" in md and "nan" not in md


def test_no_finished_runs_is_one_line_and_non_zero(tmp_path, capsys):
    write_authors_run(tmp_path, EXP_10, "CifarPyrResNet", 3, 9, 7.0, epochs_done=3)
    with pytest.raises(UserError) as experiment_error:
        ev.evaluate_experiment(EXP_10, tmp_path)
    with pytest.raises(UserError) as variance_error:
        ev.evaluate_seed_variance(EXP_10_1, tmp_path)
    # What errors.run_main prints of them: one line each.
    lines = f"error: {experiment_error.value}\nerror: {variance_error.value}".splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"error: no finished runs of exp_10 in {tmp_path / 'exp_data'}")
    assert "exe_move_models_to_exp_folder.py" in lines[0] and "train" in lines[0]
    assert not (tmp_path / "results.csv").exists()


def test_results_txt_has_the_authors_definitions(tmp_path):
    for seed, curve in CURVES.items():
        write_short_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, curve)
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    assert (tmp_path / "results.txt").read_text(encoding="utf-8") == (
        "Median last: 8.000\nMean last: 7.667\nStd last: 1.247\n"
        "Min last: 6.000\nMax last: 9.000\nMedian min: 8.000\n")
    # Our statistics of errors on 1,000 test images: one decimal (results.txt keeps the
    # authors' three).
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| Std of last (ddof=1) | 1.5 |" in md
    assert "| Median of run minima | 6.0 |" in md
    assert "Errors to 1 decimal: on 1,000 images one image is 0.1 %. (results.txt keeps" in md


def test_results_csv_has_no_float_noise(tmp_path):
    noisy = 100 * (1 - 0.834)                           # 16.599999999999994
    assert repr(noisy) != "16.6"
    for seed in EXP_10_1.seeds[:2]:
        write_short_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, [50.0, noisy])
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    text = (tmp_path / "results.csv").read_text(encoding="utf-8")
    assert "16.59999" not in text and ",16.6," in text

SMOKE_NOTE = "smoke run of 1 epoch on 2,048 images -- a check of the flow, not the paper's numbers"


def test_smoke_outputs_say_what_they_are(tmp_path):
    for model_type in EXP_10.models:
        write_short_run(tmp_path, EXP_10, model_type, 3, 9, [88.0], train_subset=2048)
    assert ev.evaluate_experiment(EXP_10, tmp_path, profile="smoke") == 0
    for name in ("results.md", "report.md"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert SMOKE_NOTE in text or SMOKE_NOTE[:1].upper() + SMOKE_NOTE[1:] in text, name
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert md.count(SMOKE_NOTE[1:]) == 1          # once, under the heading
    assert md.splitlines()[2] == f"**S{SMOKE_NOTE[1:]}.**"
    assert "\nTest error (%) after the last epoch" in md
    # 1,000 test images (the smoke profile's): one decimal, not the paper's three.
    assert "| 3 | 88.0 | 88.0 |" in md and "88.000" not in md
    assert "Errors to 1 decimal: on 1,000 images one image is 0.1 %." in md


def test_paper_runs_carry_no_smoke_note(tmp_path):
    write_paper_runs(tmp_path, EXP_10, {9: PAPER_EXP_10[9]})
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    # (The report's commands name the base folder, whose name has the test's in it.)
    text = (tmp_path / "report.md").read_text(encoding="utf-8").replace(str(tmp_path), "B")
    assert "smoke" not in text.lower()


# ----------------------------------------------- which data made the numbers (issue 21)

def record_data(base_folder, names, record: dict) -> None:
    """Give the named runs' opt.json a data record, as our trainer writes it."""
    for name in names:
        path = base_folder / "exp_data" / name / "opt.json"
        path.write_text(json.dumps(dict(json.loads(path.read_text()), data=record)))


def test_sections_are_headed_on_cifar10_only_when_every_run_recorded_the_official_files(
        tmp_path):
    from datasets.identity import describe
    from datasets.cifar10 import synthetic_cifar10, write_cifar10_batches

    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    names = [EXP_10.run_name(m, 3, s) for m in EXP_10.models for s in EXP_10.seeds]
    write_cifar10_batches(tmp_path / "data", *synthetic_cifar10(20, 10, seed=1))
    folder = tmp_path / "data" / "cifar-10-batches-py"
    table = dict(name="CIFAR-10", folder=folder.name, md5=describe(folder)["md5"])
    official = describe(folder, official=table)          # as if these were the official files
    assert official["text"] == "CIFAR-10 (official files, checksums verified)"
    record_data(tmp_path, names, official)
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    text = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert text.startswith("## Test error on CIFAR-10\n")
    assert "Trained and tested on: CIFAR-10 (official files, checksums verified)." in text
    results = pd.read_csv(tmp_path / "results.csv")
    assert set(results.data) == {"CIFAR-10 (official files, checksums verified)"}

    other = describe(folder)                             # torchvision's sums: not these files
    record_data(tmp_path, names[:1], other)
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    text = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert text.startswith("## Test error\n")
    assert (f"Trained and tested on: {other['text']} ({names[0]}); CIFAR-10 (official files, "
            f"checksums verified) ({', '.join(names[1:7])} and 3 more).") in text
    assert set(pd.read_csv(tmp_path / "results.csv").data) == {other["text"], official["text"]}
