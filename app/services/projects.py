"""The project workspace (WORKFLOW.md §7–8): who is on a project, its channel, unread counts.

A member reads the project from one *side*: the company's users, the expert
(the assigned expert; the QC expert reads from the expert's side too, as a
subcontractor of the hub) or the hub (its project manager and any hub admin).
A message is for everyone, or, written by the hub, for the hub and one side.
Contact details the company or the expert types are masked for the other
side (app/services/masking.py); the hub reads the original and is alerted.

Messages are stored in the caller's transaction; after commit they are pushed
to the project's side rooms (app/realtime.py), each side receiving the text it
may read. Files, calls, milestones and QC live in their own modules and post
their announcements through :func:`post_message`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    Audience,
    ExpertProfile,
    MessageKind,
    MilestoneStatus,
    OfferVersion,
    Project,
    ProjectMember,
    ProjectMessage,
    ProjectMilestone,
    ProjectReadMark,
    ProjectRole,
    ProjectStatus,
    Role,
    User,
)
from app.models.mixins import utcnow
from app.services import audit, masking, notifications, uow

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 5000
PAGE_SIZE = 50
CATCH_UP_LIMIT = 500


class Side(enum.StrEnum):
    COMPANY = "company"
    EXPERT = "expert"
    HUB = "hub"


ROLE_SIDES: dict[ProjectRole, Side] = {
    ProjectRole.COMPANY: Side.COMPANY,
    ProjectRole.EXPERT: Side.EXPERT,
    ProjectRole.QC: Side.EXPERT,
    ProjectRole.MANAGER: Side.HUB,
}

# Which audiences each side reads.
READS: dict[Side, frozenset[Audience]] = {
    Side.COMPANY: frozenset({Audience.EVERYONE, Audience.COMPANY}),
    Side.EXPERT: frozenset({Audience.EVERYONE, Audience.EXPERT}),
    Side.HUB: frozenset(Audience),
}


def room(project_id: int, side: Side) -> str:
    """The Socket.IO room of one side of a project."""
    return f"project:{project_id}:{side.value}"


def user_room(user_id: int) -> str:
    """Every connection of one user (used to disconnect them when access ends)."""
    return f"user:{user_id}"


# Membership -------------------------------------------------------------------------------


def _active_member(actor: User, project: Project) -> tuple[sa.ColumnElement[bool], ...]:
    return (ProjectMember.project_id == project.id, ProjectMember.user_id == actor.id,
            ProjectMember.removed_at.is_(None))


def membership(actor: User | None, project: Project) -> ProjectMember | None:
    """The actor's active membership row, if any."""
    if actor is None or actor.suspended_at is not None:
        return None
    return db.session.scalar(sa.select(ProjectMember).where(*_active_member(actor, project)))


def side_of(actor: User | None, project: Project) -> Side | None:
    """The side from which ``actor`` reads ``project``; None: the project does not exist for them.

    Hub admins read every project (the hub is a party to every contract);
    company users and experts only the projects they are members of.
    """
    if actor is None or actor.suspended_at is not None:
        return None
    if actor.is_staff:
        return Side.HUB
    role = db.session.scalar(sa.select(ProjectMember.role).where(*_active_member(actor, project)))
    return ROLE_SIDES[role] if role is not None else None


def role_of(actor: User, project: Project) -> ProjectRole | None:
    """The actor's role on the project (None: not a member; hub admins are members only as its manager)."""
    member = membership(actor, project)
    return member.role if member is not None else None


def load_project(project_id: int, *, actor: User) -> tuple[Project, Side]:
    """The project and the actor's side; :class:`NotFound` for anyone not on it."""
    project = db.session.get(Project, project_id)
    side = side_of(actor, project) if project is not None else None
    if project is None or side is None:
        raise NotFound(_("This project does not exist or you are not one of its members."))
    return project, side


def member_users(project: Project, *, side: Side | None = None) -> list[User]:
    """The active members (optionally of one side), in the order they joined."""
    rows = db.session.execute(
        sa.select(ProjectMember.role, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project.id, ProjectMember.removed_at.is_(None),
               User.suspended_at.is_(None))
        .order_by(ProjectMember.id)
    ).all()
    return [user for role, user in rows if side is None or ROLE_SIDES[role] is side]


def is_writable(project: Project) -> bool:
    """Whether the workspace can still be changed (an active project)."""
    return project.status in WRITABLE


WRITABLE = frozenset({ProjectStatus.ACTIVE, ProjectStatus.ACCEPTED, ProjectStatus.DISPUTED})


def require_writable(project: Project) -> None:
    """Refuse changes to a completed or cancelled project's workspace."""
    if not is_writable(project):
        raise ValidationFailed(_("This project is closed; its workspace can be read but not changed."))


# Starting a project ------------------------------------------------------------------------


def start_workspace(project: Project, version: OfferVersion, *, client_price_minor: int) -> None:
    """Copy the accepted offer's milestones and open the channel (called when the contract is funded)."""
    from app.services.contracts import milestone_amounts

    shares = [m.share_percent for m in version.milestones]
    amounts = milestone_amounts(client_price_minor, shares) if shares else []
    for milestone, amount in zip(version.milestones, amounts, strict=True):
        db.session.add(ProjectMilestone(
            project_id=project.id, position=milestone.position, title=milestone.title,
            due_date=milestone.due_date, share_percent=milestone.share_percent, amount_minor=amount,
            status=MilestoneStatus.PLANNED,
        ))
    db.session.flush()
    post_message(project, None, _system_text("welcome"), kind=MessageKind.SYSTEM)


# System messages are stored as a key and rendered in the reader's language.
SYSTEM_PREFIX = "§"


def _system_text(key: str, **params: Any) -> str:
    import json

    return SYSTEM_PREFIX + json.dumps({"key": key, **params}, sort_keys=True, default=str)


def system_message(project: Project, key: str, *, audience: Audience = Audience.EVERYONE,
                   kind: MessageKind = MessageKind.SYSTEM, **refs: Any) -> ProjectMessage:
    """Post a platform message (``key`` is rendered in each reader's language, see :func:`render_system`)."""
    ref_fields = {k: refs.pop(k) for k in ("file_version_id", "call_id", "progress_id") if k in refs}
    return post_message(project, None, _system_text(key, **refs), audience=audience, kind=kind, **ref_fields)


def render_system(body: str) -> str:
    """The text of a platform message in the current locale."""
    import json

    try:
        data = json.loads(body[len(SYSTEM_PREFIX):])
    except ValueError:
        return body
    key = str(data.pop("key", ""))
    texts = {
        "welcome": _("The project has started. This channel is private to the project's members: the company, "
                     "the expert and Plasticonnect Hub. Contact details are hidden between the parties."),
        "file_shared": _("Shared %(name)s (version %(number)s)."),
        "call_scheduled": _("Video call scheduled: %(topic)s."),
        "progress": _("Progress on \u201c%(milestone)s\u201d: %(percent)s %%."),
        "milestone_started": _("Milestone \u201c%(milestone)s\u201d started."),
        "milestone_done": _("Milestone \u201c%(milestone)s\u201d is done."),
        "dispute_opened": _("A dispute was opened; the release of the held funds is frozen until Plasticonnect "
                            "Hub decides."),
        "dispute_decided": _("Plasticonnect Hub decided the dispute; the decision is on the Dispute tab."),
        "project_cancelled": _("The project was cancelled before the work started; the held funds are refunded "
                               "to the company."),
        "milestone_reopened": _("Milestone \u201c%(milestone)s\u201d was reopened."),
        "call_cancelled": _("Video call cancelled: %(topic)s."),
        "milestone_overdue": _("Milestone \u201c%(milestone)s\u201d is overdue (due %(due)s)."),
        "task_added": _("New task \u201c%(task)s\u201d on \u201c%(milestone)s\u201d."),
        "task_done": _("Task \u201c%(task)s\u201d is done."),
        "qc_joined": _("A quality-control expert of Plasticonnect Hub joined the project."),
        "qc_left": _("The quality-control expert left the project."),
        "delivery_submitted": _("The expert submitted delivery %(number)s; it is being checked before the company "
                                "sees it."),
        "delivery_forwarded": _("Delivery %(number)s was verified by Plasticonnect Hub and is ready for the "
                                "company's review."),
        "delivery_approved": _("The company approved delivery %(number)s as final. The held funds are being "
                               "released."),
        "revision_requested": _("The company asked for a revision of delivery %(number)s."),
    }
    text = texts.get(key)
    if text is None:
        return key
    try:
        return text % {k: str(v) for k, v in data.items()}
    except (KeyError, ValueError, TypeError):
        return text


# Messages ----------------------------------------------------------------------------------


def post_message(
    project: Project,
    actor: User | None,
    body: str,
    *,
    audience: Audience = Audience.EVERYONE,
    kind: MessageKind = MessageKind.TEXT,
    file_version_id: int | None = None,
    call_id: int | None = None,
    progress_id: int | None = None,
    side: Side | None = None,
) -> ProjectMessage:
    """Store one message in the caller's transaction and push it to the rooms after commit.

    ``actor`` None is the platform. Contact details typed by the company or
    the expert are masked for the other side; the hub is alerted. ``side`` is
    the actor's side when the caller has just had it from :func:`load_project`
    (one membership query less on the channel's hot path).

    What each side's room receives is built just before commit, from what is
    loaded (a caller may still add a masked text): the push after commit reads
    nothing from the database.
    """
    masked_text: str | None = None
    count = 0
    kinds: list[str] = []
    if actor is not None:
        if side is None:
            side = side_of(actor, project)
        if side is None:
            raise NotFound(_("This project does not exist or you are not one of its members."))
        require_writable(project)
        body = body.replace("\r\n", "\n").strip()
        if not body:
            raise ValidationFailed(_("Write a message first."))
        if len(body) > MAX_MESSAGE_CHARS:
            raise ValidationFailed(_("A message can have at most %(n)s characters; this one has %(m)s.",
                                     n=MAX_MESSAGE_CHARS, m=len(body)))
        if side is not Side.HUB and audience is not Audience.EVERYONE:
            raise PermissionDenied(_("Only the hub writes privately to one side."))
        if side is not Side.HUB and kind is MessageKind.TEXT:
            result = masking.mask_contacts(body)
            if result.changed:
                masked_text, count = result.text, len(result.findings)
                kinds = sorted({f.kind for f in result.findings})
    message = ProjectMessage(
        project_id=project.id, author_id=actor.id if actor is not None else None, audience=audience, kind=kind,
        body=body, body_masked=masked_text, masked_count=count, file_version_id=file_version_id,
        call_id=call_id, progress_id=progress_id, created_at=utcnow(),
    )
    db.session.add(message)
    db.session.flush()
    if count and actor is not None:
        audit.record("project_message.masked", actor=actor, entity="project_messages", entity_id=message.id,
                     data={"project_id": project.id, "findings": count, "kinds": kinds})
        notifications.notify_staff(
            "project.contact_masked", link=f"/projects/{project.id}#m{message.id}",
            project=project_label(project), count=count,
        )
    labels = {actor.id: sender_label(project, actor, side)} if actor is not None and side is not None else {}
    uow.before_commit(_prepare_push, project, message, labels)
    return message


def sender_label(project: Project, actor: User, side: Side) -> tuple[str, str]:
    """(label, side) of the author of a message being posted: :func:`author_labels` for one known member,
    from what is loaded (the expert's profile only when the actor is on the expert side)."""
    if side is not Side.EXPERT:
        return _label(actor, side.value, "")
    profile = actor.expert_profile
    pseudonym = profile.pseudonym if profile is not None else ""
    return _label(actor, "expert" if profile is not None and profile.id == project.expert_id else "qc", pseudonym)


def _label(user: User, kind: str, pseudonym: str) -> tuple[str, str]:
    """How an author of ``kind`` (hub, qc, expert, company) is shown: the hub by first name, experts
    by pseudonym, company users by name."""
    if kind == "hub":
        first = (user.full_name or "").split(" ")[0]
        return (_("Plasticonnect Hub · %(name)s", name=first) if first else _("Plasticonnect Hub"), "hub")
    if kind == "qc":
        return _("Quality control · Expert %(p)s", p=pseudonym), "qc"
    if kind == "expert":
        return _("Expert %(p)s", p=pseudonym), "expert"
    return user.full_name, "company"


def project_label(project: Project) -> str:
    """How a project is named in notifications: contract reference and job."""
    return f"{project.contract.reference} · {project.job}"


@dataclass(frozen=True)
class MessageView:
    """What one side reads of a message."""

    id: int
    kind: str
    audience: str
    author: str
    author_side: str  # company | expert | qc | hub | platform
    author_ref: str  # opaque per project: the page compares it with its own to mark "mine"
    mine: bool
    text: str
    masked: bool  # the reader sees a masked text
    masked_for_others: bool  # the hub: the other side saw a masked text
    created_at: str  # ISO 8601 UTC
    file_version_id: int | None
    call_id: int | None
    progress_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def author_labels(project: Project, author_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(label, side) of each author: company users by name, experts by pseudonym, the hub as the hub."""
    ids = {i for i in author_ids}
    if not ids:
        return {}
    roles = dict(db.session.execute(
        sa.select(ProjectMember.user_id, ProjectMember.role)
        .where(ProjectMember.project_id == project.id, ProjectMember.user_id.in_(ids))
    ).all())
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
    pseudonyms = dict(db.session.execute(
        sa.select(ExpertProfile.user_id, ExpertProfile.pseudonym).where(ExpertProfile.user_id.in_(ids))
    ).all())
    labels: dict[int, tuple[str, str]] = {}
    for uid in ids:
        user = users.get(uid)
        role = roles.get(uid)
        if user is None:
            labels[uid] = (_("Former member"), "platform")
            continue
        kind = ("hub" if user.is_staff or role is ProjectRole.MANAGER else "qc" if role is ProjectRole.QC
                else "expert" if user.role is Role.EXPERT else "company")
        labels[uid] = _label(user, kind, pseudonyms.get(uid, ""))
    return labels




def _views(project: Project, side: Side, reader: User | None, messages: Sequence[ProjectMessage],
           labels: dict[int, tuple[str, str]] | None = None) -> list[MessageView]:
    if labels is None:
        labels = author_labels(project, [m.author_id for m in messages if m.author_id is not None])
    out = []
    for m in messages:
        label, author_side = labels.get(m.author_id, ("", "platform")) if m.author_id else (
            _("Plasticonnect Hub"), "platform")
        own_side = {"company": Side.COMPANY, "expert": Side.EXPERT, "qc": Side.EXPERT, "hub": Side.HUB}.get(
            author_side)
        masked = m.body_masked is not None and side is not Side.HUB and own_side is not side
        if m.author_id is None:
            text = render_system(m.body)
        else:
            text = m.body_masked if masked and m.body_masked is not None else m.body
        out.append(MessageView(
            id=m.id, kind=m.kind.value, audience=m.audience.value, author=label, author_side=author_side,
            author_ref=author_ref(project.id, m.author_id),
            mine=reader is not None and m.author_id == reader.id, text=text, masked=masked,
            masked_for_others=side is Side.HUB and m.body_masked is not None,
            created_at=m.created_at.isoformat(), file_version_id=m.file_version_id, call_id=m.call_id,
            progress_id=m.progress_id,
        ))
    return out


def author_ref(project_id: int, user_id: int | None) -> str:
    """An opaque reference to an author within one project (no user id leaves the server)."""
    import hashlib
    import hmac

    from flask import current_app

    if user_id is None:
        return ""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"author:{project_id}:{user_id}".encode(), hashlib.sha256).hexdigest()[:16]


def view_for(message: ProjectMessage, side: Side, reader: User | None = None) -> MessageView:
    """One message as ``side`` reads it."""
    return _views(message.project, side, reader, [message])[0]


@dataclass(frozen=True)
class HistoryPage:
    messages: list[MessageView]  # oldest first
    has_older: bool
    last_id: int


def _visible(project_id: int, side: Side) -> sa.Select[ProjectMessage]:
    return sa.select(ProjectMessage).where(
        ProjectMessage.project_id == project_id, ProjectMessage.audience.in_(sorted(READS[side]))
    )


def history(project_id: int, *, actor: User, before_id: int | None = None, after_id: int | None = None,
            limit: int = PAGE_SIZE) -> HistoryPage:
    """A page of the channel as ``actor`` reads it: the newest ``limit`` before ``before_id``, or
    everything after ``after_id`` (catch-up after a reconnect, at most CATCH_UP_LIMIT)."""
    project, side = load_project(project_id, actor=actor)
    query = _visible(project.id, side)
    if after_id is not None:
        rows = list(db.session.scalars(
            query.where(ProjectMessage.id > after_id).order_by(ProjectMessage.id).limit(CATCH_UP_LIMIT + 1)))
        has_older = False
        if len(rows) > CATCH_UP_LIMIT:
            rows = rows[-CATCH_UP_LIMIT:]
            has_older = True
    else:
        limit = max(1, min(limit, 200))
        if before_id is not None:
            query = query.where(ProjectMessage.id < before_id)
        rows = list(db.session.scalars(query.order_by(ProjectMessage.id.desc()).limit(limit + 1)))
        has_older = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    views = _views(project, side, actor, rows)
    last = max((v.id for v in views), default=after_id or 0)
    return HistoryPage(messages=views, has_older=has_older, last_id=last)


def search(project_id: int, *, actor: User, text: str, limit: int = 50) -> list[MessageView]:
    """Messages containing ``text`` (case-insensitive) that the actor can read, newest first.

    Company and expert readers search what they read, so a masked contact detail cannot be found by
    searching for it.
    """
    project, side = load_project(project_id, actor=actor)
    text = text.strip()
    if len(text) < 2:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = list(db.session.scalars(
        _visible(project.id, side).where(ProjectMessage.author_id.is_not(None))
        .where(sa.func.lower(ProjectMessage.body).like(pattern.lower(), escape="\\"))
        .order_by(ProjectMessage.id.desc()).limit(limit * 2)
    ))
    views = [v for v in _views(project, side, actor, rows) if text.lower() in v.text.lower()]
    return views[:limit]


def mark_read(project_id: int, *, actor: User, last_id: int) -> int:
    """Record that ``actor`` has seen the channel up to ``last_id`` (never goes back). The caller commits."""
    project, side = load_project(project_id, actor=actor)
    newest = db.session.scalar(sa.select(sa.func.max(ProjectMessage.id)).where(
        ProjectMessage.project_id == project.id)) or 0
    last_id = max(0, min(last_id, newest))
    mark = db.session.scalar(sa.select(ProjectReadMark).where(
        ProjectReadMark.project_id == project.id, ProjectReadMark.user_id == actor.id))
    if mark is None:
        mark = ProjectReadMark(project_id=project.id, user_id=actor.id, last_read_id=last_id)
        db.session.add(mark)
    elif last_id > mark.last_read_id:
        mark.last_read_id = last_id
    db.session.flush()
    return mark.last_read_id


# Project lists -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectCard:
    project: Project
    side: Side
    unread: int
    last_message_at: datetime | None
    next_due: date | None
    overdue: int
    progress: int  # percent over the milestones, weighted by their share


def _side_filter(side: Side) -> sa.ColumnElement[bool]:
    return ProjectMessage.audience.in_(sorted(READS[side]))


def projects_for(actor: User, *, status: ProjectStatus | None = None, page: int = 1,
                 per_page: int = 20) -> tuple[list[ProjectCard], int]:
    """The actor's projects with unread counts and progress, newest first, in a constant number of queries."""
    query = sa.select(Project, ProjectMember.role).outerjoin(
        ProjectMember,
        sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == actor.id,
                ProjectMember.removed_at.is_(None)),
    )
    if not actor.is_staff:
        query = query.where(ProjectMember.id.is_not(None))
    if status is not None:
        query = query.where(Project.status == status)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.execute(
        query.order_by(Project.id.desc()).offset((max(page, 1) - 1) * per_page).limit(per_page)
    ).all()
    if not rows:
        return [], total
    sides = {p.id: (Side.HUB if actor.is_staff else ROLE_SIDES[role]) for p, role in rows}
    ids = list(sides)
    unread: dict[int, int] = {}
    last_at: dict[int, datetime] = {}
    for side in set(sides.values()):
        side_ids = [pid for pid, s in sides.items() if s is side]
        mark = sa.func.coalesce(
            sa.select(ProjectReadMark.last_read_id)
            .where(ProjectReadMark.user_id == actor.id, ProjectReadMark.project_id == ProjectMessage.project_id)
            .scalar_subquery(), 0)
        for pid, count, newest in db.session.execute(
            sa.select(ProjectMessage.project_id,
                      sa.func.count().filter(sa.and_(ProjectMessage.id > mark,
                                                     sa.or_(ProjectMessage.author_id.is_(None),
                                                            ProjectMessage.author_id != actor.id))),
                      sa.func.max(ProjectMessage.created_at))
            .where(ProjectMessage.project_id.in_(side_ids), _side_filter(side))
            .group_by(ProjectMessage.project_id)
        ):
            unread[pid] = int(count or 0)
            if newest is not None:
                last_at[pid] = newest
    today = utcnow().date()
    milestones: dict[int, list[ProjectMilestone]] = {}
    for m in db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id.in_(ids))
                                .order_by(ProjectMilestone.position)):
        milestones.setdefault(m.project_id, []).append(m)
    cards = []
    for project, _role in rows:
        ms = milestones.get(project.id, [])
        open_ms = [m for m in ms if m.status is not MilestoneStatus.DONE]
        cards.append(ProjectCard(
            project=project, side=sides[project.id], unread=unread.get(project.id, 0),
            last_message_at=last_at.get(project.id),
            next_due=min((m.due_date for m in open_ms), default=None),
            overdue=sum(1 for m in open_ms if m.due_date < today),
            progress=progress_percent(ms),
        ))
    return cards, total


def progress_percent(milestones: Sequence[ProjectMilestone]) -> int:
    """Overall progress: each milestone's progress weighted by its share of the price."""
    total = sum(m.share_percent for m in milestones)
    if not total:
        return 0
    done = sum(m.share_percent * (100 if m.status is MilestoneStatus.DONE else m.progress_percent)
               for m in milestones)
    return round(done / total)


def unread_total(actor: User) -> int:
    """Unread channel messages over the actor's active projects (the navigation badge)."""
    cards, _total = projects_for(actor, status=ProjectStatus.ACTIVE, per_page=100)
    return sum(c.unread for c in cards)


# Pushing to the rooms ----------------------------------------------------------------------


def _room_payloads(project: Project, message: ProjectMessage,
                   labels: dict[int, tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """(room, event data) for every side that reads ``message``, each with its own text."""
    out = []
    for side in Side:
        if message.audience in READS[side]:
            view = _views(project, side, None, [message], labels)[0]
            out.append((room(project.id, side), {"project_id": project.id, **view.as_dict(), "mine": False}))
    return out


def _prepare_push(project: Project, message: ProjectMessage, labels: dict[int, tuple[str, str]]) -> None:
    """Before commit: build each room's payload from the message as the unit of work left it."""
    uow.after_commit(_push_quietly, message.id, _room_payloads(project, message, labels))


def _push_quietly(message_id: int, payloads: list[tuple[str, dict[str, Any]]]) -> None:
    """After commit: emit the message to each side's room (a failure never fails the request)."""
    from app.extensions import emit_each

    try:
        emit_each("message", payloads)
    except Exception:
        logger.warning("Could not push project message %s; clients catch up on reconnect", message_id,
                       exc_info=True)


def push_event(project_id: int, event: str, data: dict[str, Any], *, sides: Iterable[Side] = tuple(Side)) -> None:
    """Emit a workspace event (file preview ready, milestone changed...) to the given sides after commit."""
    def emit() -> None:
        from app.extensions import emit_each

        try:
            emit_each(event, [(room(project_id, side), {"project_id": project_id, **data}) for side in sides])
        except Exception:
            logger.warning("Could not push %s to project %s", event, project_id, exc_info=True)

    uow.after_commit(emit)
