"""The channel tab over HTTP: the list of projects, the channel page, its JSON fallback, read marks and search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import format_date

from app.extensions import db
from app.models import Audience, Project, ProjectMember, ProjectMessage, ProjectMilestone, ProjectReadMark, User
from app.models.mixins import utcnow
from app.services import projects, uow
from app.services.projects import Side
from tests.conftest import login

EMAIL_TEXT = "mail me at jane.doe@example.com"
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User

    @property
    def url(self) -> str:
        return f"/projects/{self.project.id}"

    def project_milestones(self) -> list[ProjectMilestone]:
        query = sa.select(ProjectMilestone).where(ProjectMilestone.project_id == self.project.id)
        return list(db.session.scalars(query))


@pytest.fixture
def scene(f: Any) -> Scene:
    project = f.project(members=2)
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    uow.commit()
    return Scene(project=project, owner=company[0], colleague=company[1], expert=expert, hub=hub)


def _as(app: Any, user: User) -> Any:
    return login(app.test_client(), user)


def _post(project: Project, user: User, body: str, audience: Audience = Audience.EVERYONE) -> ProjectMessage:
    message = projects.post_message(project, user, body, audience=audience)
    uow.commit()
    return message


def _messages(html: str) -> list[str]:
    """The text of each message on a page, in order."""
    return [unescape(m) for m in re.findall(r'data-testid="message-text">(.*?)</div>', html, flags=re.S)]


def _unread_badge(html: str, project_id: int) -> str | None:
    match = re.search(rf'data-testid="unread-{project_id}"[^>]*>([^<]*)<', html)
    return match.group(1).strip() if match else None


def _nav_badge(html: str) -> str | None:
    match = re.search(r'data-testid="projects-unread"[^>]*>([^<]*)<', html)
    return match.group(1).strip() if match else None


def _json(client: Any, url: str, **kwargs: Any) -> Any:
    response = client.get(url, headers={"Accept": "application/json"}, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


# The list of projects ------------------------------------------------------------------------


def test_each_role_lists_the_project_with_its_own_unread_count(app, scene):
    _post(scene.project, scene.expert, "The first trial results are in.")
    _post(scene.project, scene.hub, "Company only: the invoice follows.", Audience.COMPANY)

    company = _as(app, scene.owner).get("/projects/")
    html = company.get_data(as_text=True)
    assert company.status_code == 200
    assert str(scene.project.job) in html
    assert f"Expert {scene.project.contract.expert.pseudonym}" in html
    assert scene.expert.full_name not in html  # anonymity: never the expert's name
    assert _unread_badge(html, scene.project.id) == "3 unread"  # welcome + expert + company-only
    assert _nav_badge(html) == "3"  # the navigation badge
    assert 'data-testid="nav-projects"' in html  # the company tabs link the list too

    expert_html = _as(app, scene.expert).get("/projects/").get_data(as_text=True)
    assert _unread_badge(expert_html, scene.project.id) == "1 unread"  # welcome; own message and company-only not
    assert scene.project.contract.company.name in expert_html

    hub_html = _as(app, scene.hub).get("/projects/").get_data(as_text=True)
    assert _unread_badge(hub_html, scene.project.id) == "2 unread"  # welcome + expert; the hub's own not
    assert 'data-testid="progress-' in hub_html and "0 % done" in hub_html


def test_the_list_filters_by_status_and_explains_when_a_project_appears(app, scene, f):
    client = _as(app, scene.owner)
    completed = client.get("/projects/?status=completed").get_data(as_text=True)
    assert 'data-testid="no-projects"' in completed and str(scene.project.job) not in completed
    assert 'data-testid="project-' not in completed

    other = f.company_user()
    uow.commit()
    empty = _as(app, other).get("/projects/").get_data(as_text=True)
    assert 'data-testid="no-projects"' in empty
    assert "A project appears here once a contract is signed by every party" in empty
    assert str(scene.project.job) not in empty

    assert str(scene.project.job) in client.get("/projects/?status=nonsense").get_data(as_text=True)  # -> active


def test_the_list_is_paginated(app, scene, f):
    for _ in range(21):
        f.project(manager=scene.hub)
    uow.commit()
    client = _as(app, scene.hub)
    first = client.get("/projects/").get_data(as_text=True)
    second = client.get("/projects/?page=2").get_data(as_text=True)
    assert first.count('class="list-group-item list-group-item-action pc-card"') == 20
    assert second.count('class="list-group-item list-group-item-action pc-card"') == 2
    assert re.search(r'href="/projects/\?(page=2&amp;status=active|status=active&amp;page=2)"', first)
    assert f'data-testid="project-{scene.project.id}"' in second  # the oldest comes last


def test_the_list_shows_the_next_due_date_and_overdue_milestones(app, scene):
    first, second = sorted(scene.project_milestones(), key=lambda m: m.position)
    first.due_date = utcnow().date() - timedelta(days=3)
    second.due_date = date(2031, 5, 17)
    uow.commit()
    html = _as(app, scene.expert).get("/projects/").get_data(as_text=True)
    assert f'data-testid="overdue-{scene.project.id}">1 milestone overdue<' in html
    assert "Next due: " + format_date(first.due_date, "medium") in html


def test_the_navigation_badge_is_only_for_logged_in_members(app, scene):
    _post(scene.project, scene.expert, "Unread for the company")
    assert 'data-testid="nav-projects-top"' not in app.test_client().get("/login").get_data(as_text=True)
    page = _as(app, scene.owner).get("/notifications").get_data(as_text=True)
    assert 'data-testid="nav-projects-top"' in page and _nav_badge(page) == "2"


def test_outsiders_get_404_and_anonymous_visitors_log_in(app, scene, f):
    outsider = f.company_user()
    other_expert = f.expert().user
    uow.commit()
    for user in (outsider, other_expert):
        client = _as(app, user)
        assert client.get(scene.url).status_code == 404
        assert client.get(f"{scene.url}/messages.json").status_code == 404
        assert client.get(f"{scene.url}/search?q=trial").status_code == 404
        assert client.post(f"{scene.url}/messages", data={"body": "let me in"}).status_code == 404
        assert client.post(f"{scene.url}/read", json={"last_id": 1}).status_code == 404
        assert f'data-testid="project-{scene.project.id}"' not in client.get("/projects/").get_data(as_text=True)
    assert client.get("/projects/999999").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectMessage)) == 1  # the welcome only

    anonymous = app.test_client()
    page = anonymous.get(scene.url)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert anonymous.get("/projects/").status_code == 302
    assert anonymous.post(f"{scene.url}/messages", data={"body": "hello"}).status_code == 401


def test_a_hub_admin_without_two_factor_is_sent_to_set_it_up(app, scene, f):
    admin = f.admin()
    uow.commit()
    page = _as(app, admin).get(scene.url)
    assert page.status_code == 302 and "/two-factor/setup" in page.headers["Location"]


def test_a_removed_member_no_longer_sees_the_project(app, scene):
    member = db.session.scalar(sa.select(ProjectMember).where(
        ProjectMember.project_id == scene.project.id, ProjectMember.user_id == scene.colleague.id))
    member.removed_at = utcnow()
    uow.commit()
    assert _as(app, scene.colleague).get(scene.url).status_code == 404


# The channel page ----------------------------------------------------------------------------


def test_the_company_reads_the_expert_by_pseudonym_only(app, scene):
    _post(scene.project, scene.expert, "Hello from the expert.")
    page = _as(app, scene.owner).get(scene.url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    pseudonym = scene.project.contract.expert.pseudonym
    assert f'data-testid="message-author">Expert {pseudonym}<' in html
    assert scene.expert.full_name not in html and scene.expert.email not in html
    assert "Hello from the expert." in _messages(html)
    first = scene.hub.full_name.split(" ")[0]
    _post(scene.project, scene.hub, "The hub is here.")
    html = _as(app, scene.owner).get(scene.url).get_data(as_text=True)
    assert f"Plasticonnect Hub · {first}" in html
    # The page carries what channel.js needs.
    assert 'data-testid="messages"' in html and f'data-project-id="{scene.project.id}"' in html
    assert f'data-author-ref="{projects.author_ref(scene.project.id, scene.owner.id)}"' in html
    assert f'data-json-url="/projects/{scene.project.id}/messages.json"' in html
    assert 'data-csrf="' in html and "js/channel.js" in html and "vendor/socket.io.min.js" in html
    assert re.search(r'<script src="[^"]*channel\.js" nonce="[^"]+"', html)


def test_contact_details_are_masked_for_the_other_side_and_shown_to_the_hub(app, scene):
    expert = _as(app, scene.expert)
    sent = expert.post(f"{scene.url}/messages", data={"body": EMAIL_TEXT})
    assert sent.status_code == 302
    message = db.session.scalar(sa.select(ProjectMessage).order_by(ProjectMessage.id.desc()))
    assert message.body == EMAIL_TEXT and message.body_masked and "jane.doe" not in message.body_masked

    company_html = _as(app, scene.owner).get(scene.url).get_data(as_text=True)
    assert "jane.doe@example.com" not in company_html
    assert message.body_masked in _messages(company_html)
    assert 'data-testid="masked-note">Contact details hidden by Plasticonnect Hub<' in company_html
    assert 'data-testid="masked-for-others"' not in company_html

    hub_html = _as(app, scene.hub).get(scene.url).get_data(as_text=True)
    assert EMAIL_TEXT in _messages(hub_html)
    assert 'data-testid="masked-for-others">The other side saw this masked<' in hub_html
    assert 'data-testid="masked-note"' not in hub_html

    own_html = expert.get(scene.url).get_data(as_text=True)
    assert EMAIL_TEXT in _messages(own_html) and 'data-testid="masked-note"' not in own_html

    company_json = _json(_as(app, scene.owner), f"{scene.url}/messages.json")
    (last,) = [m for m in company_json["messages"] if m["id"] == message.id]
    assert last["masked"] is True and "jane.doe" not in last["text"]


def test_only_the_hub_picks_the_audience(app, scene):
    assert 'name="audience"' in _as(app, scene.hub).get(scene.url).get_data(as_text=True)
    for user in (scene.owner, scene.expert):
        assert 'name="audience"' not in _as(app, user).get(scene.url).get_data(as_text=True)

    hub = _as(app, scene.hub)
    assert hub.post(f"{scene.url}/messages", data={"body": "For the company only.", "audience": "company"}
                    ).status_code == 302
    # The company cannot write privately: the service refuses, the typed text is kept.
    refused = _as(app, scene.owner).post(f"{scene.url}/messages",
                                         data={"body": "Psst, expert only", "audience": "expert"})
    assert refused.status_code == 403
    assert "Psst, expert only" in refused.get_data(as_text=True)
    assert "Only the hub writes privately to one side." in refused.get_data(as_text=True)
    bogus = hub.post(f"{scene.url}/messages", data={"body": "Who?", "audience": "everybody"})
    assert bogus.status_code == 422 and "Who?" in bogus.get_data(as_text=True)


def test_a_company_only_message_never_reaches_the_expert(app, scene):
    private = _post(scene.project, scene.hub, "Company only: we negotiate the fee.", Audience.COMPANY)
    _post(scene.project, scene.hub, "Everyone: kick-off on Monday.")

    company_html = _as(app, scene.owner).get(scene.url).get_data(as_text=True)
    assert "Company only: we negotiate the fee." in _messages(company_html)
    assert re.search(r'data-testid="message-audience">Company and hub<', company_html)

    expert = _as(app, scene.expert)
    expert_html = expert.get(scene.url).get_data(as_text=True)
    assert "Company only: we negotiate the fee." not in expert_html
    assert "Everyone: kick-off on Monday." in _messages(expert_html)
    data = _json(expert, f"{scene.url}/messages.json")
    assert private.id not in [m["id"] for m in data["messages"]]
    caught_up = _json(expert, f"{scene.url}/messages.json?after=0")["messages"]
    assert caught_up[-1]["text"] == "Everyone: kick-off on Monday." and private.id not in [m["id"] for m in caught_up]
    assert expert.get(f"{scene.url}/search?q=negotiate").get_data(as_text=True).count('data-testid="message"') == 0


def test_message_text_is_escaped_in_html_and_plain_data_in_json(app, scene):
    client = _as(app, scene.owner)
    assert client.post(f"{scene.url}/messages", data={"body": XSS}).status_code == 302
    for user in (scene.owner, scene.expert, scene.hub):
        html = _as(app, user).get(scene.url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    response = client.get(f"{scene.url}/messages.json", headers={"Accept": "application/json"})
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["messages"][-1]["text"] == XSS  # data, for textContent
    found = client.get(f"{scene.url}/search?q=script").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in found and "&lt;script&gt;" in found
    tricky = client.get(f"{scene.url}/search", query_string={"q": "<b>bold</b>"}).get_data(as_text=True)
    assert "<b>bold</b>" not in tricky and "&lt;b&gt;bold&lt;/b&gt;" in tricky


def test_the_form_works_without_javascript_and_keeps_the_text_on_errors(app, scene):
    client = _as(app, scene.owner)
    sent = client.post(f"{scene.url}/messages", data={"body": "Line one\r\nLine two"})
    assert sent.status_code == 302
    message = db.session.scalar(sa.select(ProjectMessage).order_by(ProjectMessage.id.desc()))
    assert sent.headers["Location"].endswith(f"/projects/{scene.project.id}#m{message.id}")
    assert message.body == "Line one\nLine two"
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Line one\nLine two" in _messages(page)
    assert f'id="m{message.id}" data-message-id="{message.id}"' in page

    empty = client.post(f"{scene.url}/messages", data={"body": "   "})
    assert empty.status_code == 422
    assert 'data-testid="error-body">Write a message first.<' in empty.get_data(as_text=True)

    long_text = "Too long. " * 501
    too_long = client.post(f"{scene.url}/messages", data={"body": long_text})
    html = too_long.get_data(as_text=True)
    assert too_long.status_code == 422
    assert "at most 5000 characters" in html
    assert long_text.strip() in unescape(html)  # what was typed is kept
    assert "Your message was not sent" in html  # flashed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectMessage)) == 2


def test_json_posting_for_the_script(app, scene):
    client = _as(app, scene.expert)
    ok = client.post(f"{scene.url}/messages", data={"body": "Sent by fetch"}, headers={"Accept": "application/json"})
    assert ok.status_code == 201
    body = ok.get_json()
    assert body["ok"] is True and db.session.get(ProjectMessage, body["id"]).body == "Sent by fetch"

    bad = client.post(f"{scene.url}/messages", json={"body": ""}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and bad.get_json() == {"ok": False, "error": "Write a message first.",
                                                         "errors": {"body": ["Write a message first."]}}
    refused = client.post(f"{scene.url}/messages", data={"body": "private", "audience": "expert"},
                          headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.get_json()["ok"] is False


def test_history_pages_with_before_and_after(app, scene):
    ids = [_post(scene.project, scene.expert, f"Message number {n}").id for n in range(1, 61)]
    client = _as(app, scene.owner)
    html = client.get(scene.url).get_data(as_text=True)
    texts = _messages(html)
    assert len(texts) == projects.PAGE_SIZE and texts[-1] == "Message number 60" and texts[0] == "Message number 11"
    older_link = f'href="/projects/{scene.project.id}?before={ids[10]}"'
    assert older_link in html and 'data-testid="load-older"' in html

    older = client.get(f"{scene.url}?before={ids[10]}").get_data(as_text=True)
    assert _messages(older)[-1] == "Message number 10" and len(_messages(older)) == 11  # + the welcome
    assert 'data-testid="load-older"' not in older and 'data-testid="latest-link"' in older
    assert 'data-testid="message-form"' not in older  # write from the latest page only

    page = _json(client, f"{scene.url}/messages.json?before={ids[10]}")
    assert page["has_older"] is False and [m["text"] for m in page["messages"]][-1] == "Message number 10"
    newest = _json(client, f"{scene.url}/messages.json")
    assert newest["has_older"] is True and newest["last_id"] == ids[-1] and len(newest["messages"]) == 50
    after = _json(client, f"{scene.url}/messages.json?after={ids[57]}")
    assert [m["id"] for m in after["messages"]] == ids[58:] and after["last_id"] == ids[-1]
    nothing = _json(client, f"{scene.url}/messages.json?after={ids[-1]}")
    assert nothing["messages"] == [] and nothing["last_id"] == ids[-1]


def test_viewing_and_marking_read_lower_the_unread_count(app, scene):
    ids = [_post(scene.project, scene.expert, f"Update {n}").id for n in range(3)]
    client = _as(app, scene.owner)
    assert _unread_badge(client.get("/projects/").get_data(as_text=True), scene.project.id) == "4 unread"

    read = client.post(f"{scene.url}/read", json={"last_id": ids[1]})
    assert read.status_code == 200 and read.get_json() == {"last_id": ids[1]}
    assert _unread_badge(client.get("/projects/").get_data(as_text=True), scene.project.id) == "1 unread"
    assert client.post(f"{scene.url}/read", json={"last_id": 1}).get_json() == {"last_id": ids[1]}  # never back
    assert client.post(f"{scene.url}/read", data={"last_id": "x"}).status_code == 400

    client.get(scene.url)  # the page marks everything it shows as read
    listing = client.get("/projects/").get_data(as_text=True)
    assert _unread_badge(listing, scene.project.id) is None and _nav_badge(listing) is None
    mark = db.session.scalar(sa.select(ProjectReadMark).where(ProjectReadMark.user_id == scene.owner.id))
    assert mark.last_read_id == ids[-1]
    # A colleague of the same company keeps their own count.
    assert _unread_badge(_as(app, scene.colleague).get("/projects/").get_data(as_text=True),
                         scene.project.id) == "4 unread"


def test_search_finds_what_the_reader_can_read_but_not_a_masked_contact(app, scene):
    _post(scene.project, scene.expert, EMAIL_TEXT)
    _post(scene.project, scene.owner, "The gate freezes too early on cavity two.")

    company = _as(app, scene.owner)
    found = company.get(f"{scene.url}/search?q=mail me").get_data(as_text=True)
    assert found.count('data-testid="message"') == 1 and 'data-testid="result-link"' in found
    assert "jane.doe" not in found
    hidden = company.get(f"{scene.url}/search?q=jane.doe").get_data(as_text=True)
    assert 'data-testid="no-results"' in hidden and 'data-testid="message"' not in hidden
    upper = company.get(f"{scene.url}/search?q=GATE FREEZES").get_data(as_text=True)
    assert upper.count('data-testid="message"') == 1  # case-insensitive

    hub = _as(app, scene.hub).get(f"{scene.url}/search?q=jane.doe").get_data(as_text=True)
    assert hub.count('data-testid="message"') == 1 and "jane.doe@example.com" in hub
    expert = _as(app, scene.expert).get(f"{scene.url}/search?q=jane.doe").get_data(as_text=True)
    assert expert.count('data-testid="message"') == 1  # the author searches what they wrote

    short = company.get(f"{scene.url}/search?q=a").get_data(as_text=True)
    assert "at least two characters" in short


def test_the_search_result_links_to_the_message_in_the_history(app, scene):
    target = _post(scene.project, scene.expert, "Needle in the haystack")
    for n in range(55):
        _post(scene.project, scene.owner, f"Hay {n}")
    client = _as(app, scene.owner)
    html = client.get(f"{scene.url}/search?q=needle").get_data(as_text=True)
    link = re.search(r'href="([^"]+)" data-testid="result-link"', html).group(1)
    assert unescape(link) == f"/projects/{scene.project.id}?before={target.id + 1}#m{target.id}"
    assert "Needle in the haystack" in _messages(client.get(unescape(link).split("#")[0]).get_data(as_text=True))
