"""`python -m tests.reliability.killer POINT N -- loralab ARGS`: run the real CLI and SIGKILL it at
the N-th call of a write primitive (kill points injected from the test side; loralab has no hooks).

POINT is `before-replace` / `after-replace` (os.replace: every atomic file and the checkpoint and
adapter directory swaps), or `fsync` (after a file's bytes are written, before its rename; also every
metrics line). N = 0 counts the calls instead and prints `calls=<n>` at exit.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys


def main() -> None:
    point, n = sys.argv[1], int(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1 :]
    name = "fsync" if point == "fsync" else "replace"
    real = getattr(os, name)
    calls = [0]

    def wrapped(*a, **k):
        calls[0] += 1
        if calls[0] == n and point != "after-replace":
            os.kill(os.getpid(), signal.SIGKILL)
        out = real(*a, **k)
        if calls[0] == n and point == "after-replace":
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    setattr(os, name, wrapped)
    if n == 0:
        atexit.register(lambda: print(f"calls={calls[0]}", file=sys.stderr))
    sys.argv = ["loralab", *args]
    from loralab.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
