"""Evaluate exp_10_1 (ResNet N = 9 over twelve seeds): results.txt (median, mean, std, min,
max of the last test error; median of the minimum), results.csv, results.md, the training
and test error curves against He et al.'s 6.97 % and report.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from errors import run_main  # noqa: E402
from experiments import cli  # noqa: E402
from experiments.evaluating.test_error import evaluate_seed_variance  # noqa: E402
from experiments.grid import EXP_10_1  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(cli.evaluate(EXP_10_1, evaluate_seed_variance, __doc__)))
