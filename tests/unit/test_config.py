"""Settings from the environment: every name template.yaml sets is read, and a value the function cannot run
with stops it at start-up with the variable named, instead of being ignored or guessed at."""

from __future__ import annotations

import pytest

from handler.errors import ConfigError
from handler.settings import PRESETS, TARGET_METADATA, Locations, Settings, preset


def test_an_empty_environment_gives_the_documented_defaults():
    settings = Settings.from_env({})
    assert (settings.target, settings.min_quality, settings.max_quality) == (80, 50, 100)
    assert settings.verify is True and settings.metadata == "keep"


def test_each_variable_is_read():
    env = {"TARGET": "90", "MIN_QUALITY": "40", "MAX_QUALITY": "95", "VERIFY": "false", "METADATA": "strip",
           "MAX_INPUT_BYTES": "1000", "MAX_PIXELS": "2000", "UPLOAD_BUCKET": "in", "OUTPUT_BUCKET": "out",
           "OUTPUT_PREFIX": "small/", "OUTPUT_SUFFIX": "format"}
    assert Settings.from_env(env) == Settings(90, 40, 95, False, "strip", 1000, 2000)
    assert Locations.from_env(env) == Locations("in", "out", "small/", "format")


@pytest.mark.parametrize(("value", "verify"), [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
                                               ("false", False), ("False", False), ("0", False), ("no", False),
                                               ("off", False)])
def test_verify_takes_the_usual_spellings_of_true_and_false(value, verify):
    assert Settings.from_env({"VERIFY": value}).verify is verify


@pytest.mark.parametrize(
    ("env", "named"),
    [({"VERIFY": "ture"}, "VERIFY"), ({"VERIFY": "disabled"}, "VERIFY"), ({"TARGET": "75"}, "TARGET"),
     ({"TARGET": "high"}, "bad number"), ({"MIN_QUALITY": "90", "MAX_QUALITY": "80"}, "MIN_QUALITY"),
     ({"METADATA": "some"}, "METADATA")],
)
def test_a_value_the_function_cannot_run_with_is_refused_and_named(env, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize("value", [*PRESETS, *map(str, PRESETS)])
def test_another_preset_can_be_chosen_for_one_job_or_request(value):
    assert Settings().for_call(preset(value), {}).target == int(value)


@pytest.mark.parametrize("value", ["75", "high", "", None, "80.5"])
def test_a_target_that_is_not_a_preset_is_refused_with_the_presets_named(value):
    with pytest.raises(ConfigError, match="70, 80, 85, 90"):
        preset(value)


def test_an_upload_asks_for_its_own_preset_in_its_metadata_unless_the_caller_chose_one():
    asked = {TARGET_METADATA: "90"}
    assert Settings().for_call(None, asked).target == 90
    assert Settings(target=70).for_call(None, {"target": "90"}).target == 70  # an uploader's own `target` is not ours
    assert Settings().for_call(85, asked).target == 85


def test_a_target_an_upload_asks_for_that_is_not_a_preset_is_refused_with_the_header_named():
    with pytest.raises(ConfigError, match=r"x-amz-meta-optimal-image-target='95': must be one of 70, 80, 85, 90"):
        Settings().for_call(None, {TARGET_METADATA: "95"})


def test_output_suffix_is_keep_unless_format_is_asked_for_and_anything_else_is_refused():
    assert Locations.from_env({}).output_suffix == "keep"
    assert Locations.from_env({"OUTPUT_SUFFIX": "format"}).output_suffix == "format"
    with pytest.raises(ConfigError, match="OUTPUT_SUFFIX='jpg'"):
        Locations.from_env({"OUTPUT_SUFFIX": "jpg"})
