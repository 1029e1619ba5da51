"""Train one model on CIFAR-10 (or CIFAR-100: --dataset cifar_100) into one run folder.

    python run_training.py --model_type CifarMinFP-LS --model_kw "q: 2;k: 3;N: 3;" \
        --seed 9 --epochs 200 --fixed_steps 100 150 --folder experiments/exp_10/exp_data/run

Every exe_train script launches this as a subprocess; `--resume` continues a killed run
from its last finished epoch. `python run_training.py --help` lists all options.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from errors import run_main  # noqa: E402


def main(argv) -> int:
    from training.options import parse_options
    from training.trainer import train

    return train(parse_options(argv))


if __name__ == "__main__":
    sys.exit(run_main(main, preload=["torch"]))
