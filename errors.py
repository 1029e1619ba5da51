"""One kind of error for bad input, and the CLI wrapper that prints it as one line.

Anything a user can cause (a typo in an option, a corrupt file, a missing folder)
raises `UserError` with a message that names the problem and the fix. Entry points run
through `run_main`, which prints that message as a single line and exits non-zero;
`--debug` on the command line shows the full traceback instead.
"""
import argparse
import os
import sys


class UserError(Exception):
    """Bad input or environment; the message says what is wrong and how to fix it."""

    exit_code = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors (a bad type, a missing option) are UserErrors, so that
    `run_main` prints them as the project's one line with exit 2 instead of argparse's
    usage block. The message points at the script's --help, named as it was run."""

    def __init__(self, *args, **kwargs):
        script = sys.argv[0] if sys.argv and sys.argv[0].endswith(".py") else ""
        if script and "prog" not in kwargs:
            kwargs["prog"] = f"python {os.path.relpath(script)}"
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UserError(f"{message}; see {self.prog} --help")


def run_main(main, argv=None) -> int:
    """Run `main(argv)`; turn a UserError into one line on stderr and its exit code."""
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
