"""python -m models: our parameter count of every configuration of the paper next to the
authors' (docs/reference.md §1). Exit status 1 if any differs."""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from errors import run_main  # noqa: E402
from models import PAPER_PARAMETER_COUNTS, SIZE_KEYS, count_parameters, get_model  # noqa: E402


def main(argv=()) -> int:
    print(f"{'model':24s} {'size':>8s} {'ours':>10s} {'paper':>10s}  match")
    all_match = True
    for (model_type, size), paper in PAPER_PARAMETER_COUNTS.items():
        key = SIZE_KEYS[model_type]
        ours = count_parameters(get_model(model_type, **{key: size}))
        label = f"N={size}" if key == "N" else f"L={size}"
        match = ours == paper
        all_match &= match
        print(f"{model_type:24s} {label:>8s} {ours:>10,d} {paper:>10,d}  "
              f"{'yes' if match else 'NO'}")
    print("all counts match the paper" if all_match else "SOME COUNTS DIFFER FROM THE PAPER")
    return 0 if all_match else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
