"""The matching engine's English exclusion details are shown in the reader's language."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from admin_views.labels import exclusion_text
from app.matching.conflicts import describe


def test_a_conflict_naming_the_company_is_translated(app):
    with app.test_request_context(), force_locale("de"):
        text = exclusion_text("Declared former employer “Keller” matches the company “Keller GmbH”")
    assert text == "Angegeben als früherer Arbeitgeber: „Keller“ entspricht dem Unternehmen „Keller GmbH“"


@pytest.mark.parametrize(("relation", "german"), [
    ("current", "derzeitiger Arbeitgeber"),
    ("former", "früherer Arbeitgeber"),
    ("competitor", "Wettbewerbsbeziehung"),
    ("supplier", "Lieferbeziehung"),
])
def test_conflict_details_are_translated(app, relation, german):
    detail = describe("Keller GmbH", relation)
    with app.test_request_context(), force_locale("de"):
        text = exclusion_text(detail)
    assert german in text and "„Keller GmbH“" in text and text.endswith("entspricht dem Unternehmen")
    assert "Declared" not in text
    with app.test_request_context(), force_locale("en"):
        assert exclusion_text(detail) == detail


def test_language_and_suspension_details_are_translated(app):
    with app.test_request_context(), force_locale("de"):
        language = exclusion_text("Does not speak the required language(s): de (at least B2)")
        suspended = exclusion_text("The expert's profile or account is suspended")
        unknown = exclusion_text("Something new the engine says")
    assert language.startswith("Spricht") and "de (mindestens B2)" in language
    assert "gesperrt" in suspended
    assert unknown == "Something new the engine says"
