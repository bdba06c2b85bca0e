"""How errors reach the user: one line that says what is wrong, where and what to do; the
traceback only on request (`hms --debug`, or HMS_DEBUG=1 for stages run by DVC).

Expected errors are problems of the input or the environment, which the user fixes:
- DataError: a file of the data directory breaks the data contract (hms.data.errors);
- ConfigError: a params.yaml block, a config file or a command-line option is wrong (every check of
  a setting raises it);
- OSError: a file is missing, is a directory, cannot be read or written, the disk is full;
- yaml.YAMLError: params.yaml (or another YAML file) does not parse.
They print `<stage>: error: <message>` and exit with EXIT_USER (2). Anything else prints one line
too, with how to get the traceback, and exits with EXIT_BUG (1); it is called a bug unless it is a
plain ValueError, which checks of derived artefacts (features, predictions, saved models) and
libraries raise: its message often says what is wrong, so it is shown without that verdict.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, NoReturn

from hms.data.errors import DataError

EXIT_BUG = 1
EXIT_USER = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "HMS_DEBUG"


class ConfigError(ValueError):
    """A parameter or config file is wrong (unknown key, value out of range, wrong type)."""


def user_error_types() -> tuple[type[BaseException], ...]:
    import yaml  # already imported by whoever read params; kept out of `hms --help`

    return (DataError, ConfigError, OSError, yaml.YAMLError)


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def describe(exc: BaseException) -> str:
    """The one-line message of an exception as the user sees it."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        # '[Errno 2] No such file or directory: 'x'' -> 'x: No such file or directory'
        msg = f"{exc.filename}: {exc.strerror}"
        if exc.filename2 is not None:
            msg += f" (-> {exc.filename2})"
        return msg
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):  # str(KeyError('x')) is "'x'": say what it is
        text = f"missing key {text}"
    return " ".join(text.splitlines())


def report(exc: BaseException, prog: str, debug_hint: str) -> int:
    """Print one line for `exc` to stderr and return the exit status."""
    if isinstance(exc, user_error_types()):
        print(f"{prog}: error: {describe(exc)}", file=sys.stderr)
        return EXIT_USER
    if type(exc) is ValueError:
        # Settings checks raise ConfigError; a plain ValueError comes from a check of derived artefacts
        # or from a library, which may be a bug or an input the checks missed: show it without a verdict.
        print(f"{prog}: error: {describe(exc)} ({debug_hint} for the traceback)", file=sys.stderr)
        return EXIT_BUG
    print(f"{prog}: error: unexpected {type(exc).__name__}: {describe(exc)} "
          f"(this looks like a bug; {debug_hint} for the traceback)", file=sys.stderr)
    return EXIT_BUG


def stage_name(args: tuple[Any, ...]) -> str:
    """'prepare' for stages/prepare.py; 'train@lgbm' when the stage takes a name (foreach stages)."""
    name = Path(sys.argv[0]).stem or "stage"
    if args and isinstance(args[0], str):
        name += f"@{args[0]}"
    return name


def run_stage(main: Callable[..., Any], *args: Any, stage: str | None = None) -> None:
    """Run a stage's main(*args); expected errors become one line on stderr and exit status 2,
    other errors one line and status 1. HMS_DEBUG=1 shows the traceback instead."""
    name = stage or stage_name(args)
    try:
        main(*args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        _exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the point is to catch everything once, at the top
        if debug_enabled():
            traceback.print_exc()
            _exit(EXIT_USER if isinstance(exc, user_error_types()) else EXIT_BUG)
        _exit(report(exc, name, f"rerun with {DEBUG_ENV}=1"))


def _exit(code: int) -> NoReturn:
    sys.stderr.flush()
    sys.exit(code)
