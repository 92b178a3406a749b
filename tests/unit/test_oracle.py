"""The oracle searches: every claim about the model is measured against the quality they find."""

from __future__ import annotations

import pytest

from training.oracle import bisected_quality, oracle_quality


class Scores:
    """A score rising with quality, less steeply near the top, counting the qualities asked for."""

    def __init__(self, slope: float) -> None:
        self.slope = slope
        self.asked: list[int] = []

    def __call__(self, quality: int) -> float:
        self.asked.append(quality)
        return 100 - self.slope * (100 - quality) ** 1.2


def _lowest_passing(scores: Scores, target: float) -> int | None:
    return next((q for q in range(1, 101) if scores(q) >= target), None)


@pytest.mark.parametrize("search", [oracle_quality, bisected_quality])
@pytest.mark.parametrize("slope", [0.2, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("target", [70, 80, 85, 90])
def test_both_searches_find_the_lowest_quality_reaching_the_target(search, slope, target):
    assert search(Scores(slope), target) == _lowest_passing(Scores(slope), target)


@pytest.mark.parametrize("search", [oracle_quality, bisected_quality])
def test_an_unreachable_target_has_no_oracle_quality(search):
    assert search(lambda quality: 50.0, 80) is None


@pytest.mark.parametrize("slope", [0.2, 0.5, 1.0, 3.0])
def test_bisection_scores_at_most_seven_qualities_of_a_hundred_each_once(slope):
    scores = Scores(slope)
    bisected_quality(scores, 80)
    assert len(scores.asked) == len(set(scores.asked)) <= 7


@pytest.mark.parametrize("search", [oracle_quality, bisected_quality])
@pytest.mark.parametrize("target", [70, 80, 85, 90])
def test_where_the_score_dips_the_answer_still_reaches_the_target(search, target):
    # a JPEG saved at 75 and re-encoded: near its own quality it scores higher than a few qualities above
    rising = Scores(0.5)

    def dipping(quality: int) -> float:
        return 95.0 if 73 <= quality <= 75 else rising(quality)

    found = search(dipping, target)
    assert found is not None and dipping(found) >= target
