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
