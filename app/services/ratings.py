"""Ratings after acceptance (WORKFLOW.md §10): the company rates the expert, the expert rates the company.

- The company's users rate the expert once per project, when the company has
  accepted the delivery (project accepted or completed): overall 1–5 and
  quality, communication, timeliness and expertise 1–5, with written
  feedback. The rating is shown to other companies on the expert's
  pseudonymous card, with the rating company described only as "a company in
  <industry>", and it feeds the matching (app/matching/loader.py).
- The project's expert (not a QC expert) rates the company once: overall 1–5
  and feedback, private to the hub (the company never reads it).
- The hub reads both and rates nobody.

Contact details in the expert's feedback are *refused* rather than masked:
the feedback is published to third parties, and a refused text keeps the
stored copy clean everywhere it is shown while the company fixes it knowing
exactly what was found. The company rating is private to the hub, so it is
stored as written.

Both ratings are audited; the expert is told of the rating they received.
Nothing here commits: the caller (view, task) calls ``uow.commit()``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from babel.numbers import format_decimal
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    CatalogTerm,
    Company,
    CompanyRating,
    ExpertProfile,
    Project,
    ProjectMember,
    ProjectRole,
    ProjectStatus,
    Rating,
    User,
)
from app.services import audit, masking, notifications, projects
from app.services.projects import Side

logger = logging.getLogger(__name__)

SCORES: tuple[str, ...] = ("overall", "quality", "communication", "timeliness", "expertise")
SUB_SCORES: tuple[str, ...] = SCORES[1:]
MIN_SCORE = 1
MAX_SCORE = 5
MAX_FEEDBACK = 5000
#: The project states in which both sides may rate: the company accepted the delivery.
RATEABLE = frozenset({ProjectStatus.ACCEPTED, ProjectStatus.COMPLETED})
#: Ratings shown on an expert's card.
CARD_RATINGS = 3
PENDING_LIMIT = 20


class RatingRefused(ValidationFailed):
    """A rating the rules refuse; ``field`` names the form field the message belongs to, if one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def score_labels() -> dict[str, str]:
    """The name of each score in the current language."""
    return {
        "overall": _("Overall"),
        "quality": _("Quality of the work"),
        "communication": _("Communication"),
        "timeliness": _("Timeliness"),
        "expertise": _("Expertise"),
    }


def format_score(value: float) -> str:
    """An average score with one decimal, in the reader's locale (``4.6``, ``4,6``)."""
    return str(format_decimal(round(value, 1), format="0.0", locale=str(get_locale() or "en")))


# Giving ratings ----------------------------------------------------------------------------


def _load(project_id: int, actor: User) -> tuple[Project, Side]:
    """The project, locked (one rating per project even when two colleagues press at once), and the side."""
    project = db.session.get(Project, project_id, with_for_update=True)
    side = projects.side_of(actor, project) if project is not None else None
    if project is None or side is None:
        raise NotFound(_("This project does not exist or you are not one of its members."))
    return project, side


def _require_rateable(project: Project) -> None:
    if project.status in RATEABLE:
        return
    if project.status is ProjectStatus.DISPUTED:
        raise RatingRefused(_("This project is in dispute; ratings open again once the hub has decided."))
    if project.status is ProjectStatus.CANCELLED:
        raise RatingRefused(_("This project was cancelled before the work was delivered; there is nothing to rate."))
    raise RatingRefused(_("Ratings open once the company has accepted the delivery."))


def _score(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SCORE <= value <= MAX_SCORE:
        raise RatingRefused(_("Give \u201c%(what)s\u201d a score from 1 to 5.", what=score_labels()[name]),
                            field=name)
    return value


def _feedback(text: str, *, required: bool, public: bool) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise RatingRefused(_("Write a few words about the work: other companies read them."), field="feedback")
    if len(text) > MAX_FEEDBACK:
        raise RatingRefused(_("The feedback can have at most %(n)d characters; this one has %(m)d.",
                              n=MAX_FEEDBACK, m=len(text)), field="feedback")
    if public:
        found = masking.mask_contacts(text).findings
        if found:
            raise RatingRefused(
                _("Other companies read this feedback, so it cannot contain contact details. Remove: %(found)s.",
                  found=", ".join(f"\u201c{f.original}\u201d" for f in found)),
                field="feedback",
            )
    return text


def _insert(row: Rating | CompanyRating, message: str) -> None:
    """Add the rating; the unique constraint is the authority when two requests race."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        raise RatingRefused(message) from None


def _expert_user(project: Project) -> User | None:
    profile = db.session.get(ExpertProfile, project.expert_id)
    if profile is None:
        return None
    user = db.session.get(User, profile.user_id)
    return user if user is not None and user.suspended_at is None else None


def rate_expert(project_id: int, *, actor: User, overall: int, quality: int, communication: int, timeliness: int,
                expertise: int, feedback: str) -> Rating:
    """The company's rating of the expert on one project (once); the expert is told.

    Who: a company user on the project. When: the project is accepted or completed.

    :raises NotFound: no such project, or the actor is not on it.
    :raises PermissionDenied: the actor is not one of the company's users on the project.
    :raises RatingRefused: the project cannot be rated yet, it already was, a score is not 1–5, or the
        feedback is missing, too long or contains contact details.
    """
    project, _side = _load(project_id, actor)
    if projects.role_of(actor, project) is not ProjectRole.COMPANY:
        raise PermissionDenied(_("Only the company's users rate the expert."))
    _require_rateable(project)
    already = _("Your company has already rated the expert on this project; a project is rated once.")
    if db.session.scalar(sa.select(Rating.id).where(Rating.project_id == project.id)) is not None:
        raise RatingRefused(already)
    values = {name: _score(value, name) for name, value in zip(
        SCORES, (overall, quality, communication, timeliness, expertise), strict=True)}
    text = _feedback(feedback, required=True, public=True)
    rating = Rating(project_id=project.id, expert_id=project.expert_id, company_id=project.company_id,
                    rated_by_id=actor.id, feedback=text, **values)
    _insert(rating, already)
    audit.record("rating.created", actor=actor, entity="ratings", entity_id=rating.id,
                 data={"project_id": project.id, "expert_id": project.expert_id, **values,
                       "feedback_chars": len(text)})
    expert = _expert_user(project)
    if expert is not None:
        notifications.notify(expert, "rating.received", link=f"/projects/{project.id}/rating",
                             project=projects.project_label(project), overall=values["overall"])
    logger.info("Project %s: expert %s rated %s by user %s", project.id, project.expert_id, values["overall"],
                actor.id)
    return rating


def rate_company(project_id: int, *, actor: User, overall: int, feedback: str) -> CompanyRating:
    """The expert's private rating of the company on one project (once), for the hub only.

    Who: the project's expert (not a QC expert). When: the project is accepted or completed.

    :raises NotFound: no such project, or the actor is not on it.
    :raises PermissionDenied: the actor is not the project's expert.
    :raises RatingRefused: the project cannot be rated yet, it already was, the score is not 1–5, or the
        feedback is too long.
    """
    project, _side = _load(project_id, actor)
    if projects.role_of(actor, project) is not ProjectRole.EXPERT:
        raise PermissionDenied(_("Only the project's expert rates the company."))
    _require_rateable(project)
    already = _("You have already rated the company on this project; a project is rated once.")
    if db.session.scalar(sa.select(CompanyRating.id).where(CompanyRating.project_id == project.id)) is not None:
        raise RatingRefused(already)
    score = _score(overall, "overall")
    text = _feedback(feedback, required=False, public=False)
    rating = CompanyRating(project_id=project.id, company_id=project.company_id, expert_id=project.expert_id,
                           rated_by_id=actor.id, overall=score, feedback=text)
    _insert(rating, already)
    audit.record("company_rating.created", actor=actor, entity="company_ratings", entity_id=rating.id,
                 data={"project_id": project.id, "company_id": project.company_id, "overall": score,
                       "feedback_chars": len(text)})
    return rating


# Reading ratings ---------------------------------------------------------------------------


def expert_rating_summary(expert_id: int) -> tuple[float | None, int]:
    """The expert's average overall rating (None without ratings) and the number of ratings."""
    average, count = db.session.execute(
        sa.select(sa.func.avg(Rating.overall), sa.func.count(Rating.id)).where(Rating.expert_id == expert_id)
    ).one()
    return (float(average) if average is not None and count else None), int(count or 0)


@dataclass(frozen=True)
class RatingCard:
    """One rating as third parties read it: scores, feedback, date; the company only as its industry."""

    overall: int
    scores: dict[str, int]  # the four sub-scores
    feedback: str
    created_at: datetime
    company_label: str


def _company_label(industry: CatalogTerm | None) -> str:
    if industry is None:
        return _("A company on Plasticonnect Hub")
    return _("A company in %(industry)s", industry=industry.label(str(get_locale() or "en")))


def ratings_for_expert(expert_id: int, limit: int = CARD_RATINGS) -> list[RatingCard]:
    """The expert's latest ratings for the card, newest first (never the rating company's name)."""
    rows = db.session.execute(
        sa.select(Rating, CatalogTerm)
        .join(Company, Company.id == Rating.company_id)
        .outerjoin(CatalogTerm, CatalogTerm.id == Company.industry_id)
        .where(Rating.expert_id == expert_id)
        .order_by(Rating.id.desc())
        .limit(max(1, limit))
    ).all()
    return [
        RatingCard(overall=r.overall, scores={name: int(getattr(r, name)) for name in SUB_SCORES},
                   feedback=r.feedback, created_at=r.created_at, company_label=_company_label(industry))
        for r, industry in rows
    ]


@dataclass(frozen=True)
class TrackRecord:
    """What the hub's history says about an expert: average ratings, completed projects, latest feedback."""

    count: int = 0
    average: float | None = None
    sub_averages: Mapping[str, float] = field(default_factory=dict)
    completed_projects: int = 0
    recent: list[RatingCard] = field(default_factory=list)

    def headline(self) -> str:
        """``4.6 / 5 (7 ratings)``; empty without ratings."""
        if not self.count or self.average is None:
            return ""
        return ngettext("%(avg)s / 5 (%(num)d rating)", "%(avg)s / 5 (%(num)d ratings)", self.count,
                        avg=format_score(self.average))

    def sub_scores(self) -> list[tuple[str, str]]:
        """(label, formatted average) of quality, communication, timeliness and expertise."""
        labels = score_labels()
        return [(labels[name], format_score(self.sub_averages[name])) for name in SUB_SCORES
                if name in self.sub_averages]


def track_record(expert_id: int, *, recent: int = CARD_RATINGS) -> TrackRecord:
    """The expert's track record for the pseudonymous card (three queries)."""
    row = db.session.execute(
        sa.select(sa.func.count(Rating.id), *(sa.func.avg(getattr(Rating, name)) for name in SCORES))
        .where(Rating.expert_id == expert_id)
    ).one()
    count = int(row[0] or 0)
    averages = {name: float(value) for name, value in zip(SCORES, row[1:], strict=True) if value is not None}
    completed = int(db.session.scalar(
        sa.select(sa.func.count(Project.id))
        .where(Project.expert_id == expert_id, Project.status == ProjectStatus.COMPLETED)
    ) or 0)
    return TrackRecord(
        count=count,
        average=averages.get("overall") if count else None,
        sub_averages={name: averages[name] for name in SUB_SCORES if name in averages} if count else {},
        completed_projects=completed,
        recent=ratings_for_expert(expert_id, recent) if count and recent > 0 else [],
    )


def track_record_of(pseudonym: str) -> TrackRecord:
    """The track record of the expert known by ``pseudonym`` (an empty one for an unknown pseudonym)."""
    expert_id = db.session.scalar(sa.select(ExpertProfile.id).where(ExpertProfile.pseudonym == pseudonym))
    return track_record(expert_id) if expert_id is not None else TrackRecord()


@dataclass(frozen=True)
class PendingRating:
    """A project the company may rate and has not rated yet."""

    project: Project
    pseudonym: str


def pending_ratings(actor: User) -> list[PendingRating]:
    """For a company user: the accepted or completed projects they are on that nobody rated yet, newest first."""
    if actor.is_staff or actor.suspended_at is not None:
        return []
    rows = db.session.execute(
        sa.select(Project, ExpertProfile.pseudonym)
        .join(ProjectMember, sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == actor.id,
                                     ProjectMember.role == ProjectRole.COMPANY, ProjectMember.removed_at.is_(None)))
        .join(ExpertProfile, ExpertProfile.id == Project.expert_id)
        .outerjoin(Rating, Rating.project_id == Project.id)
        .where(Project.status.in_(sorted(RATEABLE)), Rating.id.is_(None))
        .order_by(Project.id.desc())
        .limit(PENDING_LIMIT)
    ).all()
    return [PendingRating(project=p, pseudonym=pseudonym) for p, pseudonym in rows]


@dataclass(frozen=True)
class RatingPage:
    """What the rating page shows to one reader.

    ``rating`` (the company's rating of the expert) is read by the company, the
    expert and the hub; ``company_rating`` only by the expert who wrote it and
    the hub. A QC expert reads neither.
    """

    project: Project
    side: Side
    role: ProjectRole | None
    rateable: bool
    rating: Rating | None
    rated_by: str
    company_rating: CompanyRating | None
    can_rate_expert: bool
    can_rate_company: bool
    is_qc: bool
    pseudonym: str


def rating_page(project_id: int, *, actor: User) -> RatingPage:
    """The rating page of one project as ``actor`` reads it.

    :raises NotFound: no such project, or the actor is not on it.
    """
    project, side = projects.load_project(project_id, actor=actor)
    role = None if side is Side.HUB else projects.role_of(actor, project)
    is_qc = role is ProjectRole.QC
    rateable = project.status in RATEABLE
    rating = None if is_qc else db.session.scalar(sa.select(Rating).where(Rating.project_id == project.id))
    company_rating = None
    if side is Side.HUB or role is ProjectRole.EXPERT:
        company_rating = db.session.scalar(sa.select(CompanyRating).where(CompanyRating.project_id == project.id))
    rated_by = ""
    if rating is not None:
        author = db.session.get(User, rating.rated_by_id)
        rated_by = author.full_name if author is not None else _("a former member")
    return RatingPage(
        project=project, side=side, role=role, rateable=rateable, rating=rating, rated_by=rated_by,
        company_rating=company_rating,
        can_rate_expert=role is ProjectRole.COMPANY and rateable and rating is None,
        can_rate_company=role is ProjectRole.EXPERT and rateable and company_rating is None,
        is_qc=is_qc, pseudonym=project.contract.expert.pseudonym,
    )
