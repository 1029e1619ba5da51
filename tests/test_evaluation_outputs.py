"""The evaluations' outputs: the authors' definitions where our file stands in for theirs,
smoke headings and hints, one consistent set of files after a failure, plain text under
an ASCII locale."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import atomic_files
from errors import UserError
from experiments import grid
from experiments.evaluating import jpeg as je
from experiments.rendering import plots
from experiments.rendering import tables
from experiments.evaluating import test_error as ev
from experiments.grid import EXP_10, EXP_10_1, EXP_11_1
from robustness.jpeg import OUTPUT_FOLDERS
from test_evaluation import PAPER_EXP_10, REPO_ROOT, write_authors_run, write_paper_runs
from test_jpeg_eval import predictions, write_exp_10_n9


def write_short_run(base_folder, experiment, model_type, size, seed, val_er, **opt_extra):
    """A run folder of len(val_er) epochs, as our trainer writes it (opt.json asks for
    exactly those epochs, so the run is finished)."""
    folder = base_folder / "exp_data" / experiment.run_name(model_type, size, seed)
    folder.mkdir(parents=True, exist_ok=True)
    epochs = len(val_er)
    opt = dict(model_type=model_type, seed=seed, epochs=epochs, **opt_extra)
    log = dict(val_er=list(val_er), er=[50.0 - e for e in range(epochs)], sec=[1.0] * 2 * epochs,
               val_num_samples=[1000] * epochs)
    (folder / "opt.json").write_text(json.dumps(opt), encoding="utf-8")
    (folder / "log.json").write_text(json.dumps(log), encoding="utf-8")
    (folder / "model_specs.json").write_text(json.dumps({"num_params": 1000.0}),
                                             encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- results.txt

# Three runs, three epochs: the last-epoch std is 1.247 with ddof=0 and 1.528 with ddof=1;
# the median curve (10, 8, 8) has its minimum at 8, the runs' minima (5, 6, 8) their
# median at 6.
CURVES = {257: [10.0, 5.0, 9.0], 408: [10.0, 9.0, 6.0], 464: [10.0, 8.0, 8.0]}


def test_results_txt_has_the_authors_definitions(tmp_path):
    for seed, curve in CURVES.items():
        write_short_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, curve)
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    assert (tmp_path / "results.txt").read_text(encoding="utf-8") == (
        "Median last: 8.000\nMean last: 7.667\nStd last: 1.247\n"
        "Min last: 6.000\nMax last: 9.000\nMedian min: 8.000\n")
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| Std of last (ddof=1) | 1.528 |" in md
    assert "| Median of run minima | 6.000 |" in md


def test_the_plot_draws_the_authors_extreme_runs_and_marks_short_curves():
    """Lowest and highest mean over the last 10 epochs, not the last epoch: seed 2 ends
    lowest but has the highest mean. One epoch: points with markers."""
    long = [[5.0] * 9 + [5.0], [6.0] * 9 + [4.0], [4.0] * 10]
    labels = plots.extreme_labels(3, 2)
    fig = plots.error_curves([], long, {labels[0]: (None, long[2]), labels[1]: (None, long[1])},
                             None, "t")
    test_panel = fig.axes[1]
    drawn = {line.get_label() for line in test_panel.lines}
    assert "min run (seed 3): lowest mean test error over the last 10 epochs" in drawn
    assert all(line.get_marker() == "o" for line in test_panel.lines)
    fig = plots.error_curves([[50.0]], [[80.0], [85.0]], {}, None, "smoke")
    assert [len(line.get_xdata()) for line in fig.axes[1].lines] == [1, 1]
    assert all(line.get_marker() == "o" for line in fig.axes[1].lines)


# --------------------------------------------------------------------------- rounding

def test_a_tie_rounds_half_to_even_as_the_authors():
    assert f"{20.05:.1f}" == "20.1"                     # what '%.1f' would print
    assert tables.authors_number(20.05, 1) == "20.0"
    assert tables.authors_number(0.25, 1) == "0.2" and tables.authors_number(0.35, 1) == "0.4"


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


# --------------------------------------------------------------------------- csv

def test_results_csv_has_no_float_noise(tmp_path):
    noisy = 100 * (1 - 0.834)                           # 16.599999999999994
    assert repr(noisy) != "16.6"
    for seed in EXP_10_1.seeds[:2]:
        write_short_run(tmp_path, EXP_10_1, "CifarResNet", 9, seed, [50.0, noisy])
    assert ev.evaluate_seed_variance(EXP_10_1, tmp_path) == 0
    text = (tmp_path / "results.csv").read_text(encoding="utf-8")
    assert "16.59999" not in text and ",16.6," in text


# --------------------------------------------------------------------------- smoke

SMOKE_NOTE = "smoke run of 1 epoch on 2048 images -- a check of the flow, not the paper's numbers"


def test_smoke_outputs_say_what_they_are(tmp_path):
    for model_type in EXP_10.models:
        write_short_run(tmp_path, EXP_10, model_type, 3, 9, [88.0], train_subset=2048)
    assert ev.evaluate_experiment(EXP_10, tmp_path, profile="smoke") == 0
    for name in ("results.md", "report.md"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert SMOKE_NOTE in text or SMOKE_NOTE[:1].upper() + SMOKE_NOTE[1:] in text, name
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "Smoke run of 1 epoch on 2048 images -- a check of the flow, not the paper's " \
           "numbers. Test error (%) after the last epoch" in md


def test_paper_runs_carry_no_smoke_note(tmp_path):
    write_paper_runs(tmp_path, EXP_10, {9: PAPER_EXP_10[9]})
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    assert "smoke" not in (tmp_path / "report.md").read_text(encoding="utf-8").lower()


def test_hints_name_the_exact_command_of_the_profile(tmp_path):
    assert grid.command(EXP_10_1, "train", "smoke", EXP_10_1.base_folder("smoke")) \
        == "python experiments/exp_10_1/exe_train_exp_10_1.py --profile smoke"
    assert grid.command(EXP_10_1, "train") == \
        "python experiments/exp_10_1/exe_train_exp_10_1.py"
    assert grid.infer_profile(EXP_10, EXP_10.base_folder("smoke")) == "smoke"
    with pytest.raises(UserError) as error:
        ev.evaluate_seed_variance(EXP_10_1, tmp_path, profile="smoke")
    assert "train them first with python experiments/exp_10_1/exe_train_exp_10_1.py " \
           f"--profile smoke --base_folder {tmp_path}, or" in str(error.value)
    with pytest.raises(UserError) as error:
        je.evaluate_jpeg(EXP_10, tmp_path, profile="smoke")
    assert "compute them with python experiments/exp_10/exe_exp10_jpeg_tests.py --profile " \
           f"smoke --base_folder {tmp_path} --run-predictions," in str(error.value)


# --------------------------------------------------------------------------- JPEG files

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


# --------------------------------------------------------------------------- one set

def test_a_failed_write_leaves_no_mix_of_old_and_new(tmp_path, monkeypatch):
    write_paper_runs(tmp_path, EXP_10, {3: PAPER_EXP_10[3]})
    (tmp_path / "jpeg_results.md").write_text("## Robustness to JPEG compression\n\nJPEG PART\n",
                                              encoding="utf-8")
    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    stale = tmp_path / "images" / ".error_vs_params.pdf.x1y2.tmp"   # a killed earlier write
    stale.write_bytes(b"half a pdf")
    write_authors_run(tmp_path, EXP_10, "CifarPyrResNet", 5, 9, 7.0)  # an 11th run

    real_write, written = atomic_files.write_bytes, []

    def full_disk_after_two(path, data):   # the third write fails, the later ones work
        if len(written) == 2:
            written.append(None)
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(atomic_files, "write_bytes", full_disk_after_two)
    with pytest.raises(OSError):
        ev.evaluate_experiment(EXP_10, tmp_path)
    monkeypatch.undo()

    # Nothing of this evaluation is left, old or new; report.md shows the other section only.
    for name in ("results.csv", "grouped_results.csv", "results.md",
                 "images/error_vs_params.png", "images/error_vs_params.pdf"):
        assert not (tmp_path / name).exists(), name
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "JPEG PART" in report and "10 of the grid's" not in report
    assert not list(tmp_path.rglob("*.tmp"))

    assert ev.evaluate_experiment(EXP_10, tmp_path) == 0
    assert len(pd.read_csv(tmp_path / "results.csv")) == 11
    assert "11 of the grid's 40 runs" in (tmp_path / "report.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- locale

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
