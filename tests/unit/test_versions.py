"""Ordering S3's sequencers: hexadecimal strings of varying length, compared after left-padding with zeros."""

from __future__ import annotations

import pytest

from handler.aws.versions import SourceVersion, is_older, recorded


@pytest.mark.parametrize(
    ("sequencer", "stored", "older"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281F0", True),
        ("0055AED6DCD90281F0", "0055AED6DCD90281E5", False),
        ("FF", "0100", True),  # shorter, so padded: 00FF < 0100, though "FF" > "0100" as plain strings
        ("0100", "FF", False),
        ("617f08299329d189", "617F08299329D18A", True),  # case does not matter
        ("0A1B", "0A1B", False),  # the same event again
        ("", "0A1B", False),  # no sequencer: nothing to order by
        ("0A1B", "", False),  # an output written without one (batch, API, an earlier release)
    ],
)
def test_an_event_is_older_only_where_its_padded_sequencer_is_lower(sequencer, stored, older):
    assert is_older(sequencer, stored) is older


def test_the_event_names_its_version_by_etag_first_else_by_version_id():
    assert SourceVersion('"abc"', "v1").read_params() == {"IfMatch": '"abc"'}
    assert SourceVersion("", "v1").read_params() == {"VersionId": "v1"}
    assert SourceVersion().read_params() == {}


def test_an_output_records_the_etag_read_and_the_sequencer_where_there_is_one():
    assert recorded(SourceVersion("abc", "", "0A"), '"abc"') == {"optimal-image-source-etag": "abc",
                                                                "optimal-image-sequencer": "0A"}
    assert recorded(SourceVersion(), '"abc"') == {"optimal-image-source-etag": "abc"}
