"""experiments/launching/runs.py: the runs of a grid and a selection, with their commands.
"""
from pathlib import Path

import pytest

from errors import UserError
from experiments import grid
from experiments.launching import runs as grid_runs


def test_the_paper_grids_and_their_recipes():
    exp_10 = grid_runs.select_runs(grid.EXP_10, base_folder=Path("/B"))
    assert len(exp_10) == 2 * 4 * 5
    assert len(grid_runs.select_runs(grid.EXP_10_1)) == 12
    assert len(grid_runs.select_runs(grid.EXP_11_1)) == 2 * 3 * 3
    first = exp_10[0]
    assert first.name == "CifarMinFP-LS_s9_N3"
    assert first.folder == Path("/B/exp_data/CifarMinFP-LS_s9_N3")
    argv = list(first.argv)
    assert argv[argv.index("--model_kw") + 1] == "q: 2;k: 3;N: 3;"
    assert argv[argv.index("--fixed_steps"):argv.index("--fixed_steps") + 3] == [
        "--fixed_steps", "100", "150"]
    assert "--opt_kw" not in argv and "--resume" in argv and "--train_subset" not in argv
    for option, value in (("--lr", "0.1"), ("--wd", "0.0001"), ("--mom", "0.9"),
                          ("--bs", "128"), ("--epochs", "200"), ("--seed", "9"),
                          ("--dataset", "cifar_10"), ("--folder", str(first.folder))):
        assert argv[argv.index(option) + 1] == value, option

    dense = grid_runs.select_runs(grid.EXP_11_1, models=["CifarDenseMin"], sizes=[100], seeds=[723])
    assert [r.name for r in dense] == ["CifarDenseMin_k12_L100_s723"]
    argv = list(dense[0].argv)
    assert argv[argv.index("--opt_kw") + 1] == "nesterov: True;"
    assert argv[argv.index("--bs") + 1] == "64" and argv[argv.index("--epochs") + 1] == "300"
    assert argv[argv.index("--model_kw") + 1] == (
        "stride: 1;growth_rate: 12;n_blocks: 100;efficient: True;compression: 0.5;k: 3;q: 2;")


def test_the_smoke_profile():
    runs = grid_runs.select_runs(grid.EXP_10, "smoke")
    assert [r.name for r in runs] == ["CifarMinFP-LS_s9_N3", "CifarPyrResNet_s9_N3"]
    assert runs[0].folder == grid.EXP_10.base_folder("smoke") / "exp_data" / runs[0].name
    argv = list(runs[0].argv)
    assert argv[argv.index("--epochs") + 1] == str(grid.SMOKE["epochs"])
    steps = argv[argv.index("--fixed_steps") + 1:argv.index("--resume")]
    assert steps == [str(s) for s in grid.SMOKE["fixed_steps"]]
    assert all(0 < s < grid.SMOKE["epochs"] for s in grid.SMOKE["fixed_steps"])
    assert argv[argv.index("--train_subset") + 1] == str(grid.SMOKE["train_subset"])
    assert argv[argv.index("--test_subset") + 1] == str(grid.SMOKE["test_subset"])
    # Asking for other seeds or sizes overrides the smoke defaults.
    assert len(grid_runs.select_runs(grid.EXP_10, "smoke", seeds=[9, 16], sizes=[5, 9])) == 8


def test_unknown_selections_are_user_errors_naming_the_valid_values():
    with pytest.raises(UserError, match="unknown seed 1; this experiment has 9 507 723 16 744"):
        grid_runs.select_runs(grid.EXP_10, seeds=[1, 9])
    with pytest.raises(UserError, match="unknown model CifarResNet; .* CifarMinFP-LS CifarPyrResNet"):
        grid_runs.select_runs(grid.EXP_10, models=["CifarResNet"])
    with pytest.raises(UserError, match="unknown size 3; this experiment has 22 58 100"):
        grid_runs.select_runs(grid.EXP_11_1, sizes=[3])
