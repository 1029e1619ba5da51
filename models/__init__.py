"""The paper's six model types, built by name, and trained models loaded from run folders.

    get_model("CifarMinFP-LS", N=3)                       plain values
    get_model("CifarMinFP-LS", **parse_model_kw("q: 2;k: 3;N: 3;"))   the authors' format
    build_model_from_opt(opt)                             from an opt.json dict
    load_trained_model(run_folder)                        opt.json + model.pt, eval mode

The authors stored model options as a `model_kw` string (docs/reference.md §4); parse_model_kw and
format_model_kw (model_kw.py, re-exported here) are the one reader and writer of that format. Every option goes
through MODEL_KW_RULES, which says its type and its allowed values.
"""
import inspect
import re
from pathlib import Path

import torch

from errors import UserError
from model_kw import format_model_kw, parse_model_kw  # noqa: F401 (the models' API)
from models.cifar_densenet import cifar_dense_min, cifar_densenet, is_densenet_depth
from models.cifar_resnet import (cifar_min_fp_ls, cifar_min_fp_ls_rn_basic, cifar_pyr_resnet,
                                 cifar_resnet)
import run_folder

MODEL_TYPES = {
    "CifarResNet": cifar_resnet,
    "CifarPyrResNet": cifar_pyr_resnet,
    "CifarMinFP-LS": cifar_min_fp_ls,
    "CifarMinFP-LS-RNBasic": cifar_min_fp_ls_rn_basic,
    "CifarDenseNet": cifar_densenet,
    "CifarDenseMin": cifar_dense_min,
}

# The option that sets a model's size, as the paper's tables name it.
SIZE_KEYS = {"CifarResNet": "N", "CifarPyrResNet": "N", "CifarMinFP-LS": "N",
             "CifarMinFP-LS-RNBasic": "N", "CifarDenseNet": "n_blocks", "CifarDenseMin": "n_blocks"}

# The authors' model_specs.json (docs/reference.md §1): (model type, N or depth L) -> parameters.
# The DenseNets have growth rate 12.
PAPER_PARAMETER_COUNTS = {
    ("CifarResNet", 3): 269_722, ("CifarResNet", 5): 464_154,
    ("CifarResNet", 7): 658_586, ("CifarResNet", 9): 853_018,
    ("CifarPyrResNet", 3): 270_298, ("CifarPyrResNet", 5): 465_178,
    ("CifarPyrResNet", 7): 660_058, ("CifarPyrResNet", 9): 854_938,
    ("CifarMinFP-LS", 3): 217_082, ("CifarMinFP-LS", 5): 411_962,
    ("CifarMinFP-LS", 7): 606_842, ("CifarMinFP-LS", 9): 801_722,
    ("CifarMinFP-LS-RNBasic", 3): 216_634, ("CifarMinFP-LS-RNBasic", 5): 411_066,
    ("CifarMinFP-LS-RNBasic", 7): 605_498, ("CifarMinFP-LS-RNBasic", 9): 799_930,
    ("CifarDenseNet", 22): 71_686, ("CifarDenseNet", 58): 314_470,
    ("CifarDenseNet", 100): 769_162,
    ("CifarDenseMin", 22): 57_040, ("CifarDenseMin", 58): 298_564,
    ("CifarDenseMin", 100): 751_786,
}


# option -> (type, allowed?, what is allowed)
MODEL_KW_RULES = {
    "N": (int, lambda v: v >= 1,
          "a positive integer, the blocks per stack (the paper: 3, 5, 7, 9)"),
    "q": (int, lambda v: v >= 1,
          "a positive integer, the MinBlock's channel expansion (the paper: 2)"),
    "k": (int, lambda v: v >= 1 and v % 2 == 1,
          "an odd positive integer, the MinBlock's depthwise kernel size (the paper: 3)"),
    "n_blocks": (int, is_densenet_depth,
                 "a DenseNet depth L = 6n + 4 with n >= 1: 10, 16, 22, 28, ... "
                 "(the paper: 22, 58, 100)"),
    "growth_rate": (int, lambda v: v >= 1,
                    "a positive integer, the DenseNet growth rate (the paper: 12)"),
    "compression": (float, lambda v: 0 < v <= 1,
                    "a number in (0, 1], the transitions' channel factor (the paper: 0.5)"),
    "stride": (int, lambda v: v >= 1,
               "a positive integer, the stride of the DenseNet's first conv (the paper: 1)"),
    "efficient": (bool, lambda v: True,
                  "True or False, gradient checkpointing in the dense layers"),
}

# ------------------------------------------------------------------------ building

def _to_type(value, kind):
    """A plain value or a parsed string as `kind`; None when it is neither."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        return {"True": True, "False": False}.get(value) if isinstance(value, str) else None
    if isinstance(value, bool):  # True is an int in Python, but never a size
        return None
    if isinstance(value, str):
        text = value.strip()
        if kind is int:
            return int(text) if re.fullmatch(r"[+-]?\d+", text) else None
        try:
            return float(text)
        except ValueError:
            return None
    if kind is int:
        whole = isinstance(value, int) or isinstance(value, float) and value.is_integer()
        return int(value) if whole else None
    return float(value) if isinstance(value, (int, float)) else None


def _option(model_type, key, value):
    """One model_kw value (plain, a string, or a parsed one-element list) as its type."""
    kind, allowed, description = MODEL_KW_RULES[key]
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise UserError(f"{model_type}: model_kw {key} takes one value, got {value!r}; "
                            f"{key} must be {description}")
        value = value[0]
    converted = _to_type(value, kind)
    if converted is None or not allowed(converted):
        raise UserError(f"{model_type}: invalid model_kw {key}={value!r}; "
                        f"{key} must be {description}")
    return converted


def _dimension(name, value):
    converted = _to_type(value, int)
    if converted is None or converted < 1:
        raise UserError(f"{name} must be a positive integer, got {value!r}")
    return converted


def get_model(model_type, in_dim=3, out_dim=10, **model_kw):
    """The model `model_type` with input channels in_dim and out_dim classes.

    model_kw: the type's options, as plain values (N=3) or as parse_model_kw gives them
    (N=['3']). Unknown types or options and invalid sizes raise a UserError.
    """
    if model_type not in MODEL_TYPES:
        raise UserError(f"unknown model type {model_type!r}; choose one of "
                        f"{', '.join(MODEL_TYPES)}")
    factory = MODEL_TYPES[model_type]
    parameters = inspect.signature(factory).parameters
    options = [name for name in parameters if name not in ("in_dim", "out_dim")]
    unknown = [key for key in model_kw if key not in options]
    if unknown:
        raise UserError(f"{model_type} has no option {', '.join(map(repr, unknown))}; "
                        f"its options are {', '.join(options)}")
    for name in options:
        if name not in model_kw and parameters[name].default is inspect.Parameter.empty:
            raise UserError(f"{model_type} needs model_kw {name}, "
                            f"{MODEL_KW_RULES[name][2]}")
    kw = {key: _option(model_type, key, value) for key, value in model_kw.items()}
    return factory(in_dim=_dimension("in_dim", in_dim), out_dim=_dimension("out_dim", out_dim),
                   **kw)


def build_model_from_opt(opt: dict):
    """The (untrained) model an opt.json describes: model_type, in_dim and out_dim
    (default 3 and 10), model_kw as the authors' string or as a dict."""
    if not opt.get("model_type"):
        raise UserError("the options name no model_type (e.g. \"model_type\": \"CifarResNet\")")
    model_kw = opt.get("model_kw") or {}
    if isinstance(model_kw, str):
        model_kw = parse_model_kw(model_kw)
    if not isinstance(model_kw, dict):
        raise UserError(f"model_kw must be a string like 'q: 2;k: 3;N: 3;' or a dict, "
                        f"got {model_kw!r}")
    in_dim = opt.get("in_dim")
    out_dim = opt.get("out_dim")
    return get_model(opt["model_type"], 3 if in_dim is None else in_dim,
                     10 if out_dim is None else out_dim, **model_kw)


def count_parameters(model) -> int:
    """All parameters (every parameter of these models is trained)."""
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------ loading

# Wrappers whose state_dict keys carry a prefix: nn.DataParallel / DistributedDataParallel
# ("module.") and torch.compile ("_orig_mod."), possibly nested.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def strip_wrapper_prefixes(state_dict: dict) -> dict:
    while state_dict:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state_dict)),
                      None)
        if prefix is None:
            break
        state_dict = {key[len(prefix):]: value for key, value in state_dict.items()}
    return state_dict


def _describe(obj) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(map(str, list(obj)[:4]))
        return f"a dict with keys {keys}{', ...' if len(obj) > 4 else ''}" if obj \
            else "an empty dict"
    return f"a {type(obj).__name__}"


def _read_state_dict(folder: Path, device) -> dict:
    path = folder / run_folder.MODEL_FILE
    if not path.is_file():
        raise UserError(f"{folder}: no {run_folder.MODEL_FILE} (the final weights); finish the "
                        "run (run_training.py --resume) or copy the downloaded model.pt there")
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # any failure to unpickle means the same: unusable file
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"{folder}: {run_folder.MODEL_FILE} cannot be read ({reason}); it is "
                        "truncated, corrupt or not saved by torch.save: re-download it or "
                        "train the run again") from None
    is_state_dict = isinstance(obj, dict) and obj and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    if not is_state_dict:
        raise UserError(f"{folder}: {run_folder.MODEL_FILE} holds {_describe(obj)}, not a "
                        "state_dict; it must be torch.save(model.state_dict()) as "
                        "run_training.py writes it")
    return strip_wrapper_prefixes(obj)


def _mismatch(model, state_dict: dict) -> str:
    """'' when state_dict fits the model exactly, else a short account of the differences."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    reshaped = [f"{k} {list(found[k])} vs {list(expected[k])}" for k in expected
                if k in found and found[k] != expected[k]]
    problems = [f"{len(keys)} {what} (e.g. {keys[0]})"
                for keys, what in ((missing, "keys missing"), (unexpected, "unexpected keys"),
                                   (reshaped, "weights of another shape, file vs opt.json"))
                if keys]
    return "; ".join(problems)


def load_trained_model(folder, device="cpu"):
    """The trained model of a run folder (ours or the authors'), in eval mode on `device`.

    Built from folder/opt.json (or the options in its checkpoint.pt), weights loaded strictly from folder/model.pt (a plain
    state_dict; prefixes of nn.DataParallel and torch.compile are removed).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such run folder; check the path")
    if run_folder.run_state(folder) == run_folder.ABSENT:  # no opt.json, nor a checkpoint
        raise UserError(f"{folder}: no {run_folder.OPT_FILE}, so this is not a run folder "
                        f"(it needs {run_folder.OPT_FILE} and {run_folder.MODEL_FILE}); "
                        "check the path")
    opt = run_folder.read_opt(folder)
    try:
        model = build_model_from_opt(opt)
    except UserError as error:
        raise UserError(f"{folder}: {run_folder.OPT_FILE} describes no model we can build: "
                        f"{error}") from None
    state_dict = _read_state_dict(folder, device)
    mismatch = _mismatch(model, state_dict)
    if mismatch:
        raise UserError(f"{folder}: {run_folder.MODEL_FILE} does not fit {run_folder.OPT_FILE} "
                        f"({opt['model_type']}, model_kw {opt.get('model_kw')!r}): {mismatch}; "
                        "opt.json and model.pt must come from the same run")
    model.load_state_dict(state_dict, strict=True)
    return model.to(device).eval()
