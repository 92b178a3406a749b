"""scripts/local_run.py (`make run`): arguments it cannot run with are refused with a message, before any server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # runs the script in a subprocess


def local_run(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "local_run.py"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("images", ["missing", "empty", "only-md"])
def test_a_missing_or_empty_images_folder_is_refused_with_status_2(tmp_path, images):
    folder = tmp_path / images
    if images != "missing":
        folder.mkdir()
    if images == "only-md":
        (folder / "README.md").write_text("not uploaded")
    done = local_run("--images", folder)
    assert done.returncode == 2, done.stderr
    assert f"--images {folder}" in done.stderr and "Traceback" not in done.stderr
