"""How stages and commands report errors: one line that says what is wrong, where and what to do;
the traceback only with HMS_DEBUG=1 (stages) or --debug (the hms command)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable


def run_stage(main: Callable[..., Any], *args: Any) -> None:
    """Run a DVC stage's main(); on an error print one line and exit with status 2."""
    try:
        main(*args)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes one readable line
        if os.environ.get("HMS_DEBUG"):
            traceback.print_exc()
        stage = Path(sys.argv[0]).stem
        hint = "" if os.environ.get("HMS_DEBUG") else " (HMS_DEBUG=1 shows the traceback)"
        print(f"{stage}: error: {exc}{hint}", file=sys.stderr)
        sys.exit(2)
