"""One kind of error for bad input, and the CLI wrapper that prints it as one line.

Anything a user can cause (a typo in an option, a corrupt file, a missing folder)
raises `UserError` with a message that names the problem and the fix. Entry points run
through `run_main`, which prints that message as a single line and exits non-zero;
`--debug` on the command line shows the full traceback instead. The scripts that compute
also have `run_main` import torch first, out of the garbage collector's way (`preload`).
"""
import argparse
import copy
import difflib
import os
import re
import sys


class UserError(Exception):
    """Bad input or environment; the message says what is wrong and how to fix it."""

    exit_code = 2


def both_spellings(option_strings) -> list:
    """The option strings with each long option in both spellings, the declared one
    first: `--base_folder` also as `--base-folder`, `--dry-run` also as `--dry_run`."""
    out = list(option_strings)
    for option in option_strings:
        if option.startswith("--"):
            for other in ("--" + option[2:].replace("_", "-"), "--" + option[2:].replace("-", "_")):
                if other not in out:
                    out.append(other)
    return out


class _OneSpellingHelp(argparse.HelpFormatter):
    """--help shows each option in the spelling it was declared with."""

    def _format_action_invocation(self, action):
        declared = getattr(action, "declared_option_strings", None)
        if declared is None:
            return super()._format_action_invocation(action)
        every = action.option_strings
        action.option_strings = declared
        try:
            return super()._format_action_invocation(action)
        finally:
            action.option_strings = every


class DefaultsHelp(_OneSpellingHelp):
    """--help that ends each option's line with its default, where there is one to show
    (not for a flag, an empty default, or a help text that already names it)."""

    @staticmethod
    def _shows_default(action) -> bool:
        return (bool(action.option_strings) and action.nargs != 0
                and action.default not in (None, "", [], argparse.SUPPRESS)
                and "default" not in (action.help or ""))

    def _get_help_string(self, action):
        text = action.help or ""
        return f"{text} (default: %(default)s)".lstrip() if self._shows_default(action) else text

    def _format_action(self, action):
        if not action.help and self._shows_default(action):   # argparse skips empty help
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)


class _BothSpellings:
    """add_argument for the parser and its groups: every long option takes both
    spellings (a user who types `--model-type` for `--model_type` is understood), and
    `old_names=(...)` keeps a renamed option's old name working without showing it."""

    def add_argument(self, *args, old_names=(), **kwargs):
        if not args or not args[0].startswith("-"):
            return super().add_argument(*args, **kwargs)
        action = super().add_argument(*both_spellings(args + tuple(old_names)), **kwargs)
        action.declared_option_strings = list(args)
        return action


class _ArgumentGroup(_BothSpellings, argparse._ArgumentGroup):
    pass


class ArgumentParser(_BothSpellings, argparse.ArgumentParser):
    """argparse whose errors (a bad type, a missing option) are UserErrors, so that
    `run_main` prints them as the project's one line with exit 2 instead of argparse's
    usage block. The message points at the script's --help, named as it was run. Every
    long option takes both spellings (`--base_folder`, `--base-folder`); --help shows the
    declared one."""

    def __init__(self, *args, **kwargs):
        script = sys.argv[0] if sys.argv and sys.argv[0].endswith(".py") else ""
        if script and "prog" not in kwargs:
            kwargs["prog"] = f"python {os.path.relpath(script)}"
        kwargs.setdefault("formatter_class", _OneSpellingHelp)
        super().__init__(*args, **kwargs)

    def add_argument_group(self, *args, **kwargs):
        group = _ArgumentGroup(self, *args, **kwargs)
        self._action_groups.append(group)
        return group

    def _get_option_tuples(self, option_string):
        """An abbreviation that matches both spellings of one option is not ambiguous."""
        found, seen = [], set()
        for option_tuple in super()._get_option_tuples(option_string):
            if id(option_tuple[0]) not in seen:
                seen.add(id(option_tuple[0]))
                found.append(option_tuple)
        return found

    def error(self, message):
        raise UserError(f"{message}{self._did_you_mean(message)}; see {self.prog} --help")

    def _did_you_mean(self, message: str) -> str:
        """' (did you mean --profile?)' for an unknown option or a mistyped choice whose
        nearest known spelling is close enough; '' otherwise."""
        if message.startswith("unrecognized arguments: "):
            declared = (getattr(a, "declared_option_strings", a.option_strings)
                        for a in self._actions)           # old_names are not suggested
            known = [o for names in declared for o in both_spellings(names) if o.startswith("--")]
            words = [w.split("=")[0] for w in message.split(": ", 1)[1].split()
                     if w.startswith("--")]
        else:
            choice = re.match(r"argument .*: invalid choice: '(.*)' \(choose from (.*)\)$",
                              message)
            if not choice:
                return ""
            known = re.findall(r"'([^']*)'", choice.group(2))
            words = [choice.group(1)]
        guesses = [difflib.get_close_matches(w, known, n=1, cutoff=0.6) for w in words]
        shown = [f"{guess[0]} for {w}" if len(words) > 1 else guess[0]
                 for w, guess in zip(words, guesses) if guess]
        return f" (did you mean {', '.join(shown)}?)" if shown else ""


def counted(n: int, noun: str) -> str:
    """'1 run', '3 runs': a count and its noun (given in the singular) as a sentence says it."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def warn(message: str) -> None:
    """A warning on stderr, one line: what is off and what is done about it."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def run_main(main, argv=None, preload=()) -> int:
    """Run `main(argv)`; turn a UserError into one line on stderr and its exit code.

    `preload`: modules `main` imports anyway (the scripts that compute pass torch),
    imported first with the cyclic garbage collector paused, then frozen (gc.freeze): the
    collector never walks their objects again, neither at each full collection of the run
    nor at the interpreter's exit. torch's import leaves about 275,000 such objects;
    walking them took 29 % of the CPU time of a process that imports torch and ends
    (benchmarks/bench_startup.py, 7 December 2026). The scripts pass it; a test that
    calls `run_main` in its own process does not, and its collector stays as it was."""
    if preload:
        freeze_after_import(preload)
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        code = main(argv)
    except UserError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return 130
    return int(code or 0)


def freeze_after_import(modules) -> None:
    """Import `modules` with the cyclic garbage collector paused, then move every object
    alive into its permanent generation (run_main's `preload`)."""
    import gc
    import importlib

    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()
