"""experiments/grid.py: the experiments as data, the grid a smoke evaluation covers, and
the commands the hints name.
"""
import pytest

from errors import UserError
from experiments import grid
from experiments.evaluating import jpeg as je
from experiments.evaluating import test_error as ev
from experiments.grid import EXP_10, EXP_10_1


def test_a_smoke_evaluation_covers_the_smoke_runs_trained_with_other_seeds_or_sizes(tmp_path):
    smoke = grid.EXP_10.for_profile("smoke")
    assert grid.EXP_10.evaluated_grid("smoke", tmp_path) == smoke   # no exp_data yet
    for name in ("CifarPyrResNet_s16_N5", "not_a_run_of_the_grid"):
        (tmp_path / "exp_data" / name).mkdir(parents=True)
    widened = grid.EXP_10.evaluated_grid("smoke", tmp_path)
    assert widened.seeds == (9, 16) and widened.sizes == (3, 5)   # in the paper's order
    assert widened.models == grid.EXP_10.models
    # The paper profile always evaluates the paper's whole grid.
    assert grid.EXP_10.evaluated_grid("paper", tmp_path) == grid.EXP_10


def test_smoke_profile_never_touches_a_reproduction():
    for experiment in grid.EXPERIMENTS.values():
        smoke = experiment.base_folder("smoke")
        assert smoke.parent == experiment.base_folder("paper") and smoke.name == "smoke"


def test_hints_name_the_exact_command_of_the_profile(tmp_path):
    assert grid.command(EXP_10_1, "train", "smoke", EXP_10_1.base_folder("smoke")) \
        == "python experiments/exp_10_1/exe_train_exp_10_1.py --profile smoke"
    assert grid.command(EXP_10_1, "train") == \
        "python experiments/exp_10_1/exe_train_exp_10_1.py"
    assert grid.infer_profile(EXP_10, EXP_10.base_folder("smoke")) == "smoke"
    with pytest.raises(UserError) as error:
        ev.evaluate_seed_variance(EXP_10_1, tmp_path, profile="smoke")
    assert "train them first with python experiments/exp_10_1/exe_train_exp_10_1.py " \
           f"--profile smoke --base_folder {tmp_path}, or" in str(error.value)
    with pytest.raises(UserError) as error:
        je.evaluate_jpeg(EXP_10, tmp_path, profile="smoke")
    assert "compute them with python experiments/exp_10/exe_exp10_jpeg_tests.py --profile " \
           f"smoke --base_folder {tmp_path} --run-predictions," in str(error.value)
