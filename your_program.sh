#!/bin/sh
# Starts the server: ./your_program.sh [--directory DIR] [--port PORT] ... (--help for all).
# Needs only Python 3.11+; the server uses the standard library alone.
here=$(cd "$(dirname "$0")" && pwd)
# glibc's malloc gives threads up to 8 arenas per core, and an arena keeps the memory it
# grew into: with a thread per connection, one burst of clients left the server a third
# larger for good (bench/soak.py, docs/hardening.md). The GIL runs one thread's Python at
# a time, so more arenas buy nothing here; two bring memory back after the burst.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m app.main "$@"
