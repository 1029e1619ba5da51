"""The kinds of per-run predictions the launcher computes, each a short declaration
(experiments.jobs.PredictionKind): the script, the output file of a run, the script's
options. A new kind (common corruptions, adversarial attacks) is one more function here.
"""
import config
from experiments import predictions
from experiments.jobs import PredictionKind


def jpeg(protocol: str = "paper", subset=None) -> PredictionKind:
    """The JPEG test (docs/reference.md §5): run_jpeg_robustness_test.py writes
    B/jpeg_model_predictions/<run>.npy (the rgb protocol's folder is another)."""
    def output(base_folder, run_name):
        return predictions.predictions_file(base_folder, run_name, protocol)

    def options(run, base_folder):
        argv = ["--model_folder", str(run.folder), "--base_folder", str(base_folder),
                "--protocol", protocol]
        return argv + (["--subset", str(subset)] if subset else [])

    return PredictionKind(label=predictions.PREDICTIONS_FOLDERS[protocol],
                          script=config.REPO_ROOT / "run_jpeg_robustness_test.py",
                          output=output, options=options,
                          usable=predictions.load_predictions)
