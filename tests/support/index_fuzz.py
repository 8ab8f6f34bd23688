"""Damages a stored vector index at random words and reports, as JSON on stdout, how many
versions the layout check refused, how many it let through, and how many of those crashed
USearch (view, then search) in a forked child. Run as a script in a fresh, single-threaded
process (forking a process with gRPC threads is not safe):

    python tests/support/index_fuzz.py TRIALS SEED
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from basketry.snapshot import SnapshotError
from basketry.snapshot.index_layout import check_index_layout
from basketry.snapshot.vector_index import cosine_index, view_index

ROWS = 400
NDIM = 8


def fuzz(trials: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    unit = rng.standard_normal((ROWS, NDIM)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    blob = cosine_index(unit)
    check_index_layout(blob, ndim=NDIM, rows=ROWS)
    queries = rng.standard_normal((20, NDIM)).astype(np.float32)
    # passed: the check let it through; crashed: then killed by a signal (SIGSEGV...);
    # raised: then a Python exception other than SnapshotError (the server counts it as
    # reason "other" and keeps serving).
    outcome = {"refused": 0, "passed": 0, "crashed": 0, "raised": 0}
    for _ in range(trials):
        damaged = blob.copy()
        at = int(rng.integers(0, damaged.size - 4))
        value = int(
            rng.choice([0xFFFFFFFF, ROWS, ROWS + 1, 1 << 31, int(rng.integers(0, 1 << 32))])
        )
        damaged[at : at + 4] = np.frombuffer(np.uint32(value).tobytes(), dtype=np.uint8)
        try:
            check_index_layout(damaged, ndim=NDIM, rows=ROWS)
        except SnapshotError:
            outcome["refused"] += 1
            continue
        outcome["passed"] += 1
        child = os.fork()
        if child == 0:
            os._exit(_view_and_search(damaged, queries))
        _, status = os.waitpid(child, 0)
        if os.WIFSIGNALED(status):
            outcome["crashed"] += 1
        elif os.WEXITSTATUS(status) != 0:
            outcome["raised"] += 1
    return outcome


def _view_and_search(blob: np.ndarray, queries: np.ndarray) -> int:
    """In the forked child: 0 if USearch opened and searched it or refused it cleanly."""
    try:
        index = view_index(blob, ndim=NDIM)
        if index is not None:
            index.nearest(queries, 10)
    except SnapshotError:
        return 0  # refused by USearch itself
    except BaseException:
        return 3
    return 0


if __name__ == "__main__":
    print(json.dumps(fuzz(int(sys.argv[1]), int(sys.argv[2]))))
