"""The portal's pure parts: SVG charts, the metadata form's PATCH, the sealed session cookie, UI texts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eucaim.node.portal.charts import bar_chart, bars_from_rows, range_chart
from eucaim.node.portal.figures import figures
from eucaim.node.portal.messages import ENGLISH, text
from eucaim.node.portal.metadata_form import changes, form_values
from eucaim.node.portal.oidc_login import code_challenge, new_pending, open_pending, seal_pending
from eucaim.node.portal.session import SealedSession, load_key, open_sealed, seal

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "eucaim" / "node" / "portal" / "templates"


def test_a_suppressed_count_is_a_hatched_bar_labelled_as_text() -> None:
    bars = bars_from_rows([{"label": "CT", "studies": 12}, {"label": "MR<b>", "studies": "<5"}], "studies")
    svg = str(bar_chart("modality", "Modality", bars, suppressed_text="fewer than 5"))
    assert '<desc id="chart-modality-d">CT: 12; MR&lt;b&gt;: fewer than 5</desc>' in svg
    assert 'fill="url(#hatch-modality)"' in svg and ">&lt;5</text>" in svg
    assert "<b>" not in svg  # labels are escaped


def test_a_withheld_range_draws_no_band() -> None:
    svg = str(range_chart("age", "Age", None, None, axis=(0, 100), note="withheld"))
    assert "<rect" not in svg and "withheld" in svg
    drawn = str(range_chart("age", "Age", 40, 64, axis=(0, 100), note=""))
    assert ">40–64</text>" in drawn


def test_the_form_sends_only_changed_editable_properties() -> None:
    view = {
        "name": "Lung",
        "description": "d",
        "keywords": ["a"],
        "type": ["original"],
        "contact": {"name": "X", "email": "x@h.example"},
    }
    submitted = form_values(view) | {"keywords": "a, b ", "contact_email": "y@h.example", "version": ""}
    editable = ["name", "description", "keywords", "type", "contact", "version", "license"]
    assert changes(view, submitted, editable) == {
        "keywords": ["a", "b"],
        "contact": {"name": "X", "email": "y@h.example"},
    }
    assert changes(view, submitted, ["license"]) == {}


def test_a_session_cookie_opens_only_with_its_key(tmp_path: Path) -> None:
    key = load_key(tmp_path)
    assert load_key(tmp_path) == key and (tmp_path / "portal-session.key").stat().st_mode & 0o077 == 0
    sealed = seal(key, SealedSession("eucaim_secret", "c1"))
    assert "eucaim_secret" not in sealed
    assert open_sealed(key, sealed) == SealedSession("eucaim_secret", "c1")
    assert open_sealed(load_key(tmp_path / "other"), sealed) is None
    assert open_sealed(key, sealed[:-2] + "xx") is None


def test_every_text_a_template_asks_for_exists() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""(?<![\w.])t\(["']([a-z_]+\.[a-z_.]*[a-z_])["']""", template.read_text()))
    assert len(used) > 100 and used - set(ENGLISH) == set()
    with pytest.raises(KeyError):
        text("no.such.key")


def test_binned_ages_and_years_are_drawn_as_histograms_instead_of_ranges() -> None:
    aggregates = {
        "sex": [{"label": "Female", "subjects": 7}],
        "ageYears": {"min": 40, "max": 64},
        "ageGroups": [{"label": "40-49", "subjects": 6}, {"label": "50-59", "subjects": "<5"}],
        "acquisitionYear": {"min": 2019, "max": 2021},
    }
    keys = [f.key for f in figures(aggregates, threshold=5)]
    assert keys == ["sex", "ageGroups", "acquisitionYear"]  # no bins for years: their range stays
    age = next(f for f in figures(aggregates, threshold=5) if f.key == "ageGroups")
    assert age.rows == [("40-49", "6"), ("50-59", "<5")]


def test_the_portal_loads_nothing_from_other_sites() -> None:
    portal = TEMPLATES.parent
    for path in [*portal.glob("templates/*.html"), *portal.glob("static/*")]:
        external = re.findall(r"(?:https?:)?//[\w.-]+\.\w+", path.read_text())
        assert [u for u in external if "www.w3.org" not in u] == [], path.name


def test_pkce_challenge_is_rfc_7636_s256_and_the_flow_cookie_opens_only_with_its_key(tmp_path: Path) -> None:
    # RFC 7636, appendix B.
    assert code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    one, two = new_pending("/portal/review"), new_pending("/portal/review")
    assert len({one.state, two.state, one.nonce, two.nonce, one.verifier, two.verifier}) == 6
    assert 43 <= len(one.verifier) <= 128
    key = load_key(tmp_path)
    sealed = seal_pending(key, one)
    assert one.verifier not in sealed and one.state not in sealed
    assert open_pending(key, sealed) == one
    assert open_pending(load_key(tmp_path / "other"), sealed) is None
    assert open_pending(key, sealed[:-2] + "xx") is None and open_pending(key, None) is None
