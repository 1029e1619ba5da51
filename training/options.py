"""Command-line options of run_training.py: the authors' names (docs/reference.md §4) plus ours.

Everything parsed here is saved to the run folder's opt.json, so a run folder alone says
how it was made. `validate` turns every bad value into one UserError line before any
file is touched.
"""
import argparse
import math
import subprocess
from datetime import datetime, timezone

import torch

import config
from datasets import catalog
from errors import ArgumentParser, DefaultsHelp, UserError
from training.devices import device_type

OPTIMIZERS = ("SGD",)
DATASETS = tuple(catalog.DATA_SETS)   # cifar_10, cifar_100
AMP_MODES = ("off", "bf16", "fp16")

# Keys of opt.json that describe the run's circumstances, not its configuration: a
# resumed run may differ in these from the run it continues (the folder may have been
# moved or be named by another path; a requeued job may land on another GPU, though not
# on another kind of device: see training.run_plan). cudnn_benchmark only picks kernels,
# and opt.json files written before it existed lack it. num_threads: a resumed run uses
# the count it recorded, whatever this launch asks for (training.run_plan). data: the
# data folder's record (datasets.identity.describe), compared by its checksums alone
# (training.run_plan), and absent from runs recorded before it.
NOT_CONFIGURATION = ("resume", "do_overwrite", "debug", "folder", "device", "print_freq",
                     "nw", "comment", "torch_version", "start_time", "resumed_at",
                     "git_commit", "cudnn_benchmark", "num_threads", "data")
OPT_KW_KEYS = ("nesterov", "dampening")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python run_training.py", formatter_class=DefaultsHelp,
        description="Train one model on CIFAR-10 (or CIFAR-100) into one run folder (opt.json, "
                    "log.json, model_specs.json, model.pt and a resume checkpoint).")
    a = p.add_argument
    # --- the authors' options (names and meaning as in their opt.json) ---
    a("--model_type", required=True, help="e.g. CifarMinFP-LS, CifarPyrResNet, CifarDenseNet")
    a("--model_kw", default=None, help='model sizes in the authors\' format, e.g. "q: 2;k: 3;N: 3;"')
    a("--in_dim", type=int, default=3)
    a("--out_dim", type=int, default=None,
      help="classes of the output layer (default: the data set's, 10 or 100)")
    a("--lr", type=float, default=0.1, help="initial learning rate")
    a("--wd", type=float, default=1e-4, help="weight decay")
    a("--mom", type=float, default=0.9, help="momentum")
    a("--bs", type=int, default=128, help="batch size")
    a("--opt", default="SGD", help="optimizer")
    a("--opt_kw", default=None, help='extra optimizer options, e.g. "nesterov: True;"')
    a("--epochs", type=int, default=200)
    a("--fixed_steps", type=int, nargs="*", default=[],
      help="epochs from which the learning rate is multiplied by 0.1, e.g. 100 150")
    a("--dataset", default="cifar_10", help=f"one of {', '.join(DATASETS)}")
    a("--seed", type=int, default=0)
    a("--folder", required=True, help="the run folder to write")
    a("--comment", default="")
    a("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    a("--nw", type=int, default=0,
      help="kept for the authors' scripts; unused: batches are built on the device")
    a("--resume", action="store_true", help="continue the run in --folder from its checkpoint")
    a("--do_overwrite", action="store_true", help="discard a run already in --folder")
    a("--print_freq", type=int, default=50,
      help="steps between updates of the progress bar's loss and accuracy")
    # --- ours ---
    a("--amp", choices=AMP_MODES, default="off", help="mixed precision (CUDA: bf16 recommended)")
    a("--compile", action="store_true", help="torch.compile the model")
    a("--no_channels_last", dest="channels_last", action="store_false",
      help="keep the model and batches in contiguous (NCHW) memory format")
    a("--no_grad_checkpointing", dest="grad_checkpointing", action="store_false",
      help="DenseNets: keep all activations instead of recomputing them in the backward pass, "
           "whatever model_kw's 'efficient' says (faster, more memory, the same numbers)")
    a("--no_cudnn_benchmark", dest="cudnn_benchmark", action="store_false",
      help="CUDA: turn off cuDNN's autotuning of convolution kernels (on by default)")
    a("--num_threads", type=int, default=None,
      help="CPU threads of torch's operations (default: torch's, which follows "
           "OMP_NUM_THREADS); recorded in opt.json, and a resumed run uses the recorded count "
           "so that it ends with the uninterrupted run's weights")
    a("--train_subset", type=int, default=None, help="train on the first N images only")
    a("--test_subset", type=int, default=None, help="evaluate on the first N test images only")
    a("--debug", action="store_true", help="show full tracebacks")
    return p


def parse_key_values(text):
    """The authors' 'key: value;key: value;' option strings (opt_kw) as a dict."""
    from model_kw import parse_model_kw  # the one parser of this format

    return parse_model_kw(text) if text else {}


def optimizer_kw(opt: dict) -> dict:
    """--opt_kw as SGD's keyword arguments {"nesterov": bool, "dampening": float}; a
    UserError for anything SGD would refuse (checked before any file is written)."""
    try:
        parsed = parse_key_values(opt["opt_kw"])
    except UserError as e:
        raise UserError(f"--opt_kw: {e}") from None
    unknown = set(parsed) - set(OPT_KW_KEYS)
    if unknown:
        raise UserError(f"--opt_kw has unknown keys {sorted(unknown)}; "
                        f"allowed: {', '.join(OPT_KW_KEYS)}")
    kw = {"nesterov": False, "dampening": 0.0}
    for key, values in parsed.items():
        if len(values) != 1:
            raise UserError(f"--opt_kw {key} needs exactly one value, got {values}")
    if "nesterov" in parsed:
        kw["nesterov"] = parsed["nesterov"][0]
        if not isinstance(kw["nesterov"], bool):
            raise UserError(f"--opt_kw nesterov must be True or False, "
                            f"got {parsed['nesterov'][0]!r}")
    if "dampening" in parsed:
        try:
            kw["dampening"] = float(parsed["dampening"][0])
        except (TypeError, ValueError):
            kw["dampening"] = math.nan
        if not math.isfinite(kw["dampening"]):
            raise UserError(f"--opt_kw dampening must be a number, "
                            f"got {parsed['dampening'][0]!r}")
    if kw["nesterov"] and not (opt["mom"] > 0 and kw["dampening"] == 0):
        # torch.optim.SGD's own condition for Nesterov momentum.
        raise UserError(f"--opt_kw nesterov: True needs --mom > 0 and dampening 0, got "
                        f"--mom {opt['mom']} and dampening {kw['dampening']}")
    return kw


def validate(opt: dict) -> None:
    """Raise a UserError for the first invalid option, naming it and what is allowed."""
    for key in ("epochs", "bs"):
        if opt[key] < 1:
            raise UserError(f"--{key} must be a positive integer, got {opt[key]}")
    if not opt["lr"] > 0:
        raise UserError(f"--lr must be positive, got {opt['lr']}")
    if opt["wd"] < 0 or opt["mom"] < 0:
        raise UserError("--wd and --mom must not be negative")
    if opt["opt"] not in OPTIMIZERS:
        raise UserError(f"unknown optimizer --opt {opt['opt']!r}; choose one of {list(OPTIMIZERS)}")
    if opt["dataset"] not in DATASETS:
        raise UserError(f"unknown dataset --dataset {opt['dataset']!r}; "
                        f"choose one of {list(DATASETS)}")
    bad_steps = [s for s in opt["fixed_steps"] if not 1 <= s <= opt["epochs"]]
    if bad_steps:
        raise UserError(f"--fixed_steps {bad_steps} outside 1...{opt['epochs']} "
                        "(the epochs at which the learning rate drops)")
    for key in ("train_subset", "test_subset", "num_threads"):
        if opt[key] is not None and opt[key] < 1:
            raise UserError(f"--{key} must be a positive number, got {opt[key]}")
    classes = catalog.data_set(opt["dataset"]).num_classes
    if opt["out_dim"] is None:   # a caller of validate that did not parse the options
        opt["out_dim"] = classes
    if not (opt["in_dim"] == 3 and opt["out_dim"] >= classes):
        raise UserError(f"{opt['dataset']} has 3 input channels and {classes} classes: use "
                        f"--in_dim 3 and --out_dim {classes} or more (got --in_dim "
                        f"{opt['in_dim']}, --out_dim {opt['out_dim']})")
    optimizer_kw(opt)
    if opt["amp"] == "fp16" and str(opt["device"]).startswith("cpu"):
        # fp16 autocast on CPU is slow and poorly supported; bf16 is the CPU choice.
        raise UserError("--amp fp16 needs a CUDA device; use --amp bf16 on the CPU")


def resolve_device(requested) -> str:
    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {requested} asked for, but PyTorch sees no CUDA GPU; "
                        "use --device cpu")
    if not (requested == "cpu" or requested.startswith("cuda")):
        raise UserError(f"unknown --device {requested!r}; use cpu, cuda or cuda:N")
    return requested


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def parse_options(argv) -> dict:
    """argv -> the opt dict saved as opt.json (validated, device resolved)."""
    opt = vars(build_parser().parse_args(argv))
    opt["device"] = resolve_device(opt["device"])
    validate(opt)
    # cuDNN exists on CUDA only: a CPU run records that it used no autotuning.
    opt["cudnn_benchmark"] = opt["cudnn_benchmark"] and device_type(opt["device"]) == "cuda"
    # A resumed run keeps its first start_time and lists this one in resumed_at
    # (training.run_plan.recorded_options).
    opt.update(torch_version=str(torch.__version__),
               start_time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
               resumed_at=[], git_commit=git_commit())
    return opt


def configuration(opt: dict) -> dict:
    """The part of an opt dict that must match for a run to be resumed."""
    return {k: v for k, v in opt.items() if k not in NOT_CONFIGURATION}
