"""What every per-run prediction script shares: run_jpeg_robustness_test.py,
run_corruption_test.py, run_adversarial_test.py and run_cifar101_test.py take one trained
run folder and write one output file under the experiment folder B."""
from pathlib import Path

import sys

import config
from errors import ArgumentParser, UserError
from run_folder import EXP_DATA

def run_prediction_parser(description: str, receives: str, bs_default: int, bs_help: str,
                          cpu_bs_default=None):
    """The options every per-run prediction script has; each adds its own. `--bs` is
    `bs_default` on a GPU and `cpu_bs_default` (if given) on the CPU, unless given: on the
    CPU smaller batches are faster (benchmarks/bench_robustness.py on 2 cores, 2 December
    2026: batches of 100 images 1.28x as fast as batches of 1,000 with one thread, 1.43x
    with two, in the same run), and a short prediction does not first page in hundreds of
    megabytes of activations (a JPEG prediction of 100 test images took 6.1 s in one
    batch of 1,000 versions, 3.2 s in batches of 100)."""
    from datasets.catalog import DATA_SETS

    p = ArgumentParser(description=description)
    p.add_argument("--model_folder", type=Path, required=True,
                   help="the run folder (opt.json and model.pt)")
    p.add_argument("--base_folder", type=Path, default=None,
                   help=f"the experiment folder receiving {receives} (default: the folder "
                        "above the run's exp_data/)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda when available)")
    cpu_bs_default = cpu_bs_default or bs_default
    default = f"{bs_default}" if cpu_bs_default == bs_default else \
        f"{bs_default} on a GPU, {cpu_bs_default} on the CPU"
    p.add_argument("--bs", type=int, default=None, help=f"{bs_help} (default: {default})")
    p.set_defaults(bs_on_gpu=bs_default, bs_on_cpu=cpu_bs_default)
    p.add_argument("--dataset", default=None, choices=tuple(DATA_SETS),
                   help="the data set the run must have been trained on (the exe scripts pass "
                        "their experiment's); default: the one its opt.json names")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    return p


def run_data_set(model_folder: Path, expected=None, test: str = ""):
    """The data set (datasets.catalog.DataSet) the run was trained on, by its opt.json; a
    UserError when that is not `expected` (the exe script's experiment, or the only data
    the test has): a CIFAR-100 model is never tested on CIFAR-10 data, nor the reverse."""
    from datasets import catalog
    from run_folder import read_opt

    opt = read_opt(model_folder)
    if expected is None:
        return catalog.of_run(opt)
    fix = f"the {test} exists for {catalog.data_set(expected).title} runs only" if test else \
        "test it with the exe scripts of its own experiment"
    return catalog.refuse_other_data(opt, model_folder, expected, fix)


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
    script has it, must be positive. Sets args.bs to the device's default when not given."""
    from training.devices import device_type
    from training.options import resolve_device

    subset = getattr(args, "subset", None)
    if (args.bs is not None and args.bs < 1) or (subset is not None and subset < 1):
        raise UserError("--bs and --subset must be positive" if hasattr(args, "subset")
                        else "--bs must be positive")
    model_folder = args.model_folder.expanduser().resolve()
    device = resolve_device(args.device)
    if args.bs is None:
        args.bs = args.bs_on_cpu if device_type(device) == "cpu" else args.bs_on_gpu
    return model_folder, experiment_folder(model_folder, args.base_folder), device


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


def test_labels(data_set, data_folder=None):
    """The test labels of the run's data set (datasets.catalog.DataSet) when its test file
    is in the data folder, else None (with a warning: the corruption set's labels.npy
    cannot then be checked against them)."""
    labels = data_set.test_labels(data_folder)
    if labels is None:
        print(f"warning: {data_set.title}'s test set is not in "
              f"{data_folder or config.DATA_FOLDER}, so its corruption set's labels.npy is "
              "not checked against the test labels", file=sys.stderr, flush=True)
    return labels


def test_set_source(data_folder=None, data_set=None) -> str:
    """What the CIFAR-10 (`data_set`'s, datasets.catalog) test set of the data folder is,
    in words (datasets.identity), for the record of a file computed on it."""
    from datasets import catalog
    from datasets.identity import describe

    data_set = data_set or catalog.CIFAR_10
    return describe(data_set.folder(data_folder), data_set.name)["text"]


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
