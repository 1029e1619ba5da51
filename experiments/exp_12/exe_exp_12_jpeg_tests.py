"""JPEG robustness of exp_12 on CIFAR-100's test images (the paper's protocol and
qualities, stacks of its own: test_cifar100_jpeg_noise_*.npy): evaluate
experiments/exp_12/jpeg_model_predictions/.

    python experiments/exp_12/exe_exp_12_jpeg_tests.py [--run-predictions] [--profile smoke]

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
    sys.exit(run_main(cli.robustness_tests(EXP_12, suite.JPEG)))
