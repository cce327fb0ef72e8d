"""The build on both cores: shapely's predicates, tree queries and `buffer`, and numpy on
large arrays, release the GIL, so an element-wise call over halves of its arrays, or the
chunks of a chunked step, in two threads take about half as long and give the same
arrays. The threads end with the call (the server forks after a build).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from shapely import STRtree

T = TypeVar("T")

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


def chunks(func: Callable[[int, int], T], ranges: list[tuple[int, int]]) -> list[T]:
    """[func(lo, hi) for each range], two ranges at a time: for a chunked build step whose
    body is large numpy and shapely calls (most release the GIL). `func` must not share
    mutable state between ranges except by writing disjoint slices."""
    if len(ranges) < 2 or _threads() < 2:
        return [func(lo, hi) for lo, hi in ranges]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda r: func(*r), ranges))
