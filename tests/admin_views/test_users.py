"""Users: a read-only list, and suspend (with a reason) / reinstate through the account service."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEvent, Notification, Role, User
from tests.admin_views.conftest import filter_index, flashes, list_table, reload, snapshot
from tests.conftest import login


def test_suspend_needs_a_reason(admin_client: FlaskClient, f: Any, app: Flask) -> None:
    user = f.user(role=Role.EXPERT)
    db.session.commit()
    before = snapshot(app)

    resp = admin_client.post(f"/admin/users/{user.id}/suspend", data={"suspend-reason": ""})

    assert resp.status_code == 400
    assert 'data-testid="error-suspend-reason"' in resp.get_data(as_text=True)
    assert snapshot(app) == before


def test_suspend_ends_the_sessions_and_reinstate_lets_back_in(admin_client: FlaskClient, f: Any, app: Flask) -> None:
    user = f.user(role=Role.EXPERT, email="victim@example.test")
    db.session.commit()
    victim = login(app.test_client(), user)
    assert victim.get("/notifications").status_code == 200

    resp = admin_client.post(
        f"/admin/users/{user.id}/suspend", data={"suspend-reason": "Fake profile"}, follow_redirects=True
    )

    assert any("Account suspended" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(user).suspended_at is not None
    assert victim.get("/notifications").status_code == 302  # the live session is gone
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.suspended"))
    assert event is not None and event.entity_id == user.id and event.data["reason"] == "Fake profile"
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == user.id))
    assert note is not None and note.kind == "account.suspended"
    assert 'data-testid="reinstate"' in resp.get_data(as_text=True)

    resp = admin_client.post(f"/admin/users/{user.id}/reinstate", follow_redirects=True)
    assert any("Account reinstated" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(user).suspended_at is None


def test_own_account_shows_no_buttons_and_the_service_refuses(admin_client: FlaskClient, admin: User) -> None:
    html = admin_client.get(f"/admin/users/details/?id={admin.id}").get_data(as_text=True)
    assert 'data-testid="suspend"' not in html

    resp = admin_client.post(f"/admin/users/{admin.id}/suspend", data={"suspend-reason": "oops"}, follow_redirects=True)
    assert any("not their own" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(admin).suspended_at is None


def test_user_list_search_and_role_filter_hide_secrets(admin_client: FlaskClient, f: Any, app: Flask) -> None:
    expert = f.user(role=Role.EXPERT, email="erika.expert@example.test", full_name="Erika Expert")
    owner = f.company_user(email="owner@molder.test", full_name="Otto Owner")
    db.session.commit()
    index = filter_index(admin_client, "users")

    html = list_table(admin_client.get("/admin/users/?search=erika").get_data(as_text=True))
    assert "Erika Expert" in html and "Otto Owner" not in html

    html = list_table(
        admin_client.get(f"/admin/users/?flt0_{index[('Role', 'equals')]}=company").get_data(as_text=True)
    )
    assert "Otto Owner" in html and "Erika Expert" not in html

    page = admin_client.get(f"/admin/users/details/?id={expert.id}").get_data(as_text=True)
    page += admin_client.get("/admin/users/").get_data(as_text=True)
    assert expert.password_hash not in page and owner.password_hash not in page
    assert "argon2" not in page


def test_roles_are_shown_as_translated_labels(admin_client: FlaskClient, admin: User, f: Any) -> None:
    f.user(role=Role.EXPERT, email="erika.expert@example.test", full_name="Erika Expert")
    owner = f.company_user(email="owner@molder.test", full_name="Otto Owner")
    db.session.commit()
    index = filter_index(admin_client, "users")

    html = list_table(admin_client.get("/admin/users/").get_data(as_text=True))
    assert "Expert" in html and "Company user" in html and "Owner" in html
    assert ">expert<" not in html and ">owner<" not in html

    admin.locale = "de"
    db.session.commit()
    page = admin_client.get("/admin/users/").get_data(as_text=True)
    html = list_table(page)
    assert "Experte" in html and "Unternehmensbenutzer" in html and "Inhaber" in html and "Hub-Admin" in html
    # The filter menus offer the same labels; the filter itself still takes the stored value.
    assert "Mitglied" in page
    html = list_table(
        admin_client.get(f"/admin/users/?flt0_{index[('Role', 'equals')]}=company").get_data(as_text=True)
    )
    assert "Otto Owner" in html and "Erika Expert" not in html

    details = admin_client.get(f"/admin/users/details/?id={owner.id}").get_data(as_text=True)
    assert "Unternehmensbenutzer" in details and "Inhaber" in details
