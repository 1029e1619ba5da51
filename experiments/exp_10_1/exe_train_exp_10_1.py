"""Train exp_10_1: CifarResNet N=9 with 12 seeds (the variance experiment).

    python experiments/exp_10_1/exe_train_exp_10_1.py [--dry-run] [--profile smoke] [--gpus 0 1]

Finished runs are skipped, unfinished ones resumed; --help lists all options.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from errors import run_main  # noqa: E402
from experiments import cli  # noqa: E402
from experiments.grid import EXP_10_1  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(cli.train(EXP_10_1)))
