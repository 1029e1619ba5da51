"""experiments/evaluating/result_files.py, the skeleton of the corruption and adversarial
evaluations, through both: the smoke note, unfinished runs left out and named, one set of
files (no old outputs beside new ones), exact hints."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from datasets.cifar10c import BENCHMARK_CORRUPTIONS
from errors import UserError
from experiments.evaluating import adversarial as adversarial_eval
from experiments.evaluating import corruptions as corruption_eval
from experiments.grid import EXP_10
from helpers import write_run
from run_folder import EXP_DATA
from robustness import adversarial, corruptions

GRID = replace(EXP_10, sizes=(3,), seeds=(9, 507))
N = 4                                    # images per severity
LABELS = np.tile(np.arange(N, dtype=np.uint8), 5)
SMOKE_NOTE = "smoke run of 1 epoch on 2,048 images -- a check of the flow, not the paper's numbers"
HEADED = SMOKE_NOTE[:1].upper() + SMOKE_NOTE[1:] + "."
SETTINGS = adversarial.AttackSettings(norm="Linf", attacks="apgd-ce", n_images=4)


def run_folder(base, name, epochs_done, **opt):
    """A run folder whose log holds `epochs_done` epochs; opt.json as given (epochs…)."""
    write_run(base / EXP_DATA / name, opt.pop("epochs", None), epochs_done, val_er=20.0, **opt)


def write_grid(base, epochs_done=1, **opt):
    """Every run of GRID with a corruption prediction file (one image of four wrong for
    the Min-Net, two for the baseline) and an adversarial result file."""
    opt = opt or dict(epochs=1, train_subset=2048)
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        run_folder(base, name, epochs_done, **opt)
        wrong = 1 if model_type == "CifarMinFP-LS" else 2
        predicted = LABELS.copy()
        predicted[np.arange(len(LABELS)) % N < wrong] += 1
        corruptions.write_predictions(corruptions.output_file(base, name), N, LABELS,
                                      {c: predicted for c in BENCHMARK_CORRUPTIONS})
        flags = {0.0: np.arange(4) >= wrong, 1.0: np.arange(4) >= wrong + 1}
        adversarial.write_results(adversarial.output_file(base, name, SETTINGS), flags,
                                  SETTINGS)


EVALUATIONS = [(corruption_eval.evaluate_corruptions, corruption_eval),
               (adversarial_eval.evaluate_adversarial, adversarial_eval)]


@pytest.mark.parametrize("evaluate, module", EVALUATIONS)
def test_smoke_outputs_say_what_they_are(tmp_path, evaluate, module, capsys):
    write_grid(tmp_path)
    assert evaluate(GRID, tmp_path, profile="smoke") == 0
    plotted = "2 plots" if module is corruption_eval else "1 plot"   # severity N=3, differences
    assert f" and {plotted} (PNG and PDF)" in capsys.readouterr().out
    section = (tmp_path / module.SECTION_FILE).read_text(encoding="utf-8")
    # Under the heading, once: not again before every table's caption.
    assert section.splitlines()[2] == f"**{HEADED}**"
    assert section.count(SMOKE_NOTE[1:]) == 1
    caption = ("Test error (%) per corruption" if module is corruption_eval
               else "Robust error (%) per attack setting")
    assert f"\n{caption}" in section
    report_md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert f"**{HEADED}**" in report_md and section.strip() in report_md


def test_smoke_plots_are_titled_with_the_note(tmp_path):
    write_grid(tmp_path)
    runs = corruption_eval.collect_corruptions(GRID, tmp_path).table
    diffs = corruption_eval.differences(runs, GRID)
    for fig in (corruption_eval.plot_severity(runs, GRID, 3, SMOKE_NOTE),
                corruption_eval.plot_differences(diffs, GRID, SMOKE_NOTE)):
        assert fig._suptitle.get_text() == SMOKE_NOTE
    runs = adversarial_eval.collect_adversarial(GRID, tmp_path).table
    fig = adversarial_eval.plot_curves(runs, GRID, "apgd-ce", "Linf", SMOKE_NOTE)
    assert fig._suptitle.get_text() == SMOKE_NOTE


@pytest.mark.parametrize("evaluate, module", EVALUATIONS)
def test_runs_trained_as_in_the_paper_carry_no_note(tmp_path, evaluate, module):
    epochs = GRID.recipe["epochs"]
    write_grid(tmp_path, epochs_done=epochs, epochs=epochs)
    assert evaluate(GRID, tmp_path) == 0
    assert "smoke" not in (tmp_path / "report.md").read_text(encoding="utf-8").lower()


@pytest.mark.parametrize("evaluate, module", EVALUATIONS)
def test_an_unfinished_runs_files_are_left_out_and_named(tmp_path, capsys, evaluate, module):
    write_grid(tmp_path)
    name = GRID.run_name("CifarPyrResNet", 3, 507)
    run_folder(tmp_path, name, 1, epochs=30, train_subset=2048)     # 1 of 30 epochs
    assert evaluate(GRID, tmp_path, profile="smoke") == 0
    assert "its run is unfinished (1/30 epochs)" in capsys.readouterr().err
    runs = pd.read_csv(tmp_path / module.CSV_FILE)
    assert name not in runs.name.tolist() and runs.name.nunique() == 3
    section = (tmp_path / module.SECTION_FILE).read_text(encoding="utf-8")
    assert f"Left out, their runs are unfinished (as in the other tables): {name} " \
           "(1/30 epochs)." in section


def test_a_finished_run_without_a_file_is_named_with_the_command(tmp_path):
    write_grid(tmp_path)
    name = GRID.run_name("CifarMinFP-LS", 3, 9)
    corruptions.output_file(tmp_path, name).unlink()
    assert corruption_eval.evaluate_corruptions(GRID, tmp_path, profile="smoke") == 0
    section = (tmp_path / corruption_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert f"Finished runs without usable results (left out): {name}; compute them with " \
           "python experiments/exp_10/exe_exp10_corruption_tests.py --profile smoke " \
           f"--base_folder {tmp_path} --run-predictions." in section


def test_old_outputs_never_stand_beside_new_ones(tmp_path):
    write_grid(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    # A plot of a size no longer evaluated, a killed write's leftover, another
    # evaluation's section: the first two go, the last stays in report.md.
    stale = [images / "corruption_severity_N9.png", images / ".corruption_difference.pdf.x.tmp"]
    for path in stale:
        path.write_bytes(b"old")
    (tmp_path / "jpeg_results.md").write_text("## Robustness to JPEG compression\n",
                                              encoding="utf-8")
    assert corruption_eval.evaluate_corruptions(GRID, tmp_path) == 0
    assert not any(path.exists() for path in stale)
    assert (images / "corruption_severity_N3.png").is_file()
    report_md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report_md.index("JPEG compression") < report_md.index("common corruptions")
    assert adversarial_eval.evaluate_adversarial(GRID, tmp_path) == 0
    report_md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report_md.index("common corruptions") < report_md.index("Adversarial robustness")


def test_no_usable_file_names_the_exact_command(tmp_path):
    write_grid(tmp_path)
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        corruptions.output_file(tmp_path, name).write_bytes(b"not an npz")  # unusable
        adversarial.output_file(tmp_path, name, SETTINGS).unlink()
    with pytest.raises(UserError) as error:
        corruption_eval.evaluate_corruptions(GRID, tmp_path, profile="smoke")
    assert str(error.value).endswith(
        "compute them with python experiments/exp_10/exe_exp10_corruption_tests.py --profile "
        f"smoke --base_folder {tmp_path} --run-predictions")
    with pytest.raises(UserError) as error:
        adversarial_eval.evaluate_adversarial(GRID, tmp_path, profile="smoke")
    assert str(error.value).endswith(
        "compute them with python experiments/exp_10/exe_exp10_adversarial_tests.py --profile "
        f"smoke --base_folder {tmp_path} --run-predictions")
