#!/bin/sh
# Starts the server: ./your_program.sh [--directory DIR] [--port PORT] ... (--help for all).
# Needs only Python 3.11+; the server uses the standard library alone.
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m app.main "$@"
