"""Evaluate exp_12 (Min-Net against ResNet on CIFAR-100, N = 3, 5, 7, 9, five seeds):
results.csv, grouped_results.csv, results.md, the error-against-parameters plot and
report.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from errors import run_main  # noqa: E402
from experiments import cli  # noqa: E402
from experiments.evaluating.test_error import evaluate_experiment  # noqa: E402
from experiments.grid import EXP_12  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(cli.evaluate(EXP_12, evaluate_experiment, __doc__)))
