"""The snapshot's page reads: a page taken from growing slices of a sort order equals the page of the whole
order filtered at once, for every start, size and density of selection (none, sparse, dense, all)."""

from __future__ import annotations

import numpy as np
import pytest

from portal.search.memory import Summaries, top_by_order


@pytest.mark.parametrize("density", [0.0, 0.0005, 0.01, 0.5, 1.0])
def test_a_page_from_slices_is_the_page_of_the_whole_order(density):
    rng = np.random.default_rng(5)
    n = 50_000
    order = rng.permutation(n)
    mask = rng.random(n) < density
    whole = order[mask[order]]
    for start, count in [(0, 1), (0, 11), (10, 11), (990, 11), (4_000, 101), (len(whole) - 3, 11), (n, 10)]:
        start = max(start, 0)
        assert np.array_equal(top_by_order(order, mask, start, count), whole[start : start + count]), (start, count)
        backwards = order[::-1]
        assert np.array_equal(
            top_by_order(backwards, mask, start, count), backwards[mask[backwards]][start : start + count]
        )


def test_an_empty_order_gives_an_empty_page():
    assert len(top_by_order(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), 0, 10)) == 0


def test_summaries_keep_the_most_recently_used_selections():
    kept = Summaries(size=2)
    made = []

    def make(key):
        made.append(key)
        return key * 10

    assert kept.get(1, lambda: make(1)) == 10
    assert kept.get(2, lambda: make(2)) == 20
    assert kept.get(1, lambda: make(1)) == 10  # held: not made again, and now the most recent
    assert kept.get(3, lambda: make(3)) == 30  # 2 is the least recently used: it goes
    assert kept.get(2, lambda: make(2)) == 20
    assert made == [1, 2, 3, 2]
