"""Video calls of a project (WORKFLOW.md §7–8, INTEGRATIONS.md §5).

Any member schedules a call (the company's users too: they are the ones who
most often want to talk, and the hub joins every call anyway); its creator or
the hub cancels it. The meeting is created at the provider first (Zoom on the
hub's own account, or a room link), and only then stored: a provider that
refuses or rate-limits leaves nothing behind. The meeting's topic at the
provider is "<job title> · Plasticonnect Hub" and its agenda names the expert
by pseudonym only. The host link of a Zoom meeting embeds the host's token: it
is fetched fresh for the hub each time (:func:`host_link`), never stored.
Nothing here commits: the caller calls ``uow.commit()``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations.video import Meeting, VideoError, VideoProvider, get_video_provider
from app.models import MessageKind, Project, User, VideoCall, VideoProviderName
from app.models.mixins import utcnow
from app.services import audit, masking, notifications, projects
from app.services.projects import Side

logger = logging.getLogger(__name__)

MAX_TOPIC = 200
MAX_AGENDA = 1500  # the provider keeps 2000; the hub's lines about the project come first
MIN_DURATION = 5
MAX_DURATION = 300
DEFAULT_DURATION = 45
PAST_GRACE = timedelta(minutes=10)  # "start a call now" and slow forms are not "in the past"
MAX_AHEAD = timedelta(days=366)
PAST_PER_PAGE = 20
MEETING_SUFFIX = " · Plasticonnect Hub"


def meeting_topic(project: Project) -> str:
    """The topic of the meeting at the provider: the job's title and the hub, nothing about the people."""
    return str(project.job)[: MAX_TOPIC - len(MEETING_SUFFIX)].strip() + MEETING_SUFFIX


def _meeting(call: VideoCall) -> Meeting:
    return Meeting(provider=call.provider.value, external_id=call.external_id, join_url=call.join_url,
                   passcode=call.passcode)


def ends_at(call: VideoCall) -> datetime:
    """When the call is planned to end."""
    return call.starts_at + timedelta(minutes=call.duration_minutes)


def _timezone(actor: User) -> str:
    name = actor.timezone or "UTC"
    try:
        ZoneInfo(name)
    except (KeyError, ValueError):
        return "UTC"
    return name


def _cancel_quietly(provider: VideoProvider, meeting: Meeting) -> None:
    try:
        provider.cancel_meeting(meeting)
    except Exception:
        logger.warning("Could not cancel an orphaned %s meeting %s", meeting.provider, meeting.external_id,
                       exc_info=True)


def _call_link(project: Project) -> str:
    return f"/projects/{project.id}/calls"


def schedule_call(project_id: int, *, actor: User, topic: str, starts_at: datetime, duration_minutes: int,
                  agenda: str = "") -> VideoCall:
    """Create a meeting at the video provider, store it, post it to the channel and tell the other members.

    Any member of an active project. ``starts_at`` is timezone-aware (stored in
    UTC); a start up to ten minutes ago is "now". Contact details in the agenda
    of a company user or the expert are masked before it reaches the provider
    (the hub is alerted); a topic with contact details is refused.

    :raises NotFound: no such project for the actor.
    :raises ValidationFailed: the project is closed, the topic, start, duration or agenda is refused, or the
        provider refused or is busy (its message, safe to show); nothing is stored then.
    """
    project, side = projects.load_project(project_id, actor=actor)
    projects.require_writable(project)
    topic = " ".join((topic or "").split())
    if not topic:
        raise ValidationFailed(_("Give the call a topic."))
    if len(topic) > MAX_TOPIC:
        raise ValidationFailed(_("A topic can have at most %(n)s characters; this one has %(m)s.",
                                 n=MAX_TOPIC, m=len(topic)))
    if side is not Side.HUB and masking.mask_contacts(topic).changed:
        raise ValidationFailed(_("A call's topic cannot contain contact details (e-mail addresses, phone numbers, "
                                 "links)."))
    agenda = (agenda or "").replace("\r\n", "\n").strip()
    if len(agenda) > MAX_AGENDA:
        raise ValidationFailed(_("An agenda can have at most %(n)s characters; this one has %(m)s.",
                                 n=MAX_AGENDA, m=len(agenda)))
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise ValidationFailed(_("The call needs a start time with a time zone."))
    starts_at = starts_at.astimezone(UTC).replace(microsecond=0)
    now = utcnow()
    if starts_at < now - PAST_GRACE:
        raise ValidationFailed(_("This time is in the past; choose a time from now on."))
    if starts_at > now + MAX_AHEAD:
        raise ValidationFailed(_("Schedule calls at most a year ahead."))
    if isinstance(duration_minutes, bool) or not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        raise ValidationFailed(_("A call lasts between %(min)s and %(max)s minutes.", min=MIN_DURATION,
                                 max=MAX_DURATION))
    masked = 0
    if side is not Side.HUB and agenda:
        result = masking.mask_contacts(agenda)
        if result.changed:
            agenda, masked = result.text, len(result.findings)
    pseudonym = project.contract.expert.pseudonym
    provider_agenda = "\n".join([topic, f"{project.contract.reference} · Expert {pseudonym}", "", agenda]).strip()
    provider = get_video_provider()
    try:
        meeting = provider.create_meeting(topic=meeting_topic(project), start=starts_at,
                                          duration_minutes=duration_minutes, timezone=_timezone(actor),
                                          agenda=provider_agenda)
    except VideoError as exc:
        raise ValidationFailed(str(exc)) from exc
    try:
        call = VideoCall(project_id=project.id, provider=VideoProviderName(meeting.provider),
                         external_id=meeting.external_id, topic=topic, starts_at=starts_at,
                         duration_minutes=duration_minutes, join_url=meeting.join_url, passcode=meeting.passcode,
                         created_by_id=actor.id, created_at=now)
        db.session.add(call)
        db.session.flush()
        audit.record("video_call.scheduled", actor=actor, entity="video_calls", entity_id=call.id,
                     data={"project_id": project.id, "provider": meeting.provider, "external_id": meeting.external_id,
                           "starts_at": starts_at, "duration_minutes": duration_minutes, "masked": masked})
        projects.system_message(project, "call_scheduled", kind=MessageKind.CALL, call_id=call.id, topic=topic)
        label = projects.project_label(project)
        when = starts_at.strftime("%Y-%m-%dT%H:%M")
        for user in projects.member_users(project):
            if user.id != actor.id:
                notifications.notify(user, "project.call_scheduled", link=_call_link(project), project=label,
                                     topic=topic, when=when)
        if masked:
            notifications.notify_staff("project.contact_masked", link=_call_link(project), project=label,
                                       count=masked)
        projects.push_event(project.id, "calls.updated", {"call_id": call.id})
    except Exception:
        _cancel_quietly(provider, meeting)  # no meeting without its row
        raise
    return call


def load_call(call_id: int, *, actor: User, lock: bool = False) -> tuple[VideoCall, Project, Side]:
    """A call, its project and the actor's side.

    :raises NotFound: no such call, or the actor is not on its project.
    """
    call = db.session.get(VideoCall, call_id, with_for_update=lock)
    if call is None:
        raise NotFound(_("This call does not exist or you are not a member of its project."))
    project, side = projects.load_project(call.project_id, actor=actor)
    return call, project, side


def can_cancel(actor: User, call: VideoCall, side: Side) -> bool:
    """The member who scheduled the call, or the hub."""
    return side is Side.HUB or call.created_by_id == actor.id


def host_link(call_id: int, *, actor: User) -> str:
    """The link the hub's host opens to start the call: for Zoom a fresh ``start_url`` (never stored). Audited.

    :raises NotFound: no such call for the actor.
    :raises PermissionDenied: the actor is not the hub.
    :raises ValidationFailed: the call was cancelled, or the provider failed.
    """
    call, project, side = load_call(call_id, actor=actor)
    if side is not Side.HUB:
        raise PermissionDenied(_("Only the hub starts a call as its host."))
    if call.cancelled_at is not None:
        raise ValidationFailed(_("This call was cancelled."))
    try:
        url = get_video_provider().host_url(_meeting(call))
    except VideoError as exc:
        raise ValidationFailed(str(exc)) from exc
    audit.record("video_call.host_link", actor=actor, entity="video_calls", entity_id=call.id,
                 data={"project_id": project.id, "provider": call.provider.value})
    return url


def cancel_call(call_id: int, *, actor: User) -> VideoCall:
    """Cancel a call that is not over, at the provider and here; announced in the channel.

    Its creator or the hub.

    :raises NotFound: no such call for the actor.
    :raises PermissionDenied: the actor neither created the call nor is the hub.
    :raises ValidationFailed: the project is closed, the call is cancelled or over, or the provider failed.
    """
    call, project, side = load_call(call_id, actor=actor, lock=True)
    if not can_cancel(actor, call, side):
        raise PermissionDenied(_("Only the member who scheduled a call, or the hub, cancels it."))
    projects.require_writable(project)
    if call.cancelled_at is not None:
        raise ValidationFailed(_("This call is already cancelled."))
    if ends_at(call) <= utcnow():
        raise ValidationFailed(_("This call is over; there is nothing to cancel."))
    try:
        get_video_provider().cancel_meeting(_meeting(call))
    except VideoError as exc:
        raise ValidationFailed(str(exc)) from exc
    call.cancelled_at = utcnow()
    audit.record("video_call.cancelled", actor=actor, entity="video_calls", entity_id=call.id,
                 data={"project_id": project.id, "provider": call.provider.value})
    projects.system_message(project, "call_cancelled", kind=MessageKind.CALL, call_id=call.id, topic=call.topic)
    projects.push_event(project.id, "calls.updated", {"call_id": call.id})
    return call


# The calls page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    call: VideoCall
    ends_at: datetime
    live: bool  # it started and is not over
    created_by: str  # as the reader may know them (experts by pseudonym, the hub as the hub)
    mine: bool
    can_cancel: bool
    can_host: bool  # the hub, on a Zoom call: "start as host"


@dataclass(frozen=True)
class CallsPage:
    project: Project
    side: Side
    upcoming: list[CallRow]  # soonest first, the live ones included
    past: list[CallRow]  # over or cancelled, newest first, one page
    page: int
    has_more_past: bool
    can_schedule: bool
    now: datetime


def calls_page(project_id: int, *, actor: User, page: int = 1) -> CallsPage:
    """The calls tab: upcoming calls with their join links, then past and cancelled calls (paginated).

    :raises NotFound: no such project for the actor.
    """
    project, side = projects.load_project(project_id, actor=actor)
    now = utcnow()
    page = max(page, 1)
    writable = projects.is_writable(project)
    recent = db.session.scalars(sa.select(VideoCall).where(
        VideoCall.project_id == project.id, VideoCall.cancelled_at.is_(None),
        VideoCall.starts_at > now - timedelta(minutes=MAX_DURATION)))
    upcoming = sorted((c for c in recent if ends_at(c) > now), key=lambda c: (c.starts_at, c.id))
    upcoming_ids = [c.id for c in upcoming]
    past = list(db.session.scalars(
        sa.select(VideoCall).where(VideoCall.project_id == project.id, VideoCall.id.not_in(upcoming_ids))
        .order_by(VideoCall.starts_at.desc(), VideoCall.id.desc())
        .offset((page - 1) * PAST_PER_PAGE).limit(PAST_PER_PAGE + 1)))
    has_more = len(past) > PAST_PER_PAGE
    past = past[:PAST_PER_PAGE]
    labels = projects.author_labels(project, {c.created_by_id for c in [*upcoming, *past]})

    def row(call: VideoCall, *, open_call: bool) -> CallRow:
        return CallRow(
            call=call, ends_at=ends_at(call), live=open_call and call.starts_at <= now,
            created_by=labels.get(call.created_by_id, ("", ""))[0], mine=call.created_by_id == actor.id,
            can_cancel=open_call and writable and can_cancel(actor, call, side),
            can_host=open_call and side is Side.HUB and call.provider is VideoProviderName.ZOOM,
        )

    return CallsPage(
        project=project, side=side, upcoming=[row(c, open_call=True) for c in upcoming],
        past=[row(c, open_call=False) for c in past], page=page, has_more_past=has_more, can_schedule=writable,
        now=now,
    )
