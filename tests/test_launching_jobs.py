"""experiments/launching/jobs.py: what is planned for each run (start, resume, skip) and
each prediction file (recompute an unusable one, skip an unfinished run).
"""

import numpy as np

from experiments import grid
from experiments import robustness_suite as prediction_kinds
from experiments.launching import jobs as plan
from experiments.launching import runs as grid_runs
from helpers import write_run
import run_folder as rf


def test_prediction_plan_recomputes_unusable_files_and_skips_unfinished_runs(tmp_path):
    runs = grid_runs.select_runs(grid.EXP_11_1, "smoke", base_folder=tmp_path,
                            seeds=[9, 507], models=["CifarDenseNet"])
    good, bad = runs
    unfinished = grid_runs.select_runs(grid.EXP_11_1, "smoke", base_folder=tmp_path, seeds=[723],
                                  models=["CifarDenseMin"])[0]
    for run in (good, bad):
        write_run(run.folder)
    write_run(unfinished.folder, 1, 0)     # model.pt, but its log is short
    kind = prediction_kinds.jpeg()
    kind.output(tmp_path, good.name).parent.mkdir(parents=True)
    np.save(kind.output(tmp_path, good.name), np.zeros((3, 11), np.int64))
    np.save(kind.output(tmp_path, bad.name), np.zeros((3, 4), np.int64))
    np.save(kind.output(tmp_path, unfinished.name), np.zeros((3, 11), np.int64))
    planned = plan.prediction_jobs(kind, [good, bad, unfinished], tmp_path,
                                   tmp_path / rf.LOGS)
    assert [j.action for j in planned] == [plan.SKIP, plan.START, plan.SKIP]
    assert planned[0].note == "predictions exist"
    assert planned[1].note.startswith(f"recompute: {bad.name}.npy has shape (3, 4)")
    assert planned[2].note == "training unfinished"
    assert planned[1].log.name == f"{bad.name}.jpeg_model_predictions.log"
    assert not plan.untrained(planned)
