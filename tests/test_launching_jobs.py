"""experiments/launching/jobs.py: what is planned for each run (start, resume, skip) and
each prediction file (recompute an unusable one, skip an unfinished run).
"""

import numpy as np

import run_folder as rf
from datasets import cifar10c
from experiments import grid
from experiments import robustness_suite as prediction_kinds
from experiments import robustness_suite as suite
from experiments.launching import jobs
from experiments.launching import jobs as plan
from experiments.launching import runs as grid_runs
from helpers import write_run
from robustness import corruptions, provenance
from robustness.per_run_script import trained_model
from robustness_runs import N_TEST, corrupt, smoke_runs, trained_run


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


# ------------------------------------------ what a robustness file records (issue 23)

def test_a_retrained_run_gets_its_corruption_predictions_computed_again(data, tmp_path):
    base = tmp_path / "exp"
    run = smoke_runs(base)[0]
    trained_run(run.folder, seed=0)
    assert corrupt(run.folder, base) == 0
    output = corruptions.output_file(base, run.name)
    first = corruptions.read_predictions(output)["record"]
    assert first["weights"] == provenance.weights_fingerprint(run.folder)
    assert first["n"] == N_TEST and first["subset"] is None and first["data"].startswith("sha")
    kind = suite.corruption()
    assert jobs.prediction_jobs(kind, [run], base, base / "logs")[0].action == jobs.SKIP

    trained_run(run.folder, seed=1)       # retrained with --do_overwrite: other weights
    job, = jobs.prediction_jobs(kind, [run], base, base / "logs")
    assert job.action == jobs.START and "other weights" in job.note
    assert corrupt(run.folder, base) == 0
    again = corruptions.read_predictions(output)
    assert again["record"]["weights"] == provenance.weights_fingerprint(run.folder)
    assert again["record"]["weights"] != first["weights"]
    images = cifar10c.open_corruption(data / "CIFAR-10-C", "gaussian_noise", N_TEST)
    new = corruptions.predict_images(trained_model(run.folder, "cpu"), images, "cpu", 100)
    assert np.array_equal(again["predictions"]["gaussian_noise"], new)
