"""What starting one connection thread costs: `threading.Thread(...).start()` against
`_thread.start_new_thread`, each thread doing nothing and ending at once.

    valgrind --tool=callgrind --callgrind-out-file=/tmp/t.0   python3 bench/thread_start.py thread 0
    valgrind --tool=callgrind --callgrind-out-file=/tmp/t.500 python3 bench/thread_start.py thread 500
    # instructions per thread = (summary of t.500 - summary of t.0) / 500; then "raw"
    strace -f -c python3 bench/thread_start.py thread 1000   # the system calls behind it
"""

from __future__ import annotations

import _thread
import sys
import threading
import time


def main() -> int:
    how, count = sys.argv[1], int(sys.argv[2])
    threading.stack_size(256 * 1024)  # as the server's connection threads
    done: list[int] = []
    for _ in range(count):
        if how == "thread":
            threading.Thread(target=done.append, args=(1,), daemon=True).start()
        else:
            _thread.start_new_thread(done.append, (1,))
    while len(done) < count:
        time.sleep(0.001)
    return 0


if __name__ == "__main__":
    sys.exit(main())
