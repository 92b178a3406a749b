"""`make bench`, `make tune`, `make load` and `make fuzz` run for minutes on a corpus CI does not have, so no test
runs them. These check the part that breaks without one: each benchmark's module imports and its command line
parses (`--help`), so that a retrainer's `make bench` does not die on a name error after the first half hour."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

BENCHMARKS = sorted(module.name for module in pkgutil.iter_modules(bench.__path__))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_command_line_parses(name, capsys):
    module = importlib.import_module(f"bench.{name}")
    with pytest.raises(SystemExit) as stopped:
        module.main(["--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")
