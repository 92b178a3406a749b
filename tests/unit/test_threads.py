"""One compute thread per worker (issue 24): importing handler limits BLAS/OpenMP threads before numpy loads, for
every entry point, and the command line's default worker count is the cores the process may run on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import handler
from handler import cli

ROOT = Path(__file__).resolve().parents[2]

# Each entry point imports handler (the package) before any module that imports numpy.
ENTRY_POINTS = ["handler.cli", "handler.aws.s3_event", "handler.aws.api", "handler.aws.batch", "bench.stages",
                "training.label"]
PROBE = """
import importlib, json, os, sys
importlib.import_module(sys.argv[1])
from threadpoolctl import threadpool_info
print(json.dumps({"env": {name: os.environ.get(name) for name in sys.argv[2:]},
                  "blas": sorted({pool["num_threads"] for pool in threadpool_info()})}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_importing_an_entry_point_limits_numpy_to_one_thread(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in handler.THREAD_VARIABLES}
    out = subprocess.run([sys.executable, "-c", PROBE, module, *handler.THREAD_VARIABLES], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=120)
    found = json.loads(out.stdout.splitlines()[-1])
    assert found["env"] == dict.fromkeys(handler.THREAD_VARIABLES, "1")
    assert found["blas"] == [1]  # numpy's OpenBLAS (and any other pool loaded) runs one thread


@pytest.mark.slow
def test_a_value_set_in_the_environment_is_kept() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "3"}
    code = "import handler, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def test_cores_is_the_affinity_count(monkeypatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert handler.cores() == 3


def test_cores_falls_back_to_the_cpu_count_without_affinity(monkeypatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert handler.cores() == 6


def test_the_command_line_defaults_to_one_worker_per_available_core(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(b"not read: run_all is replaced")
    workers = []
    monkeypatch.setattr(cli, "run_all", lambda todo, settings, jobs, report, index: workers.append(jobs) or [])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1, 3}, raising=False)
    cli.main(["optimize", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    cli.main(["optimize", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--jobs", "5"])
    assert workers == [2, 5]
