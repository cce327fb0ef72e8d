"""The build's heaviest shapely calls on both cores: predicates and tree queries release
the GIL, so an element-wise call over halves of its arrays in two threads takes about
half as long and gives the same array. (`buffer` holds the GIL, and a pyproj transformer
is remade per thread: no gain for either.) The threads end with the call (the server
forks after a build).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from shapely import STRtree

# Below this many elements a second thread costs more than it saves.
_MIN_SPLIT = 20_000


def _threads() -> int:
    """Cores this process may run on (at most 2 used)."""
    try:
        return min(len(os.sched_getaffinity(0)), 2)
    except AttributeError:  # not on Linux
        return min(os.cpu_count() or 1, 2)


def elementwise(func: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """func(*arrays) for an element-wise func (one result per element, in order)."""
    n = arrays[0].shape[0]
    if n < _MIN_SPLIT or _threads() < 2:
        return func(*arrays)
    mid = n // 2
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(func, *(a[:mid] for a in arrays))
        second = func(*(a[mid:] for a in arrays))
        return np.concatenate([first.result(), second])


def query(tree: STRtree, geoms: np.ndarray, **kwargs: object) -> np.ndarray:
    """tree.query(geoms, **kwargs): (2, n) pairs of input index and tree index, sorted by
    input index as STRtree gives them."""
    n = geoms.shape[0]
    if n < _MIN_SPLIT or _threads() < 2:
        return tree.query(geoms, **kwargs)
    mid = n // 2
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(tree.query, geoms[:mid], **kwargs)
        second = tree.query(geoms[mid:], **kwargs)
        second[0] += mid
        return np.concatenate([first.result(), second], axis=1)
