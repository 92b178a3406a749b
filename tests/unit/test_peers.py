"""bench.peers' verdicts on made-up rows: which peer settings the claim covers and where it fails. Neither the peer
binary nor the corpus is needed."""

from __future__ import annotations

from bench.peers import Row, claim, comparisons, function_runner, main, peer_runner, runner_table


def rows(runner: str, scores: list[float], sizes: list[int]) -> list[Row]:
    return [Row(f"p{i}", runner, 1000, size, score, 0.1) for i, (score, size) in enumerate(zip(scores, sizes,
                                                                                               strict=True))]


FUNCTION_80 = rows(function_runner(80), [81, 82, 79], [300, 300, 300])
SMALLER_BUT_FAILING = rows(peer_runner("--quality low"), [70, 75, 79], [100, 100, 100])
LARGER_PASSING = rows(peer_runner("defaults"), [90, 95, 79], [400, 400, 400])
SMALLER_PASSING = rows(peer_runner("--target 0.9994"), [80, 81, 60], [250, 250, 250])


def test_a_setting_passing_fewer_outputs_is_not_compared_however_small():
    (found,) = comparisons(FUNCTION_80 + SMALLER_BUT_FAILING, (80,))
    assert (found.peer_passes, found.function_passes, found.eligible) == (0, 2, False)


def test_the_claim_holds_where_the_function_writes_fewer_bytes_for_as_many_passes():
    (found,) = comparisons(FUNCTION_80 + LARGER_PASSING, (80,))
    assert found.eligible and found.holds
    assert claim([found])[-1].endswith("the function wrote fewer bytes in 1.")


def test_a_setting_passing_as_many_with_fewer_bytes_is_named():
    found = comparisons(FUNCTION_80 + LARGER_PASSING + SMALLER_PASSING + SMALLER_BUT_FAILING, (80,))
    summary = claim(found)[-1]
    assert summary.startswith("Of 2 (target, setting) pairs")
    assert "fewer bytes in 1; not in: --target 0.9994 at 80." in summary


def test_the_table_counts_passes_per_threshold_and_bytes_against_the_function():
    table = runner_table(FUNCTION_80 + LARGER_PASSING, (80, 90), function_runner(80))
    peer_line = next(line for line in table if line.startswith(f"| {peer_runner('defaults')} "))
    cells = [cell.strip() for cell in peer_line.strip("|").split("|")]
    assert cells[1:7] == ["2/3", "2/3", "79.0", "90.0", "1,200", "1.333"]


def test_without_the_peer_binary_it_skips_saying_how_to_build_it(tmp_path, capsys):
    main(["--peer", str(tmp_path / "jpeg-recompress")])
    out = capsys.readouterr().out
    assert "skipped" in out and "make peers" in out
