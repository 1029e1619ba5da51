"""python -m models: our parameter count of every configuration of the paper next to the
authors' (docs/reference.md §1), then those of exp_12's models with CIFAR-100's 100
outputs, next to what the 10-class count implies. Exit status 1 if any differs."""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from errors import run_main  # noqa: E402
from models import PAPER_PARAMETER_COUNTS, SIZE_KEYS, count_parameters, get_model  # noqa: E402


def size_label(model_type: str, size: int) -> str:
    return f"N={size}" if SIZE_KEYS[model_type] == "N" else f"L={size}"


def paper_table() -> bool:
    print(f"{'model':24s} {'size':>8s} {'ours':>10s} {'paper':>10s}  match")
    all_match = True
    for (model_type, size), paper in PAPER_PARAMETER_COUNTS.items():
        ours = count_parameters(get_model(model_type, **{SIZE_KEYS[model_type]: size}))
        match = ours == paper
        all_match &= match
        print(f"{model_type:24s} {size_label(model_type, size):>8s} {ours:>10,d} "
              f"{paper:>10,d}  {'yes' if match else 'NO'}")
    print("all counts match the paper" if all_match else "SOME COUNTS DIFFER FROM THE PAPER")
    return all_match


def cifar100_table() -> bool:
    """exp_12's models with out_dim 100: the paper's 10-class count plus 90 more outputs
    of the final linear layer (its weights and biases), the only layer that changes."""
    import torch

    from experiments.grid import EXP_12

    print(f"\n{EXP_12.name} (CIFAR-100, out_dim 100): the paper's count + 90 x (the final "
          "layer's inputs + 1)")
    print(f"{'model':24s} {'size':>8s} {'ours':>10s} {'expected':>10s}  match")
    all_match = True
    for model_type, size in ((m, n) for m in EXP_12.models for n in EXP_12.sizes):
        model = get_model(model_type, out_dim=100, **{SIZE_KEYS[model_type]: size})
        final = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        expected = PAPER_PARAMETER_COUNTS[model_type, size] + 90 * (final.in_features + 1)
        ours = count_parameters(model)
        all_match &= ours == expected
        print(f"{model_type:24s} {size_label(model_type, size):>8s} {ours:>10,d} "
              f"{expected:>10,d}  {'yes' if ours == expected else 'NO'}")
    return all_match


def main(argv=()) -> int:
    return 0 if paper_table() & cifar100_table() else 1


if __name__ == "__main__":
    sys.exit(run_main(main, preload=["torch"]))
