"""PACS settings are checked before any network traffic."""

from __future__ import annotations

import pytest
from pydicom.uid import CTImageStorage, JPEG2000Lossless, RLELossless

from eucaim.errors import ConfigError, TransientError
from eucaim.ingest.sources.contexts import (
    MAX_CONTEXTS,
    RETRIEVABLE_SOP_CLASSES,
    retrieve_contexts,
    storage_scp_roles,
)
from eucaim.ingest.sources.pacs import GET, PacsConfig, PacsUnavailable, RetrieveResult


@pytest.mark.parametrize(
    "kwargs",
    [
        {"called_aet": ""},
        {"calling_aet": "A" * 17},
        {"calling_aet": "BAD\\AE"},
        {"port": 0},
        {"port": 70000},
        {"timeout": 0},
        {"retrieve_timeout": -1},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"host": "pacs", "port": 104, "called_aet": "PACS", "calling_aet": "EUCAIM"}
    settings.update(kwargs)

    with pytest.raises(ConfigError):
        PacsConfig(**settings)  # type: ignore[arg-type]


def test_c_get_offers_fit_in_one_association_with_one_syntax_per_compressed_context() -> None:
    contexts = retrieve_contexts(GET)

    assert len(contexts) <= MAX_CONTEXTS
    assert contexts[0].abstract_syntax == GET
    assert len(set(RETRIEVABLE_SOP_CLASSES)) == len(RETRIEVABLE_SOP_CLASSES)
    ct = [cx.transfer_syntax for cx in contexts if cx.abstract_syntax == CTImageStorage]
    assert [RLELossless] in ct and [JPEG2000Lossless] in ct
    assert len(storage_scp_roles()) == len(RETRIEVABLE_SOP_CLASSES)


def test_unavailable_is_retryable_and_carries_its_hint() -> None:
    error = PacsUnavailable("cannot associate", hint="check the port")

    assert isinstance(error, TransientError)
    assert str(error) == "cannot associate (check the port)"


def test_retrieve_is_complete_only_without_failures() -> None:
    assert RetrieveResult(status=0, completed=3, failed=0, warning=0, received=3).is_complete
    assert not RetrieveResult(status=0xB000, completed=2, failed=1, warning=0).is_complete
    assert not RetrieveResult(status=0, completed=3, failed=0, warning=0, received=2, refused=1).is_complete
