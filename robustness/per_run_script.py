"""What every per-run prediction script shares: run_jpeg_robustness_test.py,
run_corruption_test.py, run_adversarial_test.py and run_cifar101_test.py take one trained
run folder and write one output file under the experiment folder B."""
from pathlib import Path

import sys

from errors import ArgumentParser, UserError
from run_folder import EXP_DATA

def run_prediction_parser(description: str, receives: str, bs_default: int, bs_help: str):
    """The options every per-run prediction script has; each adds its own."""
    p = ArgumentParser(description=description)
    p.add_argument("--model_folder", type=Path, required=True,
                   help="the run folder (opt.json and model.pt)")
    p.add_argument("--base_folder", type=Path, default=None,
                   help=f"the experiment folder receiving {receives} (default: the folder "
                        "above the run's exp_data/)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--bs", type=int, default=bs_default, help=bs_help)
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def experiment_folder(model_folder: Path, base_folder=None) -> Path:
    """The experiment folder B of a run folder B/exp_data/<run>, unless given."""
    if base_folder is not None:
        return Path(base_folder)
    if Path(model_folder).parent.name != EXP_DATA:
        raise UserError(f"{model_folder} is not in an {EXP_DATA}/ folder; say where the "
                        "predictions go with --base_folder")
    return Path(model_folder).parent.parent


def run_of(args) -> tuple:
    """(the run folder, the experiment folder B, the device) of a per-run script's
    arguments, after the checks every such script makes: --bs, and --subset where the
    script has it, must be positive."""
    from training.options import resolve_device

    subset = getattr(args, "subset", None)
    if args.bs < 1 or (subset is not None and subset < 1):
        raise UserError("--bs and --subset must be positive" if hasattr(args, "subset")
                        else "--bs must be positive")
    model_folder = args.model_folder.expanduser().resolve()
    return model_folder, experiment_folder(model_folder, args.base_folder), \
        resolve_device(args.device)


def trained_model(model_folder: Path, device: str):
    """The run's final weights on `device`, in channels_last memory (the training
    default: faster convolutions)."""
    import torch

    from models import load_trained_model

    return load_trained_model(model_folder, device).to(memory_format=torch.channels_last)


def output_lock(output: Path):
    """The lock of one output file, `<output>.lock`, held for a script's whole
    read-modify-write of it (its own file: a training of the same run holds the run
    folder's lock, which this never waits for)."""
    import atomic_files

    output = Path(output)
    return atomic_files.locked(output.with_name(output.name + ".lock"), output)


def cifar10_test_labels(data_folder=None):
    """The CIFAR-10 test labels when the test batch is in the data folder, else None
    (with a warning: CIFAR-10-C's labels cannot then be checked against them)."""
    from datasets.cifar10 import TEST_BATCHES, batches_folder, read_batch

    path = batches_folder(data_folder) / TEST_BATCHES[0]
    if not path.is_file():
        print(f"warning: {path} is missing, so CIFAR-10-C's labels.npy is not checked "
              "against the test labels", file=sys.stderr, flush=True)
        return None
    return read_batch(path)[1]


def test_set_source(data_folder=None) -> str:
    """What the CIFAR-10 test set of the data folder is, in words (datasets.identity), for
    the record of a file computed on it."""
    from datasets.cifar10 import batches_folder
    from datasets.identity import describe

    return describe(batches_folder(data_folder))["text"]


def positive_eps(text: str) -> float:
    """An --eps value: a finite positive number (argparse type; nan and inf are not)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a finite positive radius (eps 0, "
                                         "the clean error, is always computed)")
    return value
