"""The bulk command line: `python -m handler optimize PATH... --out DIR` on a small folder tree."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from handler import cli
from handler.cli import main
from handler.settings import Settings
from tests.conftest import encoded, photo_like

pytestmark = pytest.mark.slow  # every run starts worker processes

@dataclass(frozen=True)
class Run:
    code: int
    records: list[dict]
    stderr: str

    def by_input(self) -> dict[str, dict]:
        return {Path(r["input"]).name: r for r in self.records}


def run(*args: str | Path) -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(["optimize", *map(str, args), "--jobs", "2"])
    return Run(code, [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue())


def make_tree(root: Path) -> Path:
    """photos/a.jpg, photos/trip/b.png, photos/trip/notes.txt"""
    (root / "photos" / "trip").mkdir(parents=True)
    (root / "photos" / "a.jpg").write_bytes(encoded(photo_like(96, 64, seed=1), quality=97))
    (root / "photos" / "trip" / "b.png").write_bytes(encoded(photo_like(96, 64, seed=2), "PNG"))
    (root / "photos" / "trip" / "notes.txt").write_text("not an image")
    return root / "photos"


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> tuple[Path, Path, Run]:
    """One run over a fresh tree, shared by the tests that only read what it did."""
    root = tmp_path_factory.mktemp("cli")
    source, out = make_tree(root), root / "out"
    return source, out, run(source, "--out", out, "--report", root / "report.jsonl")


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path]:
    return make_tree(tmp_path), tmp_path / "out"


def test_outputs_mirror_the_input_tree_including_sub_folders(first):
    _, out, result = first
    assert result.code == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        cli.INDEX,
        cli.RUN_RECORD,
        "a.jpg",
        "trip/b.jpg",  # optimized, so a JPEG, named as one
        "trip/notes.txt",
    ]


def test_every_json_line_carries_input_output_quality_bpp_bytes_and_outcome(first):
    source, out, result = first
    records = result.by_input()
    assert set(records) == {"a.jpg", "b.png", "notes.txt"}
    for record in records.values():
        assert {"input", "output", "quality", "bpp", "bytes_in", "bytes_out", "outcome"} <= set(record)
        assert len(Path(record["output"]).read_bytes()) == record["bytes_out"]
    a = records["a.jpg"]
    assert (a["input"], a["output"]) == (str(source / "a.jpg"), str(out / "a.jpg"))
    assert a["outcome"] == "optimized" and a["quality"] is not None and a["bytes_out"] < a["bytes_in"]
    assert records["notes.txt"]["outcome"] == "rejected"


def test_a_non_image_is_copied_unchanged_and_recorded_as_rejected(first):
    source, out, result = first
    assert (out / "trip" / "notes.txt").read_bytes() == (source / "trip" / "notes.txt").read_bytes()
    assert result.by_input()["notes.txt"]["reason"] == "not-an-image"


def test_the_report_file_holds_the_same_json_lines_as_stdout(first):
    source, _, result = first
    report = source.parent / "report.jsonl"
    assert [json.loads(line) for line in report.read_text().splitlines()] == result.records


def test_the_summary_on_stderr_counts_files_bytes_and_outcomes_by_kind(first):
    _, _, result = first
    bytes_in = sum(r["bytes_in"] for r in result.records)
    bytes_out = sum(r["bytes_out"] for r in result.records)
    assert "files: 3 processed, 0 already current" in result.stderr
    assert f"bytes: {bytes_in} -> {bytes_out}" in result.stderr
    optimized = sum(r["outcome"] == "optimized" for r in result.records)
    assert f"      {optimized}  optimized\n" in result.stderr
    assert "      1  rejected (not-an-image)\n" in result.stderr
    assert not any(line.startswith("{") for line in result.stderr.splitlines())


def test_a_second_run_skips_inputs_whose_output_is_current(tree):
    source, out = tree
    run(source, "--out", out)
    again = run(source, "--out", out)
    assert again.code == 0 and again.records == []
    assert "files: 0 processed, 3 already current" in again.stderr


def test_an_input_changed_after_its_output_was_written_is_redone(tree):
    source, out = tree
    run(source, "--out", out)
    (source / "a.jpg").write_bytes(encoded(photo_like(96, 64, seed=5), quality=97))
    again = run(source, "--out", out)
    assert [Path(r["input"]).name for r in again.records] == ["a.jpg"]


def test_after_a_resumed_run_the_report_holds_a_line_for_every_file_done(tree, tmp_path):
    source, out = tree
    report = tmp_path / "report.jsonl"
    run(source / "a.jpg", "--out", out, "--report", report)
    run(source, "--out", out, "--report", report)  # a.jpg is current and skipped
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in lines) == ["a.jpg", "b.png", "notes.txt"]


def test_a_run_at_another_target_redoes_every_file_and_says_why(tree):
    source, out = tree
    run(source, "--out", out)
    again = run(source, "--out", out, "--target", "90")
    assert "files: 3 processed, 0 already current" in again.stderr
    assert "holds outputs made with other settings (target 80 -> 90)" in again.stderr
    assert {r["target"] for r in again.records} == {90}
    assert all(Path(r["output"]).stat().st_size == r["bytes_out"] for r in again.records)


def test_the_run_record_holds_only_the_settings_that_shape_an_output(first):
    """Anything else recorded (where the Lambda functions read and write; whether a caller chose the target, which
    decides only whether an upload's metadata may change it) would make a folder written before it was added
    look as if it had been made with other settings, and every output in it be redone."""
    _, out, _ = first
    assert set(json.loads((out / cli.RUN_RECORD).read_text())) == {
        "target", "min_quality", "max_quality", "verify", "metadata", "max_input_bytes", "max_pixels"}


def test_a_resumed_run_redoes_the_outputs_an_interrupted_run_at_new_settings_did_not_reach(tree):
    """The run at 90 stops after a.jpg (given alone here): b.png and notes.txt are still 80's outputs, newer than
    their inputs, and the resumed run must not take them for current."""
    source, out = tree
    run(source, "--out", out)
    run(source / "a.jpg", "--out", out, "--target", "90")
    resumed = run(source, "--out", out, "--target", "90")
    assert sorted(Path(r["input"]).name for r in resumed.records) == ["b.png", "notes.txt"]
    assert "files: 2 processed, 1 already current" in resumed.stderr


def test_force_redoes_outputs_that_are_current(tree):
    source, out = tree
    run(source, "--out", out)
    again = run(source, "--out", out, "--force")
    assert len(again.records) == 3
    assert "files: 3 processed, 0 already current" in again.stderr


def test_a_run_over_its_own_outputs_copies_them_unchanged_as_already_optimized(first, tmp_path):
    _, out, _ = first
    again = run(out, "--out", tmp_path / "again")
    assert cli.RUN_RECORD not in again.by_input()  # the run record in `out` is not an input
    images = {name: r for name, r in again.by_input().items() if name != "notes.txt"}
    assert {(r["outcome"], r["reason"]) for r in images.values()} == {("original-kept", "already-optimized")}
    assert (tmp_path / "again" / "a.jpg").read_bytes() == (out / "a.jpg").read_bytes()


def test_an_output_folder_inside_the_input_folder_is_not_read_back_as_input(tree):
    source, _ = tree
    run(source, "--out", source / "optimized")
    again = run(source, "--out", source / "optimized", "--force")
    assert sorted(Path(r["input"]).name for r in again.records) == ["a.jpg", "b.png", "notes.txt"]


def test_a_file_argument_lands_at_the_top_of_the_output_folder(tree):
    source, out = tree
    result = run(source / "trip" / "b.png", "--out", out)
    assert result.records[0]["output"] == str(out / "b.jpg") and (out / "b.jpg").exists()


def test_two_inputs_meant_for_one_output_stop_the_run_before_anything_is_written(tree, tmp_path):
    source, out = tree
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.jpg").write_bytes((source / "a.jpg").read_bytes())
    result = run(source, other, "--out", out)
    assert result.code == 2 and "would both be written to" in result.stderr
    assert not out.exists()


def test_a_missing_input_is_an_error(tmp_path):
    result = run(tmp_path / "nowhere", "--out", tmp_path / "out")
    assert result.code == 2 and "no such file or folder" in result.stderr


def test_a_bad_setting_in_the_environment_is_an_error_naming_it_before_anything_is_read(tree, monkeypatch):
    source, out = tree
    monkeypatch.setenv("VERIFY", "ture")
    result = run(source, "--out", out)
    assert result.code == 2 and "VERIFY='ture'" in result.stderr and not out.exists()


def test_an_output_folder_that_cannot_be_written_is_an_error_with_status_1(tree, tmp_path):
    source, _ = tree
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = run(source, "--out", blocked)
    assert result.code == 1 and f"error: cannot write to {blocked}" in result.stderr and result.records == []


def test_a_file_that_cannot_be_written_is_a_failed_record_the_others_go_on_and_the_status_is_1(tree):
    source, out = tree
    (out / "a.jpg").mkdir(parents=True)  # a folder where the output file should go
    result = run(source, "--out", out, "--force")
    records = result.by_input()
    assert result.code == 1 and (records["a.jpg"]["outcome"], records["a.jpg"]["reason"]) == ("failed", "io-error")
    assert records["b.png"]["outcome"] != "failed" and (out / "trip" / "b.jpg").exists()
    assert "      1  failed (io-error)\n" in result.stderr


def test_a_write_cut_short_leaves_no_output_so_the_next_run_redoes_it(tree):
    """A full disk, imitated by a file-size limit on the run's process: the first run records io-error and
    leaves nothing at the output path (nor a partial file beside it); the second run does the file."""
    source, out = tree
    big = source / "trip" / "big.png"
    big.write_bytes(encoded(photo_like(256, 192, seed=3), "PNG"))

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

    command = [sys.executable, "-m", "handler", "optimize", str(big), "--out", str(out), "--jobs", "1"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONDONTWRITEBYTECODE": "1"}
    cut = subprocess.run(command, capture_output=True, text=True, env=env, preexec_fn=limit_file_size)
    assert cut.returncode == 1 and json.loads(cut.stdout)["reason"] == "io-error"
    assert sorted(p.name for p in out.iterdir()) == sorted(cli.BOOKKEEPING)

    again = run(big, "--out", out)
    assert again.code == 0 and again.records[0]["outcome"] == "optimized"
    assert (out / "big.jpg").stat().st_size == again.records[0]["bytes_out"] > 4096


def test_a_fault_in_the_program_on_one_file_is_a_failed_record_not_the_end_of_the_run(tree, monkeypatch):
    """run_job in this process (the workers are other processes): what a worker returns when the core raises."""
    def broken(*args, **kwargs):
        raise RuntimeError("a fault")

    source, out = tree
    cli._init_worker(Settings())
    monkeypatch.setattr(cli, "optimize", broken)
    record = cli.run_job(cli.Job(source / "a.jpg", out / "a.jpg", "a.jpg"))
    expected = ("failed", "internal-error", "RuntimeError: a fault")
    assert (record["outcome"], record["reason"], record["detail"]) == expected
    assert not (out / "a.jpg").exists()


# ---------------------------------------------------------------- issue 23, point 11


def test_an_output_folder_that_is_the_input_folder_is_refused_before_anything_is_written(tree):
    source, _ = tree
    before = sorted(p.name for p in source.rglob("*"))
    result = run(source, "--out", source)
    assert result.code == 2 and f"--out {source}" in result.stderr and "choose another" in result.stderr
    assert sorted(p.name for p in source.rglob("*")) == before  # no run record written into it


def test_an_input_folder_inside_the_output_folder_is_refused(tree):
    """Its files would all be skipped as outputs: a run that does nothing and says nothing."""
    source, _ = tree
    result = run(source / "trip", "--out", source)
    assert result.code == 2 and "choose another" in result.stderr


@pytest.mark.parametrize("where", ["a.jpg", "trip/b.png"])
def test_an_output_folder_that_is_an_input_file_is_refused_with_status_2(tree, where):
    source, _ = tree
    result = run(source, "--out", source / where)
    assert result.code == 2 and "is an input file" in result.stderr
    assert (source / where).is_file()


@pytest.mark.parametrize("jobs", ["-1", "0", "many"])
def test_a_jobs_count_below_one_is_an_argument_error_with_status_2(tree, jobs, capsys):
    source, out = tree
    with pytest.raises(SystemExit) as stopped:
        main(["optimize", str(source), "--out", str(out), "--jobs", jobs])
    assert stopped.value.code == 2 and "--jobs" in capsys.readouterr().err and not out.exists()


def test_an_input_replaced_by_another_picture_with_an_older_time_is_redone(tree):
    """cp -p, rsync -a and unzip keep the replacing file's own (older) time: only its content says it changed."""
    source, out = tree
    run(source, "--out", out)
    old = (source / "a.jpg").stat().st_mtime - 3600
    (source / "a.jpg").write_bytes(encoded(photo_like(96, 64, seed=7), quality=97))
    os.utime(source / "a.jpg", (old, old))
    again = run(source, "--out", out)
    assert [Path(r["input"]).name for r in again.records] == ["a.jpg"]
    assert "files: 1 processed, 2 already current" in again.stderr


def test_an_input_touched_but_unchanged_is_still_current(tree):
    source, out = tree
    run(source, "--out", out)
    later = (out / "a.jpg").stat().st_mtime + 10
    os.utime(source / "a.jpg", (later, later))
    assert run(source, "--out", out).records == []


def test_a_deleted_output_is_redone(tree):
    source, out = tree
    first_run = run(source, "--out", out)
    Path(first_run.by_input()["a.jpg"]["output"]).unlink()
    assert [Path(r["input"]).name for r in run(source, "--out", out).records] == ["a.jpg"]


def test_a_resumed_run_sums_the_bytes_of_the_files_already_current_too(tree):
    source, out = tree
    first_run = run(source, "--out", out)
    bytes_in = sum(r["bytes_in"] for r in first_run.records)
    bytes_out = sum(r["bytes_out"] for r in first_run.records)
    again = run(source, "--out", out)
    assert "files: 0 processed, 3 already current" in again.stderr
    assert f"bytes: {bytes_in} -> {bytes_out}" in again.stderr and "bytes: 0 -> 0" not in again.stderr


def libtiff_complains() -> bytes:
    """A deflate TIFF whose PlanarConfiguration has a count of 2: libtiff (in C) writes
    'TIFFFetchNormalTag: Incorrect count for "PlanarConfiguration".' to fd 2 while Pillow decodes it."""
    buffer = io.BytesIO()
    photo_like(64, 48, seed=4).save(buffer, "TIFF", compression="tiff_adobe_deflate")
    data = bytearray(buffer.getvalue())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == 284:  # PlanarConfiguration
            struct.pack_into("<I", data, entry + 4, 2)
    return bytes(data)


def test_what_libtiff_writes_to_stderr_lands_in_the_files_own_record(tmp_path, capfd):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "odd.tif").write_bytes(libtiff_complains())
    result = run(tmp_path / "in", "--out", tmp_path / "out")
    (record,) = result.records
    assert "TIFFFetchNormalTag" in record["detail"]
    assert "TIFFFetchNormalTag" not in capfd.readouterr().err  # not on the terminal without the file's name


# ---------------------------------------------------------------- issue 23, point 12


def is_jpeg(path: Path) -> bool:
    return path.read_bytes()[:3] == b"\xff\xd8\xff"


def test_a_png_optimized_to_jpeg_is_named_jpg_and_its_row_says_so(tree):
    source, out = tree
    result = run(source, "--out", out)
    b = result.by_input()["b.png"]
    assert b["outcome"] == "optimized" and b["output"] == str(out / "trip" / "b.jpg")
    assert is_jpeg(out / "trip" / "b.jpg") and not (out / "trip" / "b.png").exists()
    assert result.by_input()["notes.txt"]["output"] == str(out / "trip" / "notes.txt")  # rejected: its own name


def test_a_converted_output_whose_jpg_name_is_another_inputs_gets_its_whole_name_with_jpg(tree):
    """x.png beside x.jpg: x.jpg is the JPEG's output, x.png's is x.png.jpg."""
    source, out = tree
    (source / "trip" / "b.jpg").write_bytes(encoded(photo_like(96, 64, seed=6), quality=97))
    result = run(source, "--out", out)
    records = result.by_input()
    assert records["b.png"]["output"] == str(out / "trip" / "b.png.jpg") and is_jpeg(out / "trip" / "b.png.jpg")
    assert records["b.jpg"]["output"] == str(out / "trip" / "b.jpg")
    assert Path(records["b.jpg"]["output"]).stat().st_size == records["b.jpg"]["bytes_out"]


def test_a_converted_output_is_current_under_its_new_name(tree):
    source, out = tree
    run(source, "--out", out)
    assert run(source, "--out", out).records == []


def test_an_output_written_under_another_name_before_is_removed_when_its_input_is_redone(tree):
    """b.png optimized (trip/b.jpg), then replaced by a file that is not an image (kept as trip/b.png): one input,
    one output."""
    source, out = tree
    run(source, "--out", out)
    (source / "trip" / "b.png").write_text("not an image any more")
    again = run(source, "--out", out)
    assert again.by_input()["b.png"]["output"] == str(out / "trip" / "b.png")
    assert not (out / "trip" / "b.jpg").exists()


@pytest.mark.parametrize(("names", "converted"), [
    (["x.png"], ["x.jpg"]),
    (["x.JPEG", "y.tiff", "z"], ["x.JPEG", "y.jpg", "z.jpg"]),
    (["x.jpg", "x.png"], ["x.jpg", "x.png.jpg"]),
    (["x.png", "x.tif"], ["x.png.jpg", "x.tif.jpg"]),  # neither takes x.jpg: which would depend on the order
    (["X.JPG", "x.png"], ["X.JPG", "x.png.jpg"]),  # one file on a file system that ignores case
])
def test_the_plan_names_each_output_for_the_case_it_is_optimized(tmp_path, names, converted):
    for name in names:
        (tmp_path / name).write_bytes(b"")
    jobs = cli.plan([tmp_path / name for name in names], tmp_path / "out")
    assert [job.converted.name for job in jobs] == converted


def test_a_plan_where_a_converted_name_is_another_inputs_own_is_refused(tmp_path):
    for name in ("x.png", "x.jpg", "x.png.jpg"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(cli.PlanError, match="x.png.jpg"):
        cli.plan([tmp_path], tmp_path / "out")
