"""Run pytest for one mutant in a process forked from a warm one: the mutant's tests start without importing torch.

Each mutant's test command would otherwise spend seconds importing torch, numpy, Pillow and pytest before its first
test; on a busy two-core machine that was most of a mutation run. The server imports those once (third-party
libraries only: nothing of StyleSwap, so every fork imports the mutated module from disk afresh) and forks a child
per request that runs ``pytest.main`` with the given arguments and exits with its status.

    python scripts/mutation_pytest.py serve SOCKET LIMIT_S   # scripts/mutate.sh starts it and stops it
    python scripts/mutation_pytest.py run SOCKET PYTEST_ARGS  # the test command cosmic-ray runs per mutant
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

EXIT_MARK = b"\0mutation-pytest-exit "


def serve(path: str, limit_s: int) -> None:
    """Serve one request at a time; a child still running after ``limit_s`` is killed (cosmic-ray's own timeout
    only ends the client), so the next mutant waits at most that long."""
    import importlib

    import pytest

    # the heavy imports, done once: hypothesis alone (its pytest plugin) took 2 s of every child
    for name in ("numpy", "PIL.Image", "torch", "torch.nn.functional", "hypothesis", "skimage.data", "safetensors.torch"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass

    sys.dont_write_bytecode = True
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as request:
            args = json.loads(request.readline())
            child = os.fork()
            if child == 0:
                server.close()
                signal.alarm(limit_s)
                os.dup2(conn.fileno(), 1)
                os.dup2(conn.fileno(), 2)
                sys.stdout = os.fdopen(1, "w", buffering=1)
                sys.stderr = os.fdopen(2, "w", buffering=1)
                code = pytest.main(args)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(int(code))
            _, status = os.waitpid(child, 0)
            code = os.waitstatus_to_exitcode(status)
            conn.sendall(EXIT_MARK + str(code if code >= 0 else 128 - code).encode())


def run(path: str, args: list[str]) -> int:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)
    except OSError:
        import pytest

        return int(pytest.main(args))
    client.sendall(json.dumps(args).encode() + b"\n")
    received = bytearray()
    while chunk := client.recv(65536):
        received += chunk
    output, mark, code = bytes(received).rpartition(EXIT_MARK)
    sys.stdout.buffer.write(output)
    if not mark:  # the server is gone: run the tests here rather than judge the mutant on no result
        import pytest

        return int(pytest.main(args))
    return int(code)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(run(sys.argv[2], sys.argv[3:]))
