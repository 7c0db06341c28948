"""Quality control of a delivery and the hub's check before the company sees it (WORKFLOW.md §9).

    delivery: qc_review -qc_review(approve)-> hub_review -verify_and_forward-> forwarded
              qc_review -qc_review(request_changes)-> changes_requested
              hub_review -return_to_expert-> changes_requested

When the company asked for quality control, the project's active QC expert
scores the delivery on a rubric (completeness, correctness, clarity, 1–5 each),
writes comments and gives a verdict (:func:`qc_review`). The expert reads the
comments as "Quality control", never who wrote them
(:func:`app.services.deliveries.deliveries_for`).
Then the hub checks the delivery (:func:`checking_page` shows every version of
the project side by side) and either forwards it to the company
(:func:`verify_and_forward`) or returns it to the expert with a comment
(:func:`return_to_expert`). The company learns nothing of a delivery before it
is forwarded: no notification, no channel message.

The functions never commit: views call ``uow.commit()`` after them
(``uow.rollback()`` on a :class:`DomainError`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import joinedload, selectinload

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    OPEN_DELIVERY_STATES,
    AuditEvent,
    Contract,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    ExpertProfile,
    Project,
    ProjectMember,
    ProjectRole,
    QcAssignment,
    QcReview,
    QcStatus,
    QcVerdict,
    Role,
    User,
)
from app.models.mixins import utcnow
from app.services import deliveries, notifications, projects, uploads
from app.services.projects import Side
from app.services.transitions import transition
from app.workflows.delivery import DELIVERY_WORKFLOW

MAX_COMMENT_CHARS = 5000
NOTIFICATION_TEXT_MAX = 500
SCORE_MIN, SCORE_MAX = 1, 5
QUEUE_PER_PAGE = 20
ADMIN_DELIVERY_PATH = "/admin/deliveries/{id}"
# The queue's filters besides one status: the deliveries still open (the default) and every delivery.
QUEUE_OPEN = "open"
QUEUE_ALL = "all"


def _not_found() -> NotFound:
    return NotFound(_("This delivery does not exist or you are not one of its project's members."))


def _clean_comment(comment: str, *, required: bool, missing: str) -> str:
    text = (comment or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise ValidationFailed(missing)
    if len(text) > MAX_COMMENT_CHARS:
        raise ValidationFailed(_("A comment can have at most %(n)d characters; this one has %(m)d.",
                                 n=MAX_COMMENT_CHARS, m=len(text)))
    return text


def _short(text: str) -> str:
    """A comment as a notification quotes it."""
    return text if len(text) <= NOTIFICATION_TEXT_MAX else text[: NOTIFICATION_TEXT_MAX - 1] + "…"


def _project_expert(project: Project) -> User | None:
    """The project's own expert (never the QC expert), unless suspended."""
    expert = db.session.get(ExpertProfile, project.expert_id)
    user = expert.user if expert is not None else None
    return user if user is not None and user.suspended_at is None else None


def _link(project: Project, delivery: Delivery) -> str:
    """The delivery on the project's delivery tab (what the expert and the company open)."""
    return deliveries.DELIVERY_PATH.format(id=project.id) + f"#delivery-{delivery.id}"


def _locked(delivery: Delivery) -> tuple[Delivery, Project]:
    """Lock the project, then the delivery (the order app/services/deliveries.py locks them in), re-read.

    A ``SELECT … FOR UPDATE`` re-reads rows this session loaded before the lock; ``Session.get`` with
    ``with_for_update`` would instead raise StaleDataError when another transaction changed them meanwhile.
    """
    project = db.session.scalars(sa.select(Project).where(Project.id == delivery.project_id).with_for_update()
                                 .execution_options(populate_existing=True)).one_or_none()
    again = db.session.scalars(sa.select(Delivery).where(Delivery.id == delivery.id).with_for_update()
                               .execution_options(populate_existing=True)).one_or_none()
    if project is None or again is None:
        raise _not_found()
    return again, project


def _changed(project: Project, delivery: Delivery) -> None:
    """Tell the open workspace pages of the sides that read this delivery (after commit)."""
    sides = [Side.EXPERT, Side.HUB] + ([Side.COMPANY] if delivery.status in deliveries.COMPANY_VISIBLE else [])
    projects.push_event(project.id, "delivery.changed",
                        {"delivery_id": delivery.id, "number": delivery.number, "status": delivery.status.value},
                        sides=sides)


# Who may review --------------------------------------------------------------------------------


def active_qc_assignment(project: Project) -> QcAssignment | None:
    """The project's active QC assignment (NDA signed, not removed), if any."""
    return db.session.scalar(
        sa.select(QcAssignment).options(joinedload(QcAssignment.expert))
        .where(QcAssignment.project_id == project.id, QcAssignment.status == QcStatus.ACTIVE)
        .order_by(QcAssignment.id.desc()).limit(1)
    )


def is_qc_reviewer(actor: User | None, project: Project) -> bool:
    """Whether ``actor`` is the project's active quality-control expert (a QC member with a signed NDA)."""
    if actor is None or actor.role is not Role.EXPERT or projects.role_of(actor, project) is not ProjectRole.QC:
        return False
    assignment = active_qc_assignment(project)
    return assignment is not None and policies.owns_expert_profile(actor, assignment.expert)


def _reviewable(delivery_id: int, actor: User, *, lock: bool = False) -> tuple[Delivery, Project, Side]:
    """A delivery the actor may open for quality control: its QC expert, or hub staff. Else NotFound."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise _not_found()
    project = delivery.project
    side = projects.side_of(actor, project)
    if not (side is Side.HUB and policies.is_staff(actor)) and not (
            side is Side.EXPERT and is_qc_reviewer(actor, project)):
        raise _not_found()
    if lock:
        delivery, project = _locked(delivery)
    assert side is not None  # checked above
    return delivery, project, side


def _for_hub(delivery_id: int, actor: User, *, lock: bool = False) -> Delivery:
    """A delivery the hub acts on; NotFound for whoever may not know it, PermissionDenied for other members."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise _not_found()
    side = projects.side_of(actor, delivery.project)
    if side is None or (side is Side.COMPANY and delivery.status not in deliveries.COMPANY_VISIBLE):
        raise _not_found()
    if side is not Side.HUB or not policies.is_staff(actor):
        raise PermissionDenied(_("Only Plasticonnect Hub verifies a delivery and forwards or returns it."))
    if lock:
        delivery, _project = _locked(delivery)
    return delivery


# The QC expert's review ------------------------------------------------------------------------


def _score(value: int, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not SCORE_MIN <= value <= SCORE_MAX:
        raise ValidationFailed(_("Score %(what)s from %(min)d to %(max)d.", what=label, min=SCORE_MIN, max=SCORE_MAX))
    return value


def qc_review(delivery_id: int, *, actor: User, completeness: int, correctness: int, clarity: int, comments: str,
              verdict: QcVerdict) -> QcReview:
    """The QC expert's review of a delivery: three scores, comments and a verdict.

    QC_REVIEW -> HUB_REVIEW (approve) or CHANGES_REQUESTED (request changes),
    audited ``delivery.<status>`` with the review, its scores and verdict. Who:
    the project's active QC expert, on an open project. Scores are whole numbers
    from 1 to 5; comments are required (at most 5000 characters). Effects: the
    review is stored; on "request changes" the expert is notified
    (``delivery.changes_requested``, the comments quoted as the hub's request:
    never who wrote them); hub staff are notified either way. The company is
    told nothing.

    :raises NotFound: no such delivery, or ``actor`` is neither its QC expert nor hub staff.
    :raises PermissionDenied: ``actor`` is hub staff (only the QC expert reviews).
    :raises ValidationFailed: the project is closed; a score, the comments or the verdict are invalid.
    :raises InvalidTransition: the delivery is not waiting for quality control.
    """
    delivery, project, side = _reviewable(delivery_id, actor, lock=True)
    if side is Side.HUB:
        raise PermissionDenied(_("Only the quality-control expert reviews a delivery; the hub checks it afterwards."))
    projects.require_writable(project)
    if delivery.status is not DeliveryStatus.QC_REVIEW:
        raise InvalidTransition(DELIVERY_WORKFLOW.name, delivery.status, DeliveryStatus.HUB_REVIEW,
                                _("This delivery is not waiting for a quality-control review (any more)."))
    scores = {
        "completeness": _score(completeness, _("completeness")),
        "correctness": _score(correctness, _("correctness")),
        "clarity": _score(clarity, _("clarity")),
    }
    text = _clean_comment(comments, required=True,
                          missing=_("Write your comments: the expert reads them with your verdict."))
    try:
        verdict = QcVerdict(verdict)
    except ValueError:
        raise ValidationFailed(_("Choose a verdict: approve, or request changes.")) from None
    review = QcReview(delivery_id=delivery.id, reviewer_id=actor.id, comments=text, verdict=verdict,
                      created_at=utcnow(), **scores)
    db.session.add(review)
    db.session.flush()
    target = DeliveryStatus.HUB_REVIEW if verdict is QcVerdict.APPROVE else DeliveryStatus.CHANGES_REQUESTED
    transition(delivery, DELIVERY_WORKFLOW, target, actor=actor, project_id=project.id, review_id=review.id,
               verdict=verdict.value, **scores)
    label = projects.project_label(project)
    admin_link = ADMIN_DELIVERY_PATH.format(id=delivery.id)
    if verdict is QcVerdict.APPROVE:
        _notify_staff_localized("delivery.submitted", link=admin_link, number=delivery.number, project=label,
                                next_phrase=lambda: _("the hub's check (quality control approved it)"))
    else:
        expert = _project_expert(project)
        if expert is not None:
            notifications.notify(expert, "delivery.changes_requested", link=_link(project, delivery),
                                 number=delivery.number, project=label, comment=_short(text))
        notifications.notify_staff("delivery.changes_requested", link=admin_link, number=delivery.number,
                                   project=label, comment=_short(text))
    _changed(project, delivery)
    return review


def _notify_staff_localized(kind: str, *, link: str, number: int, project: str,
                            next_phrase: Callable[[], str]) -> None:
    """Notify every active hub admin, the ``next`` parameter written in each admin's own language."""
    admins = db.session.scalars(sa.select(User).where(User.role == Role.ADMIN, User.suspended_at.is_(None))).all()
    for admin in admins:
        with force_locale(admin.locale or "en"):
            phrase = next_phrase()
        notifications.notify(admin, kind, link=link, number=number, project=project, next=phrase)


# The hub's check ---------------------------------------------------------------------------------


def verify_and_forward(delivery_id: int, *, actor: User, comment: str = "") -> Delivery:
    """The hub verified the delivery: forward it to the company.

    HUB_REVIEW -> FORWARDED, audited ``delivery.forwarded`` with the comment.
    Who: hub staff, on an open project. The optional comment (at most 5000
    characters) is for the company. Effects: ``verified_by``, ``forwarded_at``
    and ``hub_comment`` are set; the channel announces the delivery to everyone;
    the company's users are notified (``delivery.forwarded``).

    :raises NotFound: no such delivery, or ``actor`` may not know it.
    :raises PermissionDenied: ``actor`` is a member but not hub staff.
    :raises ValidationFailed: the project is closed, or the comment is too long.
    :raises InvalidTransition: the delivery is not waiting for the hub's check.
    """
    delivery = _for_hub(delivery_id, actor, lock=True)
    project = delivery.project
    projects.require_writable(project)
    if delivery.status is not DeliveryStatus.HUB_REVIEW:
        raise InvalidTransition(DELIVERY_WORKFLOW.name, delivery.status, DeliveryStatus.FORWARDED,
                                _("Only a delivery waiting for the hub's check can be forwarded to the company."))
    text = _clean_comment(comment, required=False, missing="")
    transition(delivery, DELIVERY_WORKFLOW, DeliveryStatus.FORWARDED, actor=actor, project_id=project.id,
               comment=text)
    delivery.verified_by_id = actor.id
    delivery.forwarded_at = utcnow()
    delivery.hub_comment = text
    db.session.flush()
    projects.system_message(project, "delivery_forwarded", number=delivery.number)
    label, link = projects.project_label(project), _link(project, delivery)
    for user in projects.member_users(project, side=Side.COMPANY):
        notifications.notify(user, "delivery.forwarded", link=link, number=delivery.number, project=label)
    _changed(project, delivery)
    return delivery


def return_to_expert(delivery_id: int, *, actor: User, comment: str) -> Delivery:
    """The hub returns the delivery to the expert before the company sees it, saying what to change.

    HUB_REVIEW -> CHANGES_REQUESTED, audited ``delivery.changes_requested``
    with the comment. Who: hub staff, on an open project. The comment is
    required (at most 5000 characters) and kept as ``hub_comment``. Effects:
    the expert is notified (``delivery.changes_requested``) and submits a new
    delivery; the company is told nothing.

    :raises NotFound: no such delivery, or ``actor`` may not know it.
    :raises PermissionDenied: ``actor`` is a member but not hub staff.
    :raises ValidationFailed: the project is closed; no comment, or too long.
    :raises InvalidTransition: the delivery is not waiting for the hub's check.
    """
    delivery = _for_hub(delivery_id, actor, lock=True)
    project = delivery.project
    projects.require_writable(project)
    if delivery.status is not DeliveryStatus.HUB_REVIEW:
        raise InvalidTransition(DELIVERY_WORKFLOW.name, delivery.status, DeliveryStatus.CHANGES_REQUESTED,
                                _("Only a delivery waiting for the hub's check can be returned to the expert."))
    text = _clean_comment(comment, required=True,
                          missing=_("Say what the expert should change: they read your comment."))
    transition(delivery, DELIVERY_WORKFLOW, DeliveryStatus.CHANGES_REQUESTED, actor=actor, project_id=project.id,
               comment=text)
    delivery.hub_comment = text
    db.session.flush()
    expert = _project_expert(project)
    if expert is not None:
        notifications.notify(expert, "delivery.changes_requested", link=_link(project, delivery),
                             number=delivery.number, project=projects.project_label(project), comment=_short(text))
    _changed(project, delivery)
    return delivery


# The QC expert's page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileLine:
    """A delivered file: name, size, fingerprint."""

    id: int
    name: str
    file_type: str
    content_type: str
    size_bytes: int
    size: str
    sha256: str


@dataclass(frozen=True)
class ReviewLine:
    """A QC review as the hub or the QC expert reads it (the hub sees who wrote it)."""

    review: QcReview
    pseudonym: str
    reviewer_name: str


@dataclass(frozen=True)
class QcReviewPage:
    """What the QC review page shows: the delivery, its files, checklist and notes, the reviews, the form."""

    delivery: Delivery
    project: Project
    side: Side
    files: list[FileLine]
    reviews: list[ReviewLine]
    earlier: list[Delivery]  # the project's other deliveries, newest first
    can_review: bool
    refusal: str  # why the form is not shown ("" when it is)


def _files(delivery: Delivery) -> list[FileLine]:
    return [FileLine(id=f.id, name=f.original_name, file_type=f.file_type, content_type=f.content_type,
                     size_bytes=f.size_bytes, size=uploads.human_size(f.size_bytes), sha256=f.sha256)
            for f in delivery.files]


def _review_lines(reviews: Sequence[QcReview]) -> list[ReviewLine]:
    ids = {r.reviewer_id for r in reviews}
    if not ids:
        return []
    people = {u.id: (u, p) for u, p in db.session.execute(
        sa.select(User, ExpertProfile.pseudonym).outerjoin(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.id.in_(ids)))}
    lines = []
    for r in reviews:
        user, pseudonym = people.get(r.reviewer_id, (None, None))
        lines.append(ReviewLine(review=r, pseudonym=pseudonym or "", reviewer_name=user.full_name if user else ""))
    return lines


def qc_review_page(delivery_id: int, *, actor: User) -> QcReviewPage:
    """The QC review page of a delivery, for its QC expert (with the form while it waits) or hub staff (read only).

    :raises NotFound: no such delivery, or ``actor`` is neither the project's active QC expert nor hub staff.
    """
    delivery, project, side = _reviewable(delivery_id, actor)
    earlier = list(db.session.scalars(
        sa.select(Delivery).where(Delivery.project_id == project.id, Delivery.id != delivery.id)
        .order_by(Delivery.number.desc())))
    if side is Side.HUB:
        refusal = _("Only the quality-control expert reviews a delivery; the hub checks it afterwards.")
    elif not projects.is_writable(project):
        refusal = _("This project is closed; its workspace can be read but not changed.")
    elif delivery.status is not DeliveryStatus.QC_REVIEW:
        refusal = _("This delivery is not waiting for a quality-control review (any more).")
    else:
        refusal = ""
    return QcReviewPage(delivery=delivery, project=project, side=side, files=_files(delivery),
                        reviews=_review_lines(delivery.qc_reviews), earlier=earlier, can_review=not refusal,
                        refusal=refusal)


# The back office: the checking queue and one delivery's page ---------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """One delivery in the checking queue."""

    delivery: Delivery
    project: Project
    waiting_since: datetime  # when it entered its current status
    file_count: int
    qc_verdict: str  # the latest QC verdict, "" without one


def _entered(deliveries: Sequence[Delivery]) -> dict[int, datetime]:
    """When each delivery entered its current status (its latest transition; else its submission)."""
    ids = [d.id for d in deliveries]
    if not ids:
        return {}
    latest: dict[tuple[int, str], datetime] = {}
    for entity_id, to_state, at in db.session.execute(
        sa.select(AuditEvent.entity_id, AuditEvent.to_state, sa.func.max(AuditEvent.created_at))
        .where(AuditEvent.entity == Delivery.__tablename__, AuditEvent.entity_id.in_(ids),
               AuditEvent.to_state.is_not(None))
        .group_by(AuditEvent.entity_id, AuditEvent.to_state)
    ):
        if entity_id is not None and to_state is not None:
            latest[(entity_id, to_state)] = at
    return {d.id: latest.get((d.id, d.status.value), d.submitted_at) for d in deliveries}


def queue_filters() -> list[str]:
    """The queue's filter values, in the order the page offers them."""
    return [QUEUE_OPEN, *(s.value for s in DeliveryStatus), QUEUE_ALL]


def checking_queue(status: str | DeliveryStatus | None = None, page: int = 1, *,
                   per_page: int = QUEUE_PER_PAGE) -> tuple[Pagination, list[QueueRow]]:
    """The deliveries for the hub to check: those waiting for the hub first, then the oldest first.

    ``status`` None or ``"open"``: every delivery still open (submitted, in QC,
    waiting for the hub, forwarded to the company); ``"all"``: every delivery;
    else one status. An unknown value counts as ``"open"``. Read only.
    """
    query = (
        sa.select(Delivery)
        .options(joinedload(Delivery.project).joinedload(Project.contract).joinedload(Contract.company),
                 joinedload(Delivery.project).joinedload(Project.contract).joinedload(Contract.expert),
                 joinedload(Delivery.project).joinedload(Project.job))
        .order_by(sa.case((Delivery.status == DeliveryStatus.HUB_REVIEW, 0), else_=1), Delivery.submitted_at,
                  Delivery.id)
    )
    raw = status.value if isinstance(status, DeliveryStatus) else (status or QUEUE_OPEN)
    if raw in {s.value for s in DeliveryStatus}:
        query = query.where(Delivery.status == DeliveryStatus(raw))
    elif raw != QUEUE_ALL:
        query = query.where(Delivery.status.in_(sorted(OPEN_DELIVERY_STATES)))
    pagination = db.paginate(query, page=max(page, 1), per_page=per_page, error_out=False)
    items: list[Delivery] = list(pagination.items)
    ids = [d.id for d in items]
    counts: dict[int, int] = {did: int(n) for did, n in db.session.execute(
        sa.select(DeliveryFile.delivery_id, sa.func.count()).where(DeliveryFile.delivery_id.in_(ids))
        .group_by(DeliveryFile.delivery_id))} if ids else {}
    verdicts: dict[int, str] = {}
    if ids:
        for review in db.session.scalars(sa.select(QcReview).where(QcReview.delivery_id.in_(ids))
                                         .order_by(QcReview.id)):
            verdicts[review.delivery_id] = review.verdict.value
    entered = _entered(items)
    rows = [QueueRow(delivery=d, project=d.project, waiting_since=entered[d.id], file_count=counts.get(d.id, 0),
                     qc_verdict=verdicts.get(d.id, "")) for d in items]
    return pagination, rows


def waiting_count() -> int:
    """How many deliveries wait for the hub's check (the dashboard's figure)."""
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                                 .where(Delivery.status == DeliveryStatus.HUB_REVIEW)) or 0)


@dataclass(frozen=True)
class StepLine:
    """One state change of a delivery: when, to which state, by whom (as the hub names them)."""

    at: datetime
    to_state: str
    who: str
    comment: str


@dataclass(frozen=True)
class VersionColumn:
    """One delivery of the project, as the checking page shows it next to the others."""

    delivery: Delivery
    files: list[FileLine]
    reviews: list[ReviewLine]
    steps: list[StepLine]
    waiting_since: datetime
    submitted_by: str
    verified_by: str
    decided_by: str

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True)
class CheckingPage:
    """The hub's page for one delivery: every version of the project side by side, and what can be done."""

    delivery: Delivery
    project: Project
    versions: list[VersionColumn]  # by number, oldest first
    current: VersionColumn
    qc: QcAssignment | None  # the active QC assignment
    can_decide: bool  # waiting for the hub's check on an open project
    history: list[AuditEvent]


def _names(project: Project, user_ids: set[int]) -> dict[int, str]:
    """How the hub names people: experts by pseudonym and name, the QC expert marked, others by name."""
    if not user_ids:
        return {}
    roles: dict[int, ProjectRole] = {uid: role for uid, role in db.session.execute(
        sa.select(ProjectMember.user_id, ProjectMember.role).where(ProjectMember.project_id == project.id))}
    names: dict[int, str] = {}
    for user, pseudonym in db.session.execute(
        sa.select(User, ExpertProfile.pseudonym).outerjoin(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.id.in_(user_ids))
    ):
        if pseudonym and roles.get(user.id) is ProjectRole.QC:
            names[user.id] = _("Quality control · Expert %(p)s — %(name)s", p=pseudonym, name=user.full_name)
        elif pseudonym:
            names[user.id] = _("Expert %(p)s — %(name)s", p=pseudonym, name=user.full_name)
        else:
            names[user.id] = user.full_name
    return names


def checking_page(delivery_id: int, *, actor: User) -> CheckingPage:
    """One delivery for the hub's check, with every version of its project side by side. Read only.

    :raises NotFound: no such delivery, or ``actor`` is not hub staff.
    """
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or not policies.is_staff(actor):
        raise _not_found()
    project = delivery.project
    versions = list(db.session.scalars(
        sa.select(Delivery).options(selectinload(Delivery.files), selectinload(Delivery.qc_reviews))
        .where(Delivery.project_id == project.id).order_by(Delivery.number)))
    ids = [v.id for v in versions]
    review_ids = [r.id for v in versions for r in v.qc_reviews]
    history = list(db.session.scalars(
        sa.select(AuditEvent).options(joinedload(AuditEvent.actor)).where(sa.or_(
            sa.and_(AuditEvent.entity == Delivery.__tablename__, AuditEvent.entity_id.in_(ids)),
            sa.and_(AuditEvent.entity == QcReview.__tablename__, AuditEvent.entity_id.in_(review_ids or [0])),
        )).order_by(AuditEvent.id.desc()).limit(200)))
    people: set[int] = {v.submitted_by_id for v in versions}
    people |= {v.verified_by_id for v in versions if v.verified_by_id is not None}
    people |= {v.decided_by_id for v in versions if v.decided_by_id is not None}
    people |= {e.actor_id for e in history if e.actor_id is not None}
    names = _names(project, people)
    entered = _entered(versions)
    steps: dict[int, list[StepLine]] = {}
    for event in reversed(history):
        if event.entity == Delivery.__tablename__ and event.to_state and event.entity_id is not None:
            who = names.get(event.actor_id, "") if event.actor_id is not None else _("Platform")
            steps.setdefault(event.entity_id, []).append(StepLine(
                at=event.created_at, to_state=event.to_state, who=who,
                comment=str((event.data or {}).get("comment", ""))))
    columns = [
        VersionColumn(
            delivery=v, files=_files(v), reviews=_review_lines(v.qc_reviews), steps=steps.get(v.id, []),
            waiting_since=entered[v.id], submitted_by=names.get(v.submitted_by_id, ""),
            verified_by=names.get(v.verified_by_id, "") if v.verified_by_id is not None else "",
            decided_by=names.get(v.decided_by_id, "") if v.decided_by_id is not None else "",
        )
        for v in versions
    ]
    current = next(c for c in columns if c.delivery.id == delivery.id)
    return CheckingPage(
        delivery=delivery, project=project, versions=columns, current=current, qc=active_qc_assignment(project),
        can_decide=delivery.status is DeliveryStatus.HUB_REVIEW and projects.is_writable(project), history=history,
    )
