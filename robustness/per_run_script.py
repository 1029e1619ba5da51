"""What every per-run prediction script shares: run_jpeg_robustness_test.py,
run_corruption_test.py and run_adversarial_test.py take one trained run folder and write
one output file under the experiment folder B."""
from pathlib import Path

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
