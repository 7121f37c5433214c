"""Dataset metadata values: what the API accepts, how it normalises them, and what it refuses."""

from __future__ import annotations

import re

import pytest

from eucaim.node.errors import InvalidRequest
from eucaim.node.services.dataset_properties import check_property


def test_values_are_normalised() -> None:
    assert check_property("name", "  Lung CT  ") == "Lung CT"
    assert check_property("type", "original") == ["original"]
    assert check_property("collectionMethod", ["cohort", "cohort", "longitudinal"]) == [
        "cohort",
        "longitudinal",
    ]
    assert check_property("keywords", [" lung ", "CT"]) == ["lung", "CT"]
    assert check_property("license", {"title": " CC BY 4.0 ", "url": "https://x.example/l"}) == {
        "title": "CC BY 4.0",
        "url": "https://x.example/l",
    }
    assert check_property("contact", {"email": "a@b.example"}) == {"name": "", "email": "a@b.example"}
    assert check_property("version", None) is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("name", "ab", "name: must be 3-256 characters long"),
        ("name", None, "name: a dataset needs a name"),
        ("version", "1.0.0-release-candidate", "version: must be 0-16 characters long"),
        ("type", ["photos"], "type: photos not allowed"),
        ("collectionMethod", [1], "collectionMethod: must be a list of text values"),
        ("keywords", "lung", "keywords: must be a list of non-empty words"),
        ("license", {"title": "CC BY"}, "license: url must be an http(s) URL"),
        ("contact", {"email": "not-an-email"}, "contact: must be {'name': ..., 'email': ...}"),
        ("description", 42, "description: must be text"),
        ("colour", "red", "colour: unknown property"),
    ],
)
def test_bad_values_are_refused_naming_the_property(name: str, value: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)) as refused:
        check_property(name, value)
    assert refused.value.parameter == name
