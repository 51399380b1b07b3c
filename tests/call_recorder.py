"""Run the server with every call into `app` recorded: which functions really run.

    python3 tests/call_recorder.py CALLS_FILE python3 -m app.main [OPTIONS...]

(the shape `ServerProcess(wrapper=...)` gives: the wrapper, then the usual command). Each
call of a function, method or class body defined under `app/` appends one line,
`app.module.Qualified.name`, to CALLS_FILE, from every thread (`threading.setprofile`
hands the profile function on to the connection threads). tests/test_walkthrough.py
reads it to check that each stage of docs/walkthrough.md names functions that run for
its request, not ones that merely exist.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def recorder(path: str) -> Any:
    """A profile function appending `module.qualname` of each `app` call to `path`: one
    os.write per line on an O_APPEND descriptor, so lines of two threads never mix."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(frame: FrameType, event: str, argument: object) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if module.startswith("app."):
            os.write(descriptor, f"{module}.{frame.f_code.co_qualname}\n".encode())

    return record


def main() -> int:
    calls_file, *command = sys.argv[1:]
    arguments = command[command.index("app.main") + 1 :]
    sys.path.insert(0, str(ROOT))
    record = recorder(calls_file)
    threading.setprofile(record)
    sys.setprofile(record)
    from app import main as app_main

    return app_main.main(arguments)


if __name__ == "__main__":
    sys.exit(main())
