"""One kind of error for bad input, and the CLI wrapper that prints it as one line.

Anything a user can cause (a typo in an option, a corrupt file, a missing folder)
raises `UserError` with a message that names the problem and the fix. Entry points run
through `run_main`, which prints that message as a single line and exits non-zero;
`--debug` on the command line shows the full traceback instead.
"""
import sys


class UserError(Exception):
    """Bad input or environment; the message says what is wrong and how to fix it."""

    exit_code = 2


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
