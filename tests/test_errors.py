"""The project's argument parser: one-line errors, both spellings of every long option,
--help in the declared spelling, and a renamed option's old name."""
import pytest

from errors import ArgumentParser, UserError


def parser():
    p = ArgumentParser(prog="prog")
    p.add_argument("--base_folder")
    p.add_argument("--dry-run", action="store_true")
    group = p.add_argument_group("a group")
    group.add_argument("--jobs-per-gpu", type=int, default=1)
    p.add_argument("--attack-seed", type=int, default=0, old_names=("--seed",))
    return p


def test_every_long_option_takes_both_spellings():
    args = parser().parse_args(["--base-folder", "B", "--dry_run", "--jobs_per_gpu", "3",
                                "--attack_seed", "7"])
    assert (args.base_folder, args.dry_run, args.jobs_per_gpu, args.attack_seed) == \
        ("B", True, 3, 7)


def test_an_old_name_still_works_and_is_not_shown():
    p = parser()
    assert p.parse_args(["--seed", "5"]).attack_seed == 5
    help_text = p.format_help()
    assert "--attack-seed" in help_text and "--seed" not in help_text.replace("--attack-seed", "")


def test_help_shows_the_declared_spelling_only():
    help_text = parser().format_help()
    for shown, hidden in (("--base_folder", "--base-folder"), ("--dry-run", "--dry_run"),
                          ("--jobs-per-gpu", "--jobs_per_gpu")):
        assert shown in help_text and hidden not in help_text


def test_an_abbreviation_of_both_spellings_is_not_ambiguous():
    assert parser().parse_args(["--base", "B"]).base_folder == "B"


def test_an_unknown_option_is_a_user_error_naming_the_help():
    with pytest.raises(UserError, match=r"unrecognized arguments: --nope; see prog --help"):
        parser().parse_args(["--nope"])


def test_an_unknown_option_suggests_the_nearest_one():
    p = parser()
    p.add_argument("--profile", choices=("paper", "smoke"), default="paper")
    with pytest.raises(UserError, match=r"--profle smoke \(did you mean --profile\?\); see"):
        p.parse_args(["--profle", "smoke"])
    with pytest.raises(UserError, match=r"\(did you mean --profile for --profle, "
                                        r"--base-folder for --base-foldr\?\)"):
        p.parse_args(["--profle=smoke", "--base-foldr", "B"])
    with pytest.raises(UserError, match=r"invalid choice: 'smok' .* \(did you mean smoke\?\)"):
        p.parse_args(["--profile", "smok"])
    with pytest.raises(UserError) as far:            # nothing near: no guess
        p.parse_args(["--zzz"])
    assert "did you mean" not in str(far.value)
    with pytest.raises(UserError) as old:             # an old name is never suggested
        p.parse_args(["--seeed", "1"])
    assert "--seed?" not in str(old.value)


def test_defaults_help_names_every_default_once():
    from errors import DefaultsHelp

    p = ArgumentParser(prog="prog", formatter_class=DefaultsHelp)
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--device", default=None, help="cpu or cuda")
    p.add_argument("--amp", default="off", help="mixed precision (default: off)")
    p.add_argument("--compile", action="store_true", help="compile")
    text = " ".join(p.format_help().split())
    assert "learning rate (default: 0.1)" in text
    assert "--epochs EPOCHS (default: 200)" in text
    assert "cpu or cuda --amp" in text                # None: nothing to show
    assert text.count("default: off") == 1
    assert "compile (default" not in text


def test_run_training_help_shows_the_defaults():
    from training.options import build_parser

    text = " ".join(build_parser().format_help().split())
    for shown in ("--lr LR initial learning rate (default: 0.1)", "--bs BS batch size "
                  "(default: 128)", "--epochs EPOCHS (default: 200)", "--seed SEED (default: 0)"):
        assert shown in text


def test_every_exe_script_help_names_the_default_profile():
    from helpers import REPO_ROOT, run_in_process

    scripts = sorted((REPO_ROOT / "experiments").glob("exp_*/exe_*.py"))
    assert len(scripts) >= 12           # 5 of exp_10, 2 of exp_10_1, 5 of exp_11_1
    for script in scripts:
        done = run_in_process(script, "--help", check_rc=0)
        text = " ".join(done.stdout.split())
        assert "--profile {paper,smoke}" in text, script.name
        assert "paper (the default)" in text or "(default: paper)" in text, script.name


def test_every_script_prints_its_errors_with_one_prefix():
    import subprocess

    from helpers import REPO_ROOT

    scripts = [p for p in REPO_ROOT.rglob("*.py") if not {"tests", ".venv", ".git"} & set(
        p.relative_to(REPO_ROOT).parts) and 'if __name__ == "__main__":' in p.read_text()]
    assert len(scripts) >= 20
    for script in scripts:           # each ends through run_main: "error: <one line>"
        assert "sys.exit(run_main(" in script.read_text(), script
    done = subprocess.run(["bash", str(REPO_ROOT / "tools" / "slurm_cluster.sh"), "bogus"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown command 'bogus'")


PRELOAD_PROBE = """
import gc, json, sys
sys.path[:0] = [{root!r}, {probes!r}]
from errors import run_main

def main(argv):
    import probe
    print(json.dumps(dict(collector_during_import=probe.ENABLED, enabled=gc.isenabled(),
                          frozen=gc.get_freeze_count(), argv=argv)))
    return 3

sys.exit(run_main(main, ["--x"], preload={preload!r}))
"""


@pytest.mark.parametrize("preload", [[], ["probe"]])
def test_preload_imports_with_the_collector_paused_then_freezes(preload, tmp_path):
    """run_main's `preload` (the scripts that import torch pass it), in a fresh interpreter:
    freezing is for a process's own start, not for a test worker's."""
    import json
    import subprocess
    import sys

    from helpers import REPO_ROOT

    (tmp_path / "probe.py").write_text("import gc\nENABLED = gc.isenabled()\n")
    code = PRELOAD_PROBE.format(root=str(REPO_ROOT), probes=str(tmp_path), preload=preload)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3, done.stderr     # main's own exit code, as without it
    seen = json.loads(done.stdout)
    assert seen["argv"] == ["--x"] and seen["enabled"] is True
    assert seen["collector_during_import"] is not bool(preload)
    assert (seen["frozen"] > 0) is bool(preload)   # the interpreter's own objects with it
