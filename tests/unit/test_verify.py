"""How the verifier confirms the mosaic's answer on the whole image, on scripted score curves."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from PIL import Image

from handler.quality import search
from handler.quality.search import Bounds, Candidate, Sample, confirmed

TARGET = 80
BOUNDS = Bounds(30, 95)


class Scripted(Sample):
    """A sample whose score at each quality is given: the stepping logic, without encoding anything."""

    def __init__(self, score: Callable[[int], float]) -> None:
        self._score = score
        self._target = TARGET
        self._tried = {}
        self.asked: list[int] = []

    def measure(self, quality: int, subsampling: str, tables: str) -> tuple[float, bytes]:
        self.asked.append(quality)
        self._tried[quality, subsampling, tables] = (self._score(quality), f"q{quality}".encode())
        return self._tried[quality, subsampling, tables]


def whole_score(quality: int) -> float:
    return 50 + 0.5 * quality  # reaches 80 at quality 60


def run(over: float) -> tuple[Scripted, Candidate]:
    """The mosaic over-scores the whole image by `over` points."""
    mosaic, whole = Scripted(lambda q: whole_score(q) + over), Scripted(whole_score)
    settled = mosaic.settle("4:2:0", 50, BOUNDS, TARGET + search.SAMPLE_MARGIN)
    return whole, confirmed(whole, mosaic, settled, BOUNDS, TARGET)


def test_a_mosaic_that_agrees_with_the_whole_image_is_confirmed_with_one_whole_image_score():
    whole, candidate = run(over=0.0)
    assert whole.asked == [candidate.quality] and candidate.score >= TARGET
    assert candidate.quality == math.ceil(2 * (TARGET + search.SAMPLE_MARGIN - 50))


def test_when_the_mosaic_over_scores_the_next_try_is_aimed_by_the_measured_gap():
    whole, candidate = run(over=3.0)
    assert len(whole.asked) == 2 and candidate.score >= TARGET
    # aimed at target + gap + margin on the mosaic: the margin's worth above the lowest passing quality
    assert candidate.quality == math.ceil(2 * (TARGET + search.SAMPLE_MARGIN - 50))
    assert candidate.data == f"q{candidate.quality}".encode()


def test_an_unreachable_target_ends_at_the_highest_allowed_quality_within_the_budget():
    mosaic, whole = Scripted(lambda q: 100.0), Scripted(lambda q: 60 + 0.1 * q)
    settled = mosaic.settle("4:2:0", 50, BOUNDS, TARGET + search.SAMPLE_MARGIN)
    candidate = confirmed(whole, mosaic, settled, BOUNDS, TARGET)
    assert len(whole.asked) <= search.MAX_ENCODES and whole.asked[-1] == BOUNDS.high
    assert candidate.quality == BOUNDS.high and candidate.score < TARGET


def test_when_the_whole_image_passes_by_far_the_next_try_is_aimed_lower():
    whole, candidate = run(over=-4.0)
    assert len(whole.asked) == 2 and whole.asked[1] < whole.asked[0]
    assert candidate.quality == math.ceil(2 * (TARGET + search.SAMPLE_MARGIN - 50)) and candidate.score >= TARGET


def test_the_walk_finds_the_lowest_passing_quality_or_stops_at_one_passing_by_less_than_enough():
    asked: list[int] = []

    def score(quality: int) -> float:
        asked.append(quality)
        return whole_score(quality)

    assert search.walk(score, 50, BOUNDS, TARGET) == 60  # whole_score reaches 80 at 60
    closed = len(asked)
    asked.clear()
    early = search.walk(score, 50, BOUNDS, TARGET, enough=2.0)
    assert TARGET <= whole_score(early) < TARGET + 2.0 and len(asked) < closed


def test_once_the_walk_brackets_the_target_it_interpolates_instead_of_bisecting():
    asked: list[int] = []

    def score(quality: int) -> float:
        asked.append(quality)
        return 20.0 + quality  # reaches 80 at 60; the first step (1.5 per point) overshoots to 65

    assert search.walk(score, 50, BOUNDS, TARGET) == 60
    # bisection of 50..65 would ask 57, 61, 59, 60: six scores in all, the whole budget
    assert asked == [50, 65, 60, 59]


def test_when_the_mosaic_error_changes_with_quality_the_search_interpolates_on_the_whole_image():
    # a smooth gradient: the mosaic's curve is nearly flat while the whole image's is steep
    mosaic, whole = Scripted(lambda q: 70 + 0.13 * q), Scripted(lambda q: 50 + 0.45 * q)
    settled = mosaic.settle("4:2:0", 75, BOUNDS, TARGET + search.SAMPLE_MARGIN)
    candidate = confirmed(whole, mosaic, settled, BOUNDS, TARGET)
    lowest = math.ceil((TARGET - 50) / 0.45)
    assert TARGET <= candidate.score < TARGET + search.SURPLUS and candidate.quality >= lowest
    assert len(whole.asked) <= 4


def test_interpolate_stays_strictly_inside_the_bracket():
    assert search.interpolate((40, 70.0), (90, 95.0), 80.0) == 60
    assert search.interpolate((40, 70.0), (42, 95.0), 99.0) == 41  # beyond the upper point: clamped inside
    assert search.interpolate((40, 80.0), (50, 79.0), 80.0) == 45  # scores not rising: the midpoint


class TwoChromas(Scripted):
    """A colour sample scored per subsampling: 4:2:0 reaches TARGET only at `subsampled_pass`, 4:4:4 at 60;
    4:4:4 costs 1.5 times the bytes of 4:2:0 at the same quality."""

    def __init__(self, subsampled_pass: int) -> None:
        super().__init__(whole_score)
        self.image = Image.new("RGB", (8, 8))
        self._slope = (TARGET - 1) / subsampled_pass
        self.asked_subsampling: set[str] = set()

    def measure(self, quality: int, subsampling: str, tables: str) -> tuple[float, bytes]:
        self.asked_subsampling.add(subsampling)
        if subsampling == "4:4:4":
            return whole_score(quality), b"x" * (3 * quality)
        return 1 + self._slope * quality, b"x" * (2 * quality)


def test_a_subsampled_answer_above_subsampled_max_is_weighed_against_full_chroma(pillow_only):
    tiles = TwoChromas(subsampled_pass=search.SUBSAMPLED_MAX + 2)
    settled = search.on_sample(tiles, 70, Bounds(50, 100), TARGET)
    assert (settled.subsampling, settled.quality) == ("4:4:4", 60)  # 180 bytes against 4:2:0's 194


def test_below_the_high_presets_a_subsampled_answer_up_to_subsampled_max_is_taken_alone(pillow_only):
    tiles = TwoChromas(subsampled_pass=search.SUBSAMPLED_MAX)
    settled = search.on_sample(tiles, 70, Bounds(50, 100), TARGET)
    assert (settled.subsampling, settled.quality) == ("4:2:0", search.SUBSAMPLED_MAX)
    assert tiles.asked_subsampling == {"4:2:0"}


def test_a_whole_image_that_passes_in_4_2_0_only_above_subsampled_max_is_weighed_against_full_chroma():
    mosaic = Scripted(whole_score)  # the tiles miss the colour detail: 4:2:0 passes there as early as 4:4:4
    mosaic.image = Image.new("RGB", (8, 8))
    whole = TwoChromas(subsampled_pass=search.SUBSAMPLED_MAX + 3)
    bounds = Bounds(50, 100)
    settled = mosaic.settle("4:2:0", 70, bounds, TARGET + search.SAMPLE_MARGIN)
    candidate = search.either_confirmed(whole, mosaic, settled, 70, bounds, TARGET)
    assert candidate.subsampling == "4:4:4" and candidate.score >= TARGET
    assert candidate.quality < search.SUBSAMPLED_MAX  # fewer bytes than 4:2:0 at the top of the range


class Chromas(Sample):
    """A colour sample with a score curve per subsampling; 4:4:4 costs 1.5 times the bytes of 4:2:0."""

    def __init__(self, curves: dict[str, Callable[[int], float]]) -> None:
        self._curves, self._tried, self._target = curves, {}, TARGET
        self.image = Image.new("RGB", (8, 8))

    def measure(self, quality: int, subsampling: str, tables: str) -> tuple[float, bytes]:
        if (quality, subsampling, tables) not in self._tried:
            size = quality * (3 if subsampling == "4:4:4" else 2)
            self._tried[quality, subsampling, tables] = (self._curves[subsampling](quality), b"x" * size)
        return self._tried[quality, subsampling, tables]


def test_where_the_mosaic_fails_4_2_0_but_under_scores_the_image_4_2_0_is_searched_on_the_whole_image():
    # The mosaic holds the picture's busiest part: it under-scores 4:4:4 by 5 and never passes 4:2:0, while the
    # whole image passes 4:2:0 at quality 64 for fewer bytes than 4:4:4 at 60.
    mosaic = Chromas({"4:4:4": lambda q: whole_score(q) - 5, "4:2:0": lambda q: 40 + 0.3 * q})
    whole = Chromas({"4:4:4": whole_score, "4:2:0": lambda q: whole_score(q) - 2})
    bounds = Bounds(50, 100)
    settled = search.on_sample(mosaic, 70, bounds, TARGET + search.SAMPLE_MARGIN)
    assert settled.subsampling == "4:4:4"
    candidate = search.either_confirmed(whole, mosaic, settled, 70, bounds, TARGET)
    assert (candidate.subsampling, candidate.score >= TARGET) == ("4:2:0", True)
    assert candidate.quality <= 66


def test_where_the_mosaic_fails_4_2_0_and_agrees_with_the_image_4_2_0_is_not_searched_again():
    mosaic = Chromas({"4:4:4": whole_score, "4:2:0": lambda q: 40 + 0.3 * q})
    whole = Chromas({"4:4:4": whole_score, "4:2:0": lambda q: 40 + 0.3 * q})
    bounds = Bounds(50, 100)
    settled = search.on_sample(mosaic, 70, bounds, TARGET + search.SAMPLE_MARGIN)
    candidate = search.either_confirmed(whole, mosaic, settled, 70, bounds, TARGET)
    assert candidate.subsampling == "4:4:4"
    assert {subsampling for _, subsampling, _ in whole._tried} == {"4:4:4"}


def test_libjpegs_tables_are_tried_only_where_a_jpeg_sources_own_quality_caps_the_search():
    failing = {"4:4:4": whole_score, "4:2:0": lambda q: 40 + 0.3 * q}  # 4:2:0 never passes
    capped = Bounds(50, 90, source_capped=True)
    for bounds, tried in [(Bounds(50, 100), {"robidoux"}), (capped, {"robidoux", "annex-k"})]:
        mosaic, whole = Chromas(failing), Chromas(failing)
        settled = search.on_sample(mosaic, 70, bounds, TARGET + search.SAMPLE_MARGIN)
        search.either_confirmed(whole, mosaic, replace(settled, subsampling="4:2:0", tables="robidoux"), 70, bounds,
                                TARGET)
        assert {t for _, s, t in mosaic._tried if s == "4:2:0"} == tried
        assert {t for _, s, t in whole._tried if s == "4:2:0"} == tried
