"""Adversarial robustness (AutoAttack, Linf by default; --norm L2) of exp_12 on CIFAR-100's
test images: evaluate experiments/exp_12/adversarial_predictions/<norm>_<attacks>/.

    python experiments/exp_12/exe_exp_12_adversarial_tests.py [--run-predictions] [--profile smoke] \
        [--attacks apgd-ce] [--eps 0.5 1 2] [--n-images 1000]

--run-predictions first computes the predictions of every finished run that has none;
--help lists all options.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from errors import run_main  # noqa: E402
from experiments import cli  # noqa: E402
from experiments import robustness_suite as suite  # noqa: E402
from experiments.grid import EXP_12  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(cli.robustness_tests(EXP_12, suite.ADVERSARIAL)))
