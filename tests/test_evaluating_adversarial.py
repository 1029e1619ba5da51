"""experiments/evaluating/adversarial.py: the adversarial tables from hand-made result files.
"""

import numpy as np
import pandas as pd

import robustness_runs
from experiments.evaluating import adversarial as adversarial_eval
from robustness import adversarial
from robustness.adversarial import AttackSettings
from robustness_runs import (APGD, N_PER_SEVERITY, SEVERITY_LABELS, THREE_SEEDS, attack_flags,
                             evaluated_run)

GRID, N, LABELS = THREE_SEEDS, N_PER_SEVERITY, SEVERITY_LABELS
finished_run = evaluated_run


def test_adversarial_tables_from_hand_made_files(tmp_path):
    settings = adversarial.AttackSettings(norm="Linf", attacks="apgd-ce", n_images=4)
    for model_type, size, seed in GRID.points():
        name = GRID.run_name(model_type, size, seed)
        finished_run(tmp_path, name)
        broken = 1 if model_type == "CifarMinFP-LS" else 2 + (seed == 723)
        flags = {0.0: np.array([False, True, True, True]),
                 1.0: np.arange(4) >= broken, 8.0: np.zeros(4, bool)}
        adversarial.write_results(adversarial.output_file(tmp_path, name, settings), flags,
                                  settings)
    found = adversarial_eval.collect_adversarial(GRID, tmp_path)
    runs, missing = found.table, found.missing
    assert missing == [] and len(runs) == 6 * 3
    minnet = runs[(runs.model_type == "CifarMinFP-LS") & (runs.eps == 1.0)]
    assert minnet.er.tolist() == [25.0] * 3
    table = adversarial_eval.comparison_table(runs, GRID)
    row = table[table["eps (/255)"] == 1.0].iloc[0]
    # Errors on 4 images move in steps of 25 %: whole percents.
    assert row["Min-Net"] == "25 ± 0" and row["ResNet"].startswith("58 ± ")
    assert row["difference, 95% CI"].startswith("-33 [")
    assert adversarial_eval.evaluate_adversarial(GRID, tmp_path) == 0
    text = (tmp_path / adversarial_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "Adversarial robustness" in text
    assert text.strip() in (tmp_path / "report.md").read_text(encoding="utf-8")
    csv = pd.read_csv(tmp_path / adversarial_eval.CSV_FILE)
    assert list(csv.columns) == ["name", "model_type", "N", "seed", "attack", "norm", "eps", "n",
                                 "er", "data"]
    assert set(csv.data) == {"not recorded (a file from before data records)"}
    assert "Attacked images: not recorded (a file from before data records)." in text
    assert (tmp_path / "images" / "adversarial_Linf_apgd-ce.png").is_file()


# ------------------------------------------ what a robustness file records (issue 23)

def test_the_adversarial_evaluation_leaves_out_runs_on_other_image_counts(tmp_path):
    minnet, resnet = (robustness_runs.GRID.run_name(m, 3, 9) for m in robustness_runs.GRID.models)
    for name, n in ((minnet, 4), (resnet, 32)):
        robustness_runs.finished_run(tmp_path, name)
        settings = AttackSettings(n_images=n, **APGD)
        adversarial.write_results(adversarial.output_file(tmp_path, name, settings),
                                  attack_flags(n, {0.0: 1, 1.0: 2}), settings)
    assert adversarial_eval.evaluate_adversarial(robustness_runs.GRID, tmp_path) == 0
    csv = (tmp_path / adversarial_eval.CSV_FILE).read_text(encoding="utf-8")
    assert minnet not in csv and resnet in csv
    section = (tmp_path / adversarial_eval.SECTION_FILE).read_text(encoding="utf-8")
    assert "attacked on the first 32 test images" in section
    assert f"{minnet} (n 4, attack_seed 0)" in section
