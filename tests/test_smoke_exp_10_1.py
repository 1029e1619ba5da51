"""exp_10_1's smoke flow through the real scripts as subprocesses: the ResNet N=9 run
trained (it must beat chance clearly) and the spread of its errors evaluated."""
import json

import pytest

from experiments import grid
from helpers import assert_a_drawn_png
import run_folder as rf
from smoke_flows import (CPU, DEEP_BATCHES, DEEP_EPOCHS, assert_learned, run_script,
                         smoke_runs)

pytestmark = pytest.mark.slow


def test_smoke_flow_seed_variance(tmp_path, smoke_env):
    run_script("exp_10_1/exe_train_exp_10_1.py", tmp_path, *CPU, *DEEP_BATCHES,
               env=smoke_env)
    run_script("exp_10_1/exe_eval_exp_10_1.py", tmp_path, env=smoke_env)
    text = (tmp_path / "results.txt").read_text()
    for label in ("Median last:", "Mean last:", "Std last:", "Min last:", "Max last:",
                  "Median min:"):
        assert label in text
    (run,) = smoke_runs(grid.EXP_10_1)
    assert_learned(tmp_path / rf.EXP_DATA / run, DEEP_EPOCHS)
    last = json.loads((tmp_path / rf.EXP_DATA / run / "log.json").read_text())["val_er"][-1]
    assert f"Median last: {last:.3f}" in text
    assert_a_drawn_png(tmp_path / "images" / "error_curves.png")
