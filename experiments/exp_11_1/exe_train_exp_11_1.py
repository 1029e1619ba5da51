"""Train exp_11_1: DenseNet-BC and DenseMin (k 12), L 22/58/100, 3 seeds.

    python experiments/exp_11_1/exe_train_exp_11_1.py [--dry-run] [--profile smoke] [--gpus 0 1]

Finished runs are skipped, unfinished ones resumed; --help lists all options.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from errors import run_main  # noqa: E402
from experiments import cli  # noqa: E402
from experiments.grid import EXP_11_1  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(cli.train(EXP_11_1)))
