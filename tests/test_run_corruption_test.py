"""run_corruption_test.py: one run's corruption predictions, and a bad option in one line
(main(argv) in this process; test_smoke.py runs the script as a subprocess).
"""
import json
import os

import torch

from helpers import run_in_process
from robustness import corruptions


def test_cli_end_to_end(folder_c, tmp_path):
    from models import build_model_from_opt

    opt = {"model_type": "CifarResNet", "model_kw": "q: 2;k: 3;N: 1;", "epochs": 1}
    run = tmp_path / "exp" / "exp_data" / "CifarResNet_s1_N1"
    run.mkdir(parents=True)
    (run / "opt.json").write_text(json.dumps(opt), encoding="utf-8")
    torch.save(build_model_from_opt(opt).state_dict(), run / "model.pt")
    env = dict(os.environ, DATA_FOLDER=str(folder_c.parent))
    done = run_in_process("run_corruption_test.py", "--model_folder", run, "--device", "cpu",
                          "--subset", "4", env=env)
    assert done.returncode == 0, done.stderr
    result = corruptions.read_predictions(tmp_path / "exp" / "corruption_predictions"
                                          / "CifarResNet_s1_N1.npz")
    assert result["n"] == 4 and set(result["predictions"]) == {"fog", "gaussian_noise"}
    bad = run_in_process("run_corruption_test.py", "--model_folder", run, "--subset", "0",
                         env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
