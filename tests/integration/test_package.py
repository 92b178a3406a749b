"""The package as deployed: the real `sam build`, its artifact checked, then each function's handler run from that
artifact alone in a clean Python 3.12 process (boto3 beside it, as the Lambda runtime provides), with the sample
events in events/ against the local S3 server. No Docker: `sam local invoke` runs the handlers inside the Lambda
image where Docker is available, but it passes a function only the environment variables its template declares, so
it cannot be pointed at this local S3 server (docs/operations.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from scripts.s3server import LOCAL_CREDENTIALS
from tests.conftest import PHOTOS

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
FUNCTIONS = ("OptimizeFunction", "ApiFunction", "BatchFunction")
PACKAGE_LIMIT_MB = 150
"""The package budget (issue: cold start and Lambda's 250 MB unzipped limit): 100 MB until pillow-heif (HEIC uploads,
issue 26) added 27 MB to the 84 MB package; the issue allows 150."""
UPLOAD, OUTPUT, KEY = "optimal-image-upload", "optimal-image-output", "photos/my photo.jpg"
"""The buckets and key the sample events in events/ name."""

DRIVER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
module = __import__(sys.argv[3], fromlist=["lambda_handler"])
print(json.dumps(module.lambda_handler(json.load(open(sys.argv[4])), None)))
"""


def python312() -> str:
    found = subprocess.run([str(ROOT / "scripts" / "python312.sh")], capture_output=True, text=True, check=False)
    return found.stdout.strip()


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """`sam build` into a fresh folder; the build folder of each function under it."""
    if not SAM.exists():
        pytest.skip(f"SAM CLI not installed at {SAM.relative_to(ROOT)} (make venv)")
    out = tmp_path_factory.mktemp("sam-build")
    done = subprocess.run([str(SAM), "build", "--build-dir", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


@pytest.mark.parametrize("function", FUNCTIONS)
def test_sam_build_makes_a_package_within_budget_without_scikit_learn_or_scipy(build, function):
    package = build / function
    assert (package / "handler" / "core.py").exists() and (package / "models" / "model.joblib").exists()
    assert size_mb(package) < PACKAGE_LIMIT_MB
    assert not [p for p in ("sklearn", "scipy") if (package / p).exists()]


ELF_MACHINES = {"x86_64": 62, "arm64": 183}
"""e_machine of an ELF header for each Architecture the template offers."""


def machines(package: Path) -> set[int]:
    """The processors the package's shared libraries are built for."""
    return {int.from_bytes(lib.read_bytes()[18:20], "little") for lib in package.rglob("*.so*") if lib.is_file()}


def test_every_library_in_the_default_package_is_x86_64_and_the_native_code_is_there(build):
    package = build / "OptimizeFunction"
    assert (package / "handler" / "quality" / "native" / "_ssim2.so").exists()
    assert (package / "handler" / "image" / "native" / "_recode.so").exists()
    assert machines(package) == {ELF_MACHINES["x86_64"]}


def test_an_arm64_package_holds_arm64_libraries_only_native_code_included(tmp_path):
    """LAMBDA_ARCH=arm64, as `LAMBDA_ARCH=arm64 sam build` runs the recipe for a Graviton deployment."""
    if not shutil.which("aarch64-linux-gnu-gcc") and os.uname().machine != "aarch64":
        pytest.skip("no aarch64 cross compiler (Debian's gcc-aarch64-linux-gnu; .ci/run installs it)")
    done = subprocess.run(["make", "-s", "build-OptimizeFunction", f"ARTIFACTS_DIR={tmp_path}", "LAMBDA_ARCH=arm64"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "handler" / "quality" / "native" / "_ssim2.so").exists()
    assert (tmp_path / "handler" / "image" / "native" / "_recode.so").exists()
    assert machines(tmp_path) == {ELF_MACHINES["arm64"]}
    assert size_mb(tmp_path) < PACKAGE_LIMIT_MB


def test_the_package_carries_byte_code_for_python_3_12_only(build):
    tags = {pyc.name.split(".")[-2] for pyc in (build / "OptimizeFunction").rglob("*.pyc")}
    assert tags <= {"cpython-312"}
    if python312():  # with a Python 3.12 to hand, build.mk compiles everything for the runtime
        assert tags == {"cpython-312"}


@pytest.fixture(scope="module")
def runtime(build, tmp_path_factory) -> tuple[str, Path]:
    """A Python 3.12 and a folder holding boto3 for it, as the python3.12 runtime has them."""
    python = python312()
    if not python:
        pytest.skip("no Python 3.12 here (scripts/python312.sh): the package cannot be run as Lambda runs it")
    boto = tmp_path_factory.mktemp("runtime-boto3")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                    "--target", str(boto), "--python-version", "3.12", "--only-binary=:all:", "boto3"],
                   check=True, capture_output=True, timeout=600)
    return python, boto


@pytest.fixture(scope="module")
def uploaded(s3_url) -> str:
    """The sample events' upload, in the sample events' bucket; its ETag."""
    s3 = boto3.client("s3")
    for bucket in (UPLOAD, OUTPUT):
        if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=bucket)
    return s3.put_object(Bucket=UPLOAD, Key=KEY, Body=(PHOTOS / "Kodak_DC240.jpg").read_bytes())["ETag"].strip('"')


def invoke(runtime: tuple[str, Path], build: Path, function: str, module: str, event: dict, s3_url: str,
           tmp_path: Path) -> dict:
    """One invocation in a fresh isolated interpreter (-I: no PYTHONPATH, no user site, not the test's venv)."""
    python, boto = runtime
    event_file = tmp_path / f"{function}.json"
    event_file.write_text(json.dumps(event))
    env = {"PATH": os.environ["PATH"], **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url,
           "UPLOAD_BUCKET": UPLOAD, "OUTPUT_BUCKET": OUTPUT}
    done = subprocess.run([python, "-I", "-c", DRIVER, str(build / function), str(boto), module, str(event_file)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # the native kernel and the recoder load from the package, with its own Pillow's libjpeg
    assert "metric-fallback" not in done.stdout + done.stderr and "recode-fallback" not in done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def sample(name: str) -> dict:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def test_the_s3_function_from_its_package_optimizes_the_sample_upload(runtime, build, uploaded, s3_url, tmp_path):
    event = sample("s3-put")
    event["Records"][0]["s3"]["object"]["eTag"] = uploaded
    (record,) = invoke(runtime, build, "OptimizeFunction", "handler.aws.s3_event", event, s3_url, tmp_path)["results"]
    assert (record["outcome"], record["key"]) == ("optimized", KEY)
    tags = boto3.client("s3").get_object_tagging(Bucket=OUTPUT, Key=KEY)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags}["outcome"] == "optimized"


@pytest.mark.parametrize("name", ["api-optimize-image", "api-optimize-key", "api-quality"])
def test_the_api_function_from_its_package_answers_each_sample_request(runtime, build, uploaded, s3_url, tmp_path,
                                                                        name):
    answer = invoke(runtime, build, "ApiFunction", "handler.aws.api", sample(name), s3_url, tmp_path)
    assert answer["statusCode"] == 200, answer["body"]
    assert answer["headers"]["X-Optimal-Image-Outcome"] == "optimized"


@pytest.mark.parametrize("name", ["batch-v1", "batch-v2"])
def test_the_batch_function_from_its_package_succeeds_on_each_sample_job(runtime, build, uploaded, s3_url, tmp_path,
                                                                          name):
    answer = invoke(runtime, build, "BatchFunction", "handler.aws.batch", sample(name), s3_url, tmp_path)
    assert [r["resultCode"] for r in answer["results"]] == ["Succeeded"]


def docker_daemon() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_the_package_starts_in_the_lambda_image_with_its_native_kernel_where_docker_is_available(build):
    """`sam local invoke OptimizeFunction -e events/s3-put.json` runs the built package in AWS's python3.12 image
    (Amazon Linux: its glibc, its loader). sam passes the function only the variables its template declares, so it
    cannot be pointed at the local S3 server: the sample upload's buckets do not exist for it, and the invocation
    ends in a logged S3 failure. What this shows is that the handler, its libraries and the SSIMULACRA2 kernel load
    there (no metric-fallback or recode-fallback line). Skipped where no Docker daemon answers."""
    if not docker_daemon():
        pytest.skip("no Docker daemon: sam local invoke needs one")
    done = subprocess.run([str(SAM), "local", "invoke", "OptimizeFunction", "--template", str(build / "template.yaml"),
                           "-e", str(ROOT / "events" / "s3-put.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=False)
    output = done.stdout + done.stderr
    assert '"event":"failed"' in output and '"key":"photos/my photo.jpg"' in output, output[-3000:]
    assert "metric-fallback" not in output and "recode-fallback" not in output and "ImportError" not in output
