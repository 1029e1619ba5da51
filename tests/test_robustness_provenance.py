"""robustness/provenance.py: what a robustness file records of the weights, data and
settings that made it, and how files written before records are treated."""
import numpy as np

from datasets.cifar10 import load_cifar10
from experiments import robustness_suite as suite
from experiments.launching import jobs
from robustness import corruptions
from robustness import jpeg as jpeg_predictions
from robustness import provenance
from robustness_runs import N_TEST, smoke_runs, trained_run

# ------------------------------------------ what a robustness file records (issue 23)

def test_files_without_a_record(tmp_path, data):
    """Corruption files of before records are computed again (the launcher cannot tell
    which weights made them); a JPEG file without a sidecar (the authors') is kept, ours
    with a sidecar naming other weights is computed again."""
    base = tmp_path / "exp"
    run = smoke_runs(base)[0]
    trained_run(run.folder)
    output = corruptions.output_file(base, run.name)
    corruptions.write_predictions(output, N_TEST, np.tile(load_cifar10("test")[1], 5),
                                  {c: np.zeros(5 * N_TEST, np.uint8)
                                   for c in ("gaussian_noise", "jpeg_compression")})
    job, = jobs.prediction_jobs(suite.corruption(), [run], base, base / "logs")
    assert job.action == jobs.START and "no record" in job.note

    kind = suite.jpeg()
    npy = kind.output(base, run.name)
    npy.parent.mkdir(parents=True)
    np.save(npy, np.zeros((5, 11), np.int64))
    assert jobs.prediction_jobs(kind, [run], base, base / "logs")[0].action == jobs.SKIP
    provenance.write_sidecar(npy, jpeg_predictions.record_of(run.folder, "paper", None))
    assert jobs.prediction_jobs(kind, [run], base, base / "logs")[0].action == jobs.SKIP
    trained_run(run.folder, seed=5)
    job, = jobs.prediction_jobs(kind, [run], base, base / "logs")
    assert job.action == jobs.START and "other weights" in job.note
