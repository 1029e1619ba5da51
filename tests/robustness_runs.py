"""Run folders, scripts and files for the tests of what a robustness file records and how
the scripts, the planner and the evaluations treat it (each test module that needs them
imports them from here). The run folders hold a tiny CifarResNet (N = 1, untrained,
seeded): what matters is which weights, data and settings a file records."""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import run_adversarial_test
import run_corruption_test
from errors import run_main
from experiments import grid
from experiments.launching import runs as grid_runs
from run_folder import EXP_DATA

REPO_ROOT = Path(__file__).resolve().parents[1]

N_TEST = 40                                  # test images, and CIFAR-10-C's n
TINY = {"model_type": "CifarResNet", "model_kw": "q: 2;k: 3;N: 1;", "epochs": 1}


GRID = replace(grid.EXP_10, sizes=(3,), seeds=(9,))      # two runs: Min-Net and ResNet


APGD = dict(norm="Linf", attacks="apgd-ce")


def trained_run(folder: Path, seed: int = 0) -> Path:
    """A finished run folder whose model.pt holds a tiny network seeded with `seed`."""
    from models import build_model_from_opt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "opt.json").write_text(json.dumps(TINY), encoding="utf-8")
    (folder / "log.json").write_text(json.dumps({"val_er": [50.0]}), encoding="utf-8")
    torch.manual_seed(seed)
    torch.save(build_model_from_opt(TINY).state_dict(), folder / "model.pt")
    return folder


def finished_run(base: Path, name: str) -> Path:
    """A finished run folder without real weights (for the evaluations)."""
    folder = base / EXP_DATA / name
    folder.mkdir(parents=True)
    (folder / "opt.json").write_text(json.dumps({"epochs": 1}), encoding="utf-8")
    (folder / "log.json").write_text(json.dumps({"val_er": [10.0]}), encoding="utf-8")
    (folder / "model.pt").write_bytes(b"weights")
    return folder


def smoke_runs(base: Path) -> list:
    return grid_runs.select_runs(grid.EXP_10, "smoke", base_folder=base)


def corrupt(run_folder: Path, base: Path, *options) -> int:
    """run_corruption_test.py in this process; its exit code."""
    return run_main(run_corruption_test.main, ["--model_folder", str(run_folder),
                                               "--base_folder", str(base), "--device", "cpu",
                                               "--bs", "100", *options])


def attack(run_folder: Path, base: Path, *options) -> int:
    """run_adversarial_test.py (APGD-CE) in this process; its exit code."""
    return run_main(run_adversarial_test.main, [
        "--model_folder", str(run_folder), "--base_folder", str(base), "--device", "cpu",
        "--attacks", "apgd-ce", *options])


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def script(name: str, *options, env=None) -> subprocess.Popen:
    """A per-run script as its own process (for what needs two at once)."""
    return subprocess.Popen([sys.executable, str(REPO_ROOT / name), *map(str, options)],
                            cwd=REPO_ROOT, env=env or dict(os.environ), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def labels_of(n: int) -> np.ndarray:
    return np.tile(np.arange(n, dtype=np.uint8) % 10, 5)


def attack_flags(n: int, broken_at: dict) -> dict:
    """{eps: robust flags} with the first broken_at[eps] images broken."""
    return {eps: np.arange(n) >= count for eps, count in broken_at.items()}


def in_namespace(body: str, mounts: str):
    """Run `body` (sh) in a mount namespace of its own after `mounts`; skips where this
    machine allows no such namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mount namespace allowed here")
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"{mounts} && cd {REPO_ROOT} && "
                           f"{body}"], capture_output=True, text=True, timeout=600)


# ----------------------------------------------- hand-made files of a three-seed grid
# For the evaluations' tables: Min-Net and ResNet at N = 3 with three seeds, N images per
# severity, and finished run folders without real weights.

THREE_SEEDS = replace(grid.EXP_10, sizes=(3,), seeds=(9, 507, 723))
N_PER_SEVERITY = 4
SEVERITY_LABELS = np.tile(np.arange(N_PER_SEVERITY, dtype=np.uint8), 5)


def evaluated_run(base: Path, name: str) -> None:
    """A finished run folder whose last test error is 10 %."""
    from helpers import write_run

    write_run(base / EXP_DATA / name, val_er=10.0)
