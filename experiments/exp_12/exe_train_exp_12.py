"""Train exp_12: Min-Net (CifarMinFP-LS) and ResNet (CifarPyrResNet) on CIFAR-100, N 3/5/7/9,
5 seeds, with the paper's ResNet recipe (exp_10's grid on another data set).

    python experiments/exp_12/exe_train_exp_12.py [--dry-run] [--profile smoke] [--gpus 0 1]

Finished runs are skipped, unfinished ones resumed; --help lists all options.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from errors import run_main  # noqa: E402
from experiments import cli  # noqa: E402
from experiments.grid import EXP_12  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(cli.train(EXP_12)))
