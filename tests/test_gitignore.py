""".gitignore covers every output of both profiles, and none of the repository's files.

The outputs are those tests/test_outputs_unchanged.py pins (every file the evaluations
write, for all three experiments) plus the per-run folders of training and of every
robustness test, each placed where the paper profile (experiments/<exp>/) and the smoke
profile (experiments/<exp>/smoke/) put it.
"""
import json
import shutil
import subprocess

import pytest

import run_folder as rf
from experiments import grid
from experiments import robustness_suite as suite
from helpers import REPO_ROOT
from robustness import jpeg

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(),
                                reason="needs git and a clone")
MANIFEST = REPO_ROOT / "tests" / "fixtures" / "evaluation_outputs.json"


def ignored(paths) -> set:
    """The paths git would ignore (`git check-ignore`, also for untracked paths)."""
    result = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO_ROOT,
                            input="\n".join(paths), capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return set(result.stdout.splitlines())


def outputs() -> list:
    """Every output's path in the repository, for every experiment and both profiles."""
    evaluation = {key.split("/", 2)[2] for key in json.loads(MANIFEST.read_text())}
    per_run = {f"{folder}/{name}" for folder in
               [rf.EXP_DATA, rf.LOGS, *jpeg.OUTPUT_FOLDERS.values(),
                *(test.output_folder for test in suite.TESTS)]
               for name in ("CifarMinFP-LS_s9_N3/model.pt", "CifarMinFP-LS_s9_N3.npz")}
    bases = [e.base_folder(profile) for e in grid.EXPERIMENTS.values()
             for profile in grid.PROFILES]
    return [str(base.relative_to(REPO_ROOT) / rel) for base in bases
            for rel in sorted(evaluation | per_run)]


def test_every_output_of_both_profiles_is_ignored():
    paths = outputs()
    assert len(paths) > 400
    missed = sorted(set(paths) - ignored(paths))
    assert not missed, f"{len(missed)} outputs not in .gitignore, e.g. {missed[:5]}"


def test_no_file_of_the_repository_is_ignored():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    assert len(tracked) > 100
    assert ignored(tracked) == set()
