"""`python3 -m app`: the server (`main.py`), or with `share` / `shares` first, the share
links' command line (`sharecli.py`)."""

import sys

if sys.argv[1:2] in (["share"], ["shares"]):
    from app.sharecli import main
else:
    from app.main import main

sys.exit(main())
