"""template.yaml, build.mk and events/: linted by AWS's tools and checked for what a deployer relies on."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from cfnlint.decode import decode_str

from handler import THREAD_VARIABLES
from handler.aws import metrics
from handler.settings import PRESETS, Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
REGION = "eu-west-1"

ENV_VARS = (
    "TARGET", "MIN_QUALITY", "MAX_QUALITY", "METADATA", "VERIFY",
    "MAX_INPUT_BYTES", "MAX_PIXELS", "UPLOAD_BUCKET", "OUTPUT_BUCKET", "OUTPUT_PREFIX",
    "OUTPUT_SUFFIX",
)
ENTRY_POINTS = {
    "OptimizeFunction": "handler.aws.s3_event.lambda_handler",
    "ApiFunction": "handler.aws.api.lambda_handler",
    "BatchFunction": "handler.aws.batch.lambda_handler",
}
# Values the intrinsics are rendered with, so that policy resources can be compared as plain ARNs.
RENDERED = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "optimal-image",
    "UploadBucketName": "upload-bucket",
    "OutputBucketName": "output-bucket",
    "UploadBucket": "upload-bucket",
    "OutputBucket": "output-bucket",
    "UploadBucket.Arn": "arn:aws:s3:::upload-bucket",
    "OutputBucket.Arn": "arn:aws:s3:::output-bucket",
}
UPLOAD_ARN = "arn:aws:s3:::upload-bucket"
OUTPUT_ARN = "arn:aws:s3:::output-bucket"


# ------------------------------------------------------------------------------------------- helpers
def _plain(node: object) -> object:
    """cfn-lint's decoder returns its own node types; make them dicts, lists, str, int, bool."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


@pytest.fixture(scope="module")
def template() -> dict:
    """template.yaml parsed with cfn-lint's own decoder, which understands !Ref, !Sub, !If ..."""
    parsed, errors = decode_str(TEMPLATE.read_text())
    assert not errors, errors
    return _plain(parsed)


def _transformed(template: dict, **parameters: str) -> dict:
    """The template after the SAM transform, as CloudFormation receives it (policy templates expanded)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    source = json.loads(json.dumps(template))
    for resource in source["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/package.zip"  # as after `sam package`
    values = {"UploadBucketName": "upload-bucket", "OutputBucketName": "output-bucket", **parameters}
    values.update({k: v for k, v in RENDERED.items() if k.startswith("AWS::")})
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(source, parameter_values=values, get_managed_policy_map=dict)


@pytest.fixture(scope="module")
def deployed(template: dict) -> dict:
    return _transformed(template)


def _render(value: object) -> object:
    """Resolve Ref/Sub/GetAtt/Join against RENDERED; unknown names stay visible as <Name>."""
    if isinstance(value, list):
        return [_render(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return RENDERED.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        name = ".".join(target) if isinstance(target, list) else target
        return RENDERED.get(name, f"<{name}>")
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_render(p)) for p in parts)
    if "Fn::Sub" in value:
        spec = value["Fn::Sub"]
        text, local = (spec, {}) if isinstance(spec, str) else (spec[0], spec[1])

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            return str(_render(local[name])) if name in local else RENDERED.get(name, f"<{name}>")

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    return {k: _render(v) for k, v in value.items()}


def _listed(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _allow_statements(deployed: dict) -> list[tuple[str, dict]]:
    """(role or policy logical id, statement) for every Allow statement of every IAM identity policy."""
    found = []
    for logical_id, resource in deployed["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [properties["PolicyDocument"]]
        else:
            continue
        for document in documents:
            for statement in _listed(document["Statement"]):
                if statement.get("Effect") == "Allow":
                    found.append((logical_id, statement))
    return found


def _grants(deployed: dict, role: str) -> set[tuple[str, str]]:
    """(action, rendered resource) for every pair an Allow statement of that role grants."""
    return {
        (action, str(resource))
        for owner, statement in _allow_statements(deployed) if owner == role
        for action in _listed(statement["Action"])
        for resource in _listed(_render(statement["Resource"]))
    }


def _in_bucket(resource: str, bucket_arn: str) -> bool:
    return resource == bucket_arn or resource.startswith(bucket_arn + "/")


def _run(command: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION=REGION)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _functions(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def _event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


# ------------------------------------------------------------------------------------------- linters
@pytest.mark.slow
def test_cfn_lint_finds_no_problem_in_the_template() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    command = [str(cfn_lint)] if cfn_lint.exists() else [shutil.which("cfn-lint") or "cfn-lint"]
    result = _run([*command, "--regions", REGION, "--", str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_with_lint_accepts_the_template() -> None:
    if not SAM.exists():
        pytest.skip(f"SAM CLI not installed at {SAM.relative_to(ROOT)} (make the .venv-sam virtualenv to run this)")
    result = _run([str(SAM), "validate", "--lint", "--region", REGION, "--template-file", str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


# ------------------------------------------------------------------------------------------- functions
def test_every_object_created_in_the_upload_bucket_triggers_the_optimize_function(template: dict) -> None:
    notification = template["Resources"]["UploadBucket"]["Properties"]["NotificationConfiguration"]
    assert notification == {"LambdaConfigurations": [{"Event": "s3:ObjectCreated:*",
                                                      "Function": {"Fn::GetAtt": ["OptimizeFunction", "Arn"]}}]}


def test_s3_may_invoke_the_optimize_function_for_the_upload_bucket_of_this_account_only(deployed: dict) -> None:
    """SAM's own S3 event would grant s3.amazonaws.com with SourceAccount only: any bucket of the account."""
    permissions = [r["Properties"] for r in deployed["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "s3.amazonaws.com"]
    granted = [(_render(p["FunctionName"]), _render(p["SourceArn"]), _render(p["SourceAccount"])) for p in permissions]
    assert granted == [("<OptimizeFunction>", UPLOAD_ARN, RENDERED["AWS::AccountId"])]
    assert "OptimizeFunctionUploadPermission" in _listed(deployed["Resources"]["UploadBucket"]["DependsOn"])


def _reserved(template: dict, value: str) -> object:
    """What ReservedConcurrentExecutions evaluates to for ReservedConcurrency=value (None: left out)."""
    condition, when_true, when_false = template["Globals"]["Function"]["ReservedConcurrentExecutions"]["Fn::If"]
    (compared,) = template["Conditions"][condition]["Fn::Not"]
    ref, literal = compared["Fn::Equals"]
    chosen = when_false if value == literal else when_true
    return None if chosen == {"Ref": "AWS::NoValue"} else value if chosen == {"Ref": ref["Ref"]} else chosen


def test_each_function_has_reserved_concurrency_from_a_parameter_that_none_leaves_unset(template: dict) -> None:
    parameter = template["Parameters"]["ReservedConcurrency"]
    assert parameter["Default"] == "20" and re.fullmatch(parameter["AllowedPattern"], "none")
    assert not re.fullmatch(parameter["AllowedPattern"], "0")  # 0 would stop the function, not unset it
    assert (_reserved(template, "20"), _reserved(template, "none")) == ("20", None)
    for name, function in _functions(template).items():
        assert "ReservedConcurrentExecutions" not in function["Properties"], f"{name} overrides Globals"


def test_each_function_runs_its_fixed_entry_point(template: dict) -> None:
    handlers = {name: f["Properties"]["Handler"] for name, f in _functions(template).items()}
    assert handlers == ENTRY_POINTS


def test_every_function_runs_python_3_12_on_the_architecture_parameter_x86_64_by_default(template: dict) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["Architectures"] == [{"Ref": "Architecture"}]
    architecture = template["Parameters"]["Architecture"]
    assert (architecture["Default"], set(architecture["AllowedValues"])) == ("x86_64", {"x86_64", "arm64"})
    for name, function in _functions(template).items():
        assert "Runtime" not in function["Properties"], f"{name} overrides the runtime"
        assert "Architectures" not in function["Properties"], f"{name} overrides the architecture"


def test_memory_and_timeout_are_set_once_in_globals(template: dict) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["MemorySize"] == 1769  # where Lambda gives one full vCPU
    assert function_globals["Timeout"] == 60
    for name, function in _functions(template).items():
        assert "MemorySize" not in function["Properties"], name
        assert "Timeout" not in function["Properties"], name
    assert "python -m bench.runtime" in TEMPLATE.read_text(), "the figures should cite where they come from"


def test_memory_covers_every_peak_the_runtime_benchmark_measured(template: dict) -> None:
    results = ROOT / "bench" / "results" / "runtime.md"
    peaks = re.findall(r"(\d+) MP JPEG: peak memory[^|]*\|\s*(\d+) MB", results.read_text() if results.exists() else "")
    if not peaks:
        pytest.skip("no peak memory in bench/results/runtime.md (python -m bench.runtime writes it)")
    memory = template["Globals"]["Function"]["MemorySize"]
    for megapixels, megabytes in peaks:
        assert int(megabytes) < 0.9 * memory, f"{megapixels} MP peaked at {megabytes} MB"


def test_every_function_is_packaged_by_build_mk_from_the_repository_root(template: dict) -> None:
    for name, function in _functions(template).items():
        assert function["Properties"]["CodeUri"] == ".", name
        assert function["Metadata"] == {"BuildMethod": "makefile"}, name


def test_build_mk_has_a_build_target_for_every_function(template: dict) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    for name in _functions(template):
        result = _run([make, "-n", "-f", "build.mk", f"build-{name}", "ARTIFACTS_DIR=/tmp/artifacts"])
        assert result.returncode == 0, result.stderr
        assert "handler/requirements.txt" in result.stdout
        assert "--python-version 3.12" in result.stdout


def test_failed_asynchronous_s3_invocations_end_in_an_encrypted_queue(template: dict) -> None:
    config = template["Resources"]["OptimizeFunction"]["Properties"]["EventInvokeConfig"]
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    queue = on_failure["Destination"]["Fn::GetAtt"][0]
    assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    assert template["Resources"][queue]["Properties"]["SqsManagedSseEnabled"] is True


# ------------------------------------------------------------------------------------------- parameters
def test_target_offers_exactly_70_80_85_90_and_defaults_to_80(template: dict) -> None:
    target = template["Parameters"]["Target"]
    assert [int(v) for v in target["AllowedValues"]] == [70, 80, 85, 90]
    assert int(target["Default"]) == 80


def test_the_api_definition_offers_the_presets_as_a_query_parameter_on_every_route(template: dict) -> None:
    body = template["Resources"]["OptimizeApi"]["Properties"]["DefinitionBody"]
    assert body["parameters"]["target"]["enum"] == list(PRESETS)
    assert body["parameters"]["target"]["in"] == "query" and body["parameters"]["target"]["required"] is False
    for path, method in (("/optimize", "post"), ("/quality", "get")):
        assert {"$ref": "#/parameters/target"} in body["paths"][path][method]["parameters"], path


def test_the_documented_parameters_exist_with_their_defaults(template: dict) -> None:
    parameters = template["Parameters"]
    assert {"UploadBucketName", "OutputBucketName", "ApiAuth"} <= set(parameters)
    assert int(parameters["MinQuality"]["Default"]) == 50
    assert int(parameters["MaxQuality"]["Default"]) == Settings().max_quality == 100
    assert parameters["Metadata"]["AllowedValues"] == ["keep", "strip"]
    assert parameters["Metadata"]["Default"] == "keep"
    assert parameters["ApiAuth"]["AllowedValues"] == ["IAM", "API_KEY"]
    assert parameters["ApiAuth"]["Default"] == "IAM"
    assert parameters["OutputSuffix"]["AllowedValues"] == ["keep", "format"]
    assert parameters["OutputSuffix"]["Default"] == "keep"


def test_globals_set_every_environment_variable_the_code_reads(template: dict) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(ENV_VARS) <= set(variables)
    for name, value in variables.items():
        if name in THREAD_VARIABLES:
            continue
        assert isinstance(value, dict) and set(value) == {"Ref"}, f"{name} should come from a parameter"
        assert value["Ref"] in template["Parameters"], f"{name} refers to {value['Ref']}, not a parameter"


def test_globals_give_one_compute_thread(template: dict) -> None:
    """The thread limits handler/__init__.py sets in code are in the functions' environment too, fixed at 1."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {name: variables.get(name) for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, "1")


def test_globals_cover_the_names_read_in_handler_settings(template: dict) -> None:
    config = ROOT / "handler" / "settings.py"
    read = set(re.findall(r"""get\(\s*["']([A-Z][A-Z0-9_]+)["']""", config.read_text()))
    assert read, "found no environment variable names in handler/settings.py"
    assert read <= set(template["Globals"]["Function"]["Environment"]["Variables"])


# ------------------------------------------------------------------------------------------- permissions
def test_no_allow_statement_grants_a_wildcard_action_or_every_resource(deployed: dict) -> None:
    for owner, statement in _allow_statements(deployed):
        for action in _listed(statement["Action"]):
            assert "*" not in action, f"{owner} allows the wildcard action {action!r}"
        for resource in _listed(_render(statement["Resource"])):
            assert resource != "*", f"{owner} allows {statement['Action']} on every resource"


def test_no_role_may_write_to_the_upload_bucket(deployed: dict) -> None:
    for owner, statement in _allow_statements(deployed):
        resources = [str(r) for r in _listed(_render(statement["Resource"]))]
        if not any(r == UPLOAD_ARN or r.startswith(UPLOAD_ARN + "/") for r in resources):
            continue
        for action in _listed(statement["Action"]):
            verb = action.split(":", 1)[1]
            assert verb.startswith(("Get", "List")), f"{owner} may {action} in the upload bucket"


def test_every_function_may_read_the_upload_bucket_and_write_tagged_outputs(deployed: dict) -> None:
    for function in ENTRY_POINTS:
        granted = _grants(deployed, deployed["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0])
        assert ("s3:GetObject", UPLOAD_ARN + "/*") in granted, function
        assert ("s3:PutObject", OUTPUT_ARN + "/*") in granted, function
        assert ("s3:PutObjectTagging", OUTPUT_ARN + "/*") in granted, function


def test_functions_read_the_upload_bucket_with_only_what_the_code_calls(deployed: dict) -> None:
    """GetObject (and CopyObject's read of its source); ListBucket so that a missing key is 404, not 403."""
    for function in ENTRY_POINTS:
        granted = _grants(deployed, deployed["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0])
        on_upload = {(action, resource) for action, resource in granted if _in_bucket(resource, UPLOAD_ARN)}
        assert on_upload == {("s3:GetObject", UPLOAD_ARN + "/*"), ("s3:ListBucket", UPLOAD_ARN)}, function


def test_batch_operations_role_can_only_invoke_the_batch_function_and_handle_manifests(deployed: dict) -> None:
    role = deployed["Resources"]["BatchOperationsRole"]["Properties"]
    trusted = [s["Principal"]["Service"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    assert trusted == ["batchoperations.s3.amazonaws.com"]
    invokes = [
        _render(s["Resource"]) for owner, s in _allow_statements(deployed)
        if owner == "BatchOperationsRole" and "lambda:InvokeFunction" in _listed(s["Action"])
    ]
    assert invokes == ["<BatchFunction.Arn>"]


def test_batch_operations_role_reads_manifests_and_writes_reports_only_under_the_output_bucket(deployed: dict) -> None:
    granted = _grants(deployed, "BatchOperationsRole")
    assert {(action, resource) for action, resource in granted if action.startswith("s3:")} == {
        ("s3:GetObject", OUTPUT_ARN + "/batch-manifests/*"),
        ("s3:GetObjectVersion", OUTPUT_ARN + "/batch-manifests/*"),
        ("s3:PutObject", OUTPUT_ARN + "/batch-reports/*"),
        ("s3:GetBucketLocation", OUTPUT_ARN),
    }
    # A LambdaInvoke job only invokes the function, which reads the objects with its own role.
    assert not [resource for _, resource in granted if _in_bucket(resource, UPLOAD_ARN)]


def test_manifests_and_reports_sit_where_no_trigger_fires_and_no_function_reads(template: dict, deployed: dict) -> None:
    triggering = {name for name, resource in template["Resources"].items()
                  if "NotificationConfiguration" in resource.get("Properties", {})}
    assert triggering == {"UploadBucket"}
    assert not [e for f in _functions(template).values() for e in f["Properties"].get("Events", {}).values()
                if e["Type"] == "S3"]
    # OptimizeFunction reads outputs' metadata (HeadObject) before a conditional write; the bucket policy denies
    # it under batch-manifests/ and batch-reports/ (test_no_function_may_write_where_batch_operations_...).
    # The API and batch functions read only variants' keys (HeadObject before deleting a stale KEY.avif/KEY.webp).
    variants = [("s3:GetObject", OUTPUT_ARN + "/*.avif"), ("s3:GetObject", OUTPUT_ARN + "/*.webp")]
    allowed = {"OptimizeFunction": [("s3:GetObject", OUTPUT_ARN + "/*")], "ApiFunction": variants,
               "BatchFunction": variants}
    for function in ENTRY_POINTS:
        granted = _grants(deployed, deployed["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0])
        reads = [(a, r) for a, r in granted if a.startswith(("s3:Get", "s3:List")) and _in_bucket(r, OUTPUT_ARN)]
        assert sorted(reads) == allowed.get(function, []), f"{function} reads the output bucket: {reads}"


def test_no_function_may_write_where_batch_operations_keeps_manifests_and_reports(
    template: dict, deployed: dict
) -> None:
    statements = template["Resources"]["OutputBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny" and "AWS" in s["Principal"]]
    roles = {deployed["Resources"][f]["Properties"]["Role"]["Fn::GetAtt"][0] for f in ENTRY_POINTS}
    assert set(_render(deny["Principal"]["AWS"])) == {f"<{role}.Arn>" for role in roles}
    assert _listed(deny["Action"]) == ["s3:PutObject", "s3:GetObject"]
    assert set(_render(deny["Resource"])) == {OUTPUT_ARN + "/batch-manifests/*", OUTPUT_ARN + "/batch-reports/*"}


def test_s3_inventory_of_the_upload_bucket_alone_may_deliver_under_batch_manifests(template: dict) -> None:
    statements = template["Resources"]["OutputBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (inventory,) = [s for s in statements if s["Effect"] == "Allow"]
    assert inventory["Principal"] == {"Service": "s3.amazonaws.com"}
    assert _listed(inventory["Action"]) == ["s3:PutObject"]
    assert _render(inventory["Resource"]) == OUTPUT_ARN + "/batch-manifests/inventory/*"
    assert _render(inventory["Condition"]) == {
        "ArnLike": {"aws:SourceArn": UPLOAD_ARN},
        "StringEquals": {"aws:SourceAccount": RENDERED["AWS::AccountId"], "s3:x-amz-acl": "bucket-owner-full-control"},
    }


def test_both_buckets_block_public_access_encrypt_and_refuse_plain_http(template: dict) -> None:
    resources = template["Resources"]
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in resources.values() if p["Type"] == "AWS::S3::BucketPolicy"
    }
    for bucket in ("UploadBucket", "OutputBucket"):
        properties = resources[bucket]["Properties"]
        assert all(properties["PublicAccessBlockConfiguration"].values()), bucket
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"], bucket
        denials = [
            s for s in policies[bucket]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denials, f"{bucket} accepts requests without TLS"


def test_the_output_bucket_keeps_versions_for_a_while_and_aborts_unfinished_uploads(template: dict) -> None:
    properties = template["Resources"]["OutputBucket"]["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    assert all(rule["Status"] == "Enabled" and "Prefix" not in rule and "Filter" not in rule for rule in rules.values())
    assert rules["AbortIncompleteMultipartUploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    noncurrent = rules["ExpireNoncurrentVersions"]
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "NoncurrentVersionDays"}}
    assert noncurrent["ExpiredObjectDeleteMarker"] is True
    assert int(template["Parameters"]["NoncurrentVersionDays"]["Default"]) == 30


# ------------------------------------------------------------------------------------------- API
def _holds(template: dict, condition: str, **parameters: str) -> bool:
    """Evaluate one of the template's Fn::Equals conditions for the given parameter values."""
    left, right = template["Conditions"][condition]["Fn::Equals"]
    name = left["Ref"]
    return parameters.get(name, template["Parameters"][name].get("Default")) == right


@pytest.mark.parametrize(
    ("api_auth", "security", "with_key"), [("IAM", "AWS_IAM", False), ("API_KEY", "api_key", True)]
)
def test_api_auth_chooses_between_iam_signing_and_an_api_key(
    template: dict, api_auth: str, security: str, with_key: bool
) -> None:
    resources = _transformed(template, ApiAuth=api_auth)["Resources"]
    body = resources["OptimizeApi"]["Properties"]["Body"]
    for path, method in (("/optimize", "post"), ("/quality", "get")):
        operation = body["paths"][path][method]
        condition, if_true, if_false = operation["security"]["Fn::If"]
        chosen = if_true if _holds(template, condition, ApiAuth=api_auth) else if_false
        assert chosen == [{security: []}], f"{method.upper()} {path}"
        assert operation["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert body["securityDefinitions"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert body["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    for kind in ("AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlanKey"):
        made = [r for r in resources.values() if r["Type"] == kind]
        assert len(made) == 1, kind
        assert _holds(template, made[0]["Condition"], ApiAuth=api_auth) is with_key, kind


def test_a_request_too_large_for_api_gateway_is_a_json_413_pointing_at_the_upload_bucket(deployed: dict) -> None:
    body = deployed["Resources"]["OptimizeApi"]["Properties"]["Body"]
    too_large = body["x-amazon-apigateway-gateway-responses"]["REQUEST_TOO_LARGE"]
    assert too_large["statusCode"] == "413"
    assert too_large["responseParameters"] == {"gatewayresponse.header.Content-Type": "'application/json'"}
    template = _render(too_large["responseTemplates"]["application/json"])
    assert "$" not in template  # API Gateway would substitute $context... variables
    answer = json.loads(template)
    assert set(answer) == {"error", "detail"} and answer["error"] == "too-large"  # as the function's own 413
    assert "s3://upload-bucket/" in answer["detail"]


def test_api_returns_binary_for_any_accept_header(deployed: dict) -> None:
    api = deployed["Resources"]["OptimizeApi"]["Properties"]
    assert api["BinaryMediaTypes"] == ["*~1*"]
    assert api["Body"]["x-amazon-apigateway-binary-media-types"] == ["*/*"]


# ------------------------------------------------------------------------------------------- events
def test_every_event_file_is_valid_json() -> None:
    files = sorted(EVENTS.glob("*.json"))
    assert {f.name for f in files} >= {
        "s3-put.json", "api-optimize-image.json", "api-optimize-json.json", "api-optimize-key.json",
        "api-quality.json", "batch-v1.json", "batch-v2.json",
    }
    for path in files:
        json.loads(path.read_text())


def test_the_s3_event_key_decodes_to_a_key_with_a_space() -> None:
    record = _event("s3-put.json")["Records"][0]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == "optimal-image-upload"
    assert unquote_plus(record["s3"]["object"]["key"]) == "photos/my photo.jpg"


def test_each_api_event_targets_a_route_of_the_api(template: dict) -> None:
    routes = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for e in template["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    }
    for path in sorted(EVENTS.glob("api-*.json")):
        event = json.loads(path.read_text())
        assert (event["httpMethod"], event["resource"]) in routes, path.name


def test_the_image_api_events_carry_a_base64_jpeg() -> None:
    image = pytest.importorskip("PIL.Image")
    for name, accept in (("api-optimize-image.json", "*/*"), ("api-optimize-json.json", "application/json")):
        event = _event(name)
        assert event["isBase64Encoded"] is True
        assert event["headers"]["Content-Type"] == "image/jpeg"
        assert event["headers"]["Accept"] == accept
        picture = image.open(io.BytesIO(base64.b64decode(event["body"])))
        assert picture.format == "JPEG" and picture.size == (16, 16)


def test_the_key_and_quality_api_events_name_a_key_with_a_space() -> None:
    optimize = _event("api-optimize-key.json")
    body = base64.b64decode(optimize["body"]) if optimize["isBase64Encoded"] else optimize["body"]
    assert json.loads(body) == {"key": "photos/my photo.jpg"}
    assert _event("api-quality.json")["queryStringParameters"] == {"key": "photos/my photo.jpg"}


def test_batch_events_follow_invocation_schemas_1_0_and_2_0() -> None:
    first, second = _event("batch-v1.json"), _event("batch-v2.json")
    assert first["invocationSchemaVersion"] == "1.0"
    assert {"taskId", "s3Key", "s3VersionId", "s3BucketArn"} == set(first["tasks"][0])
    assert second["invocationSchemaVersion"] == "2.0"
    assert {"taskId", "s3Key", "s3VersionId", "s3Bucket"} == set(second["tasks"][0])
    assert "userArguments" in second["job"]
    for event in (first, second):
        assert unquote_plus(event["tasks"][0]["s3Key"]) == "photos/my photo.jpg"


def test_an_alarm_fires_on_the_first_event_in_the_failed_events_queue(template: dict) -> None:
    config = template["Resources"]["OptimizeFunction"]["Properties"]["EventInvokeConfig"]
    queue = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    on_queue = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    resources = template["Resources"].values()
    (alarm,) = [r["Properties"] for r in resources
                if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Dimensions") == on_queue]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (alarm["ComparisonOperator"], int(alarm["Threshold"])) == ("GreaterThanThreshold", 0)


def _alarms(template: dict) -> dict[str, dict]:
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _lambda_metrics(alarm: dict) -> set[tuple[str, str]]:
    """(metric name, function) of each AWS/Lambda metric an alarm's metric math reads."""
    stats = [query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query]
    return {(m["MetricName"], m["Dimensions"][0]["Value"]["Ref"]) for m in stats if m["Namespace"] == "AWS/Lambda"}


@pytest.mark.parametrize("metric", ["Errors", "Throttles", "Duration"])
def test_an_alarm_watches_every_functions_errors_throttles_and_duration(template: dict, metric: str) -> None:
    watched = [alarm for alarm in _alarms(template).values()
               if _lambda_metrics(alarm) == {(metric, function) for function in ENTRY_POINTS}]
    assert len(watched) == 1, f"no one alarm on {metric} of {ENTRY_POINTS}"


def test_the_duration_alarm_fires_before_the_timeout_cuts_an_invocation_off(template: dict) -> None:
    (alarm,) = [a for a in _alarms(template).values() if ("Duration", "OptimizeFunction") in _lambda_metrics(a)]
    assert 0 < alarm["Threshold"] < 1000 * template["Globals"]["Function"]["Timeout"]


def test_an_alarm_fires_on_the_first_upload_that_meets_an_internal_error(template: dict) -> None:
    (alarm,) = [a for a in _alarms(template).values() if a.get("Namespace") == metrics.NAMESPACE]
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"service": "optimal-image", "outcome": "original-kept", "reason": "internal-error"}
    assert (alarm["MetricName"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Uploads", "GreaterThanThreshold", 0)


def test_every_alarm_notifies_the_optional_alarm_topic(template: dict) -> None:
    for name, alarm in _alarms(template).items():
        topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
        assert alarm["AlarmActions"] == topic, name
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_the_dashboard_charts_the_metrics_the_function_writes(template: dict) -> None:
    body, _ = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body.replace("${AWS::Region}", "eu-west-1"))["widgets"]
    charted = json.dumps(widgets)
    for metric in ("Uploads", "BytesSaved", "Quality", "WholeImageChecks", "MillisecondsPerMegapixel", "Variants",
                   "VariantBytesRatio", "Errors", "Throttles", "Duration", "ApproximateNumberOfMessagesVisible"):
        assert metric in charted, metric
