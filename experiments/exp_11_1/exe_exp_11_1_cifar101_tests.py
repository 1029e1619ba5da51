"""CIFAR-10.1 (a new test set, Recht et al. 2018) beside the CIFAR-10 test set, with the
calibration of both, of exp_11_1: evaluate experiments/exp_11_1/cifar101_predictions/.

    python experiments/exp_11_1/exe_exp_11_1_cifar101_tests.py [--run-predictions] [--profile smoke]

--run-predictions first computes the predictions of every finished run that has none;
--help lists all options.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from errors import run_main  # noqa: E402
from experiments import cli  # noqa: E402
from experiments import robustness_suite as suite  # noqa: E402
from experiments.grid import EXP_11_1  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(cli.robustness_tests(EXP_11_1, suite.CIFAR101)))
