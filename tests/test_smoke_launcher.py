"""The launcher's failure, skip and resume paths with the real run_training.py, and the
Slurm launcher through submitit's local executor (tests/test_slurm_cluster.py has the
real Slurm)."""
import json

import pytest

from helpers import run_script as run_exe
import run_folder as rf
from smoke_flows import CPU

pytestmark = pytest.mark.slow


# A few images and one epoch per run (as tests/test_slurm_cluster.py): the launcher is
# under test, not the training.
TINY = ["--", "--train_subset", "64", "--test_subset", "50", "--epochs", "1", "--fixed_steps"]


def test_training_grid_end_to_end_failure_skip_resume(tmp_path, own_data):
    """exp_10's smoke grid (2 runs) with the real run_training.py: one run cannot write its
    folder and fails, the other finishes; a relaunch skips the finished one and runs the
    fixed one; a run without model.pt is resumed."""
    base = tmp_path / "B"
    blocked = base / "exp_data" / "CifarPyrResNet_s9_N3"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run folder should be")
    script = "experiments/exp_10/exe_train_exp_10.py"

    result = run_exe(script, "--profile", "smoke", "--base_folder", base, *CPU, *TINY,
                     env=own_data, check_rc=1)
    assert "2 runs: 1 done, 0 resumed, 0 skipped, 1 failed" in result.stdout
    log = base / "logs" / "CifarPyrResNet_s9_N3.log"
    assert "failed: CifarPyrResNet_s9_N3: exit 2: error: " in result.stdout
    assert f"(log: {log})" in result.stdout
    assert "run_training.py --model_type CifarPyrResNet" in log.read_text()
    done = base / "exp_data" / "CifarMinFP-LS_s9_N3"
    assert rf.run_state(done) == rf.FINISHED
    opt = json.loads((done / rf.OPT_FILE).read_text())
    assert (opt["epochs"], opt["fixed_steps"], opt["train_subset"], opt["seed"]) == (1, [], 64, 9)
    assert opt["model_kw"] == "q: 2;k: 3;N: 3;" and opt["device"] == "cpu"

    blocked.unlink()
    result = run_exe(script, "--profile", "smoke", "--base_folder", base, *CPU, *TINY,
                     env=own_data, check_rc=0)
    assert "2 runs: 1 done, 0 resumed, 1 skipped, 0 failed" in result.stdout

    (done / rf.MODEL_FILE).unlink()   # as if killed after its last epoch's checkpoint
    result = run_exe(script, "--profile", "smoke", "--base_folder", base, *CPU, *TINY,
                     env=own_data, check_rc=0)
    assert "2 runs: 0 done, 1 resumed, 1 skipped, 0 failed" in result.stdout
    assert "resuming at epoch 1" in (base / "logs" / "CifarMinFP-LS_s9_N3.log").read_text()
    assert rf.run_state(done) == rf.FINISHED


def test_slurm_launcher_end_to_end_through_submitit_local(tmp_path, own_data):
    result = run_exe("experiments/exp_10/exe_train_exp_10.py", "--profile", "smoke",
                 "--models", "CifarPyrResNet", "--base_folder", tmp_path, "--launcher", "slurm",
                 "--submitit-cluster", "local", "--gpus-per-job", "0", "--time", "10", *TINY,
                 env=own_data, check_rc=0)
    assert "submitted CifarPyrResNet_s9_N3 as job" in result.stdout
    assert "1 run: 1 done, 0 resumed, 0 skipped, 0 failed" in result.stdout
    assert rf.run_state(tmp_path / "exp_data" / "CifarPyrResNet_s9_N3") == rf.FINISHED
    assert list((tmp_path / "logs" / "submitit").iterdir())   # submitit's own files
