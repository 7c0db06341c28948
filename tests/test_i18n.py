"""German is complete and is what German users see: pages, the back office and e-mails.

The catalog is app/translations/de/LC_MESSAGES/messages.po. After adding or changing strings::

    .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k _ -k gettext \\
        -k ngettext:1,2 -k lazy_ngettext:1,2 --sort-by-file \\
        --ignore-dirs ".* ._ tests node_modules test-artifacts migrations" \\
        --project "Plasticonnect Hub" -o app/translations/messages.pot .
    .venv/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching
    # translate the new entries in the .po, then:
    .venv/bin/pybabel compile -d app/translations

These tests re-extract the sources, so a string marked for translation but missing from the
German catalog fails here, not in front of a customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import get_babel

from app.extensions import db
from app.models import EmailMessage, User
from app.services import notifications, uow
from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "app" / "translations"
DE_PO = TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"
DE_MO = DE_PO.with_suffix(".mo")
# The same keywords as the extraction command (Makefile / README).
KEYWORDS = ["_l", "lazy_gettext", "_", "gettext", "ngettext:1,2", "lazy_ngettext:1,2"]
SKIPPED_DIRS = {"tests", "node_modules", "migrations", "test-artifacts", "instance", "__pycache__"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%[sdifr]")


def _read_de() -> Catalog:
    with DE_PO.open("rb") as fh:
        return read_po(fh, locale="de")


def _placeholder_specs(text: str) -> list[str]:
    """Every ``%(name)s`` / ``%(n)d`` with its conversion, sorted (``%%`` is a literal percent)."""
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text.replace("%%", "")))


def _ids(message: Message) -> tuple[str, ...]:
    """The msgid, or the singular and plural msgids."""
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else (str(message.id),)


def _strings(message: Message) -> tuple[str, ...]:
    """The msgstr, or every plural form of it ("" when empty)."""
    raw = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return tuple(s or "" for s in raw)


@pytest.fixture(scope="module", autouse=True)
def compiled_catalog(shared_app: Flask) -> Iterator[None]:
    """Compile the German .po into the .mo the app loads (``make translations`` does it too).

    The .mo is git-ignored; a bare ``pytest`` on a fresh clone has none. Flask-Babel caches a
    loaded catalog per app, so the cache is dropped to pick up the freshly written file.
    """
    if not DE_MO.exists() or DE_MO.stat().st_mtime < DE_PO.stat().st_mtime:
        catalog = _read_de()
        with DE_MO.open("wb") as fh:
            write_mo(fh, catalog)
    with shared_app.app_context():
        get_babel(shared_app).instance.domain_instance.cache.clear()
    yield


# --- (a) the German catalog is complete ---------------------------------------------------


def test_every_german_entry_is_translated_and_not_fuzzy() -> None:
    catalog = _read_de()
    messages = [m for m in catalog if m.id]
    assert len(messages) > 500, "the German catalog looks truncated"
    assert catalog.num_plurals == 2
    untranslated = [m.id for m in messages if not all(s.strip() for s in _strings(m))]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert untranslated == []
    assert fuzzy == []


def test_every_german_entry_keeps_the_placeholders_of_its_msgid() -> None:
    wrong = []
    for message in _read_de():
        if not message.id:
            continue
        wanted = _placeholder_specs(_ids(message)[-1])
        for string in _strings(message):
            # The singular of a plural may drop the number ("eine Minute"), nothing else.
            got = _placeholder_specs(string)
            if got != wanted and not (isinstance(message.id, tuple) and set(got) <= set(wanted)):
                wrong.append((message.id, string))
    assert wrong == []


def test_german_entries_keep_markup_and_entities() -> None:
    wrong = []
    for message in _read_de():
        if not message.id:
            continue
        wanted = sorted(re.findall(r"</?\w+[^>]*>|&\w+;|&#\d+;", _ids(message)[0]))
        for string in _strings(message):
            if sorted(re.findall(r"</?\w+[^>]*>|&\w+;|&#\d+;", string)) != wanted:
                wrong.append((message.id, string))
    assert wrong == []


def test_the_catalog_covers_every_string_marked_in_the_sources() -> None:
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords(KEYWORDS))

    def wanted_dir(dirpath: str) -> bool:
        name = Path(dirpath).name
        return not name.startswith(".") and name not in SKIPPED_DIRS

    extracted: dict[str, str] = {}
    for filename, lineno, msg, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords, directory_filter=wanted_dir
    ):
        key = msg[0] if isinstance(msg, tuple) else msg
        if key:
            extracted.setdefault(key, f"{filename}:{lineno}")
    assert len(extracted) > 500, "extraction found almost nothing: is the Jinja2 extractor installed?"

    translated = {_ids(m)[0] for m in _read_de() if m.id and all(_strings(m)) and not m.fuzzy}
    missing = sorted(f"{where}: {key!r}" for key, where in extracted.items() if key not in translated)
    assert missing == [], (
        "marked for translation but not in the German catalog; run pybabel extract + update "
        "(commands in this module's docstring) and translate:\n" + "\n".join(missing)
    )


def test_the_committed_template_matches_the_german_catalog() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as fh:
        template = read_po(fh)
    german = {_ids(m)[0] for m in _read_de() if m.id}
    assert sorted(_ids(m)[0] for m in template if m.id and _ids(m)[0] not in german) == []


# --- (b) pages render in German ---------------------------------------------------------------


def _choose_german(client: FlaskClient) -> None:
    response = client.post("/language", data={"language": "de", "next": "/"})
    assert response.status_code == 302


def test_the_language_switch_renders_public_pages_in_german(client: FlaskClient) -> None:
    _choose_german(client)

    home = client.get("/").get_data(as_text=True)
    assert '<html lang="de">' in home
    assert "Experten für die Kunststoffindustrie" in home
    assert "Anmelden" in home and "Registrieren" in home
    assert "Log in" not in home

    login_page = client.get("/login").get_data(as_text=True)
    assert '<html lang="de">' in login_page
    assert "Bei Plasticonnect Hub anmelden" in login_page
    assert "Passwort" in login_page

    signup = client.get("/signup/company").get_data(as_text=True)
    assert "Unternehmenskonto anlegen" in signup
    assert "Geschäftliche E-Mail-Adresse" in signup


def test_english_stays_the_default_for_visitors(client: FlaskClient) -> None:
    home = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in home
    assert "Log in" in home
    assert "Anmelden" not in home


def test_the_browser_language_is_used_until_one_is_chosen(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="de">' in page
    assert "Bei Plasticonnect Hub anmelden" in page

    client.post("/language", data={"language": "en", "next": "/login"})
    page = client.get("/login", headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
    assert "Log in to Plasticonnect Hub" in page


def test_a_german_user_sees_the_company_pages_in_german(client: FlaskClient, f: Any) -> None:
    from app.models import VerificationStatus

    company = f.company(status=VerificationStatus.DRAFT)
    user = f.company_user(company, locale="de")
    uow.commit()
    login(client, user)

    page = client.get("/company/").get_data(as_text=True)
    assert '<html lang="de">' in page
    assert "Checkliste zur Verifizierung" in page
    assert "Entwurf" in page
    assert "Abmelden" in page
    assert "Verification checklist" not in page


def test_the_language_switch_is_saved_on_the_account(client: FlaskClient, f: Any) -> None:
    user = f.company_user(locale="en")
    uow.commit()
    login(client, user)

    _choose_german(client)

    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert saved is not None and saved.locale == "de"
    assert "Ihr Unternehmen ist verifiziert" in client.get("/company/").get_data(as_text=True)


def test_the_back_office_is_german_for_a_german_admin(client: FlaskClient, f: Any) -> None:
    admin = f.admin(locale="de", totp_enabled_at=datetime.now(UTC))
    uow.commit()
    login(client, admin)

    page = client.get("/admin/users/").get_data(as_text=True)
    # Our own labels (messages domain) ...
    assert "Benutzer" in page and "Letzte Anmeldung" in page
    # ... and Flask-Admin's own interface (its "admin" domain ships German).
    assert "Liste" in page
    assert "Filter hinzufügen" in page


# --- (c) e-mails go out in the recipient's language -------------------------------------------


def test_a_notification_email_to_a_german_user_is_german(app: Flask, f: Any) -> None:
    company = f.company(name="Spritzguss Müller GmbH")
    owner = f.company_user(company, locale="de")
    uow.commit()

    notifications.notify(owner, "company.approved", link="/company/", company=company.name)
    uow.commit()

    email = db.session.scalars(sa.select(EmailMessage).where(EmailMessage.user_id == owner.id)).one()
    assert email.subject == "Ihr Unternehmen ist verifiziert"
    assert "Spritzguss Müller GmbH ist verifiziert" in email.body_text
    assert "Hier öffnen: " in email.body_text
    assert "Sie erhalten diese E-Mail" in email.body_html
    assert "Your company" not in email.body_text + email.body_html


def test_the_same_notification_to_an_english_user_stays_english(app: Flask, f: Any) -> None:
    owner = f.company_user(locale="en")
    uow.commit()

    notifications.notify(owner, "company.approved", link="/company/", company="Molder GmbH")
    uow.commit()

    email = db.session.scalars(sa.select(EmailMessage).where(EmailMessage.user_id == owner.id)).one()
    assert email.subject == "Your company is verified"
