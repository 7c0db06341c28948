"""Step 1 for experts: the profile, skills, languages, declared employers, documents and verification.

Experts go through the same machine as companies (WORKFLOW.md §1)::

    draft -submit-> pending_verification -approve-> approved -suspend-> suspended -reinstate-> approved
    pending_verification -request_info-> info_requested -submit (resubmit)-> pending_verification
    pending_verification -reject-> rejected

The profile, skills, languages and documents are edited while ``draft`` or
``info_requested``. Two things stay open after approval, because matching
depends on them being current: availability (``available_from``, capacity)
and declared employers/relations (conflict-of-interest checks).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations import reference
from app.models import (
    CatalogKind,
    CatalogTerm,
    Document,
    DocumentKind,
    DocumentReview,
    EmployerRelation,
    ExpertEmployer,
    ExpertiseLevel,
    ExpertLanguage,
    ExpertProfile,
    ExpertSkill,
    LanguageProficiency,
    User,
    VerificationStatus,
)
from app.services import audit, notifications, uow, uploads
from app.services.companies import (
    ADMIN_HOME_PATH,
    EXPERT_HOME_PATH,
    ChecklistItem,
    document_label,
)
from app.services.transitions import transition
from app.services.validation import required_text
from app.workflows.verification import EXPERT_WORKFLOW

S = VerificationStatus

EDITABLE_STATES = frozenset({S.DRAFT, S.INFO_REQUESTED})
# Availability and employers stay editable after approval.
AVAILABILITY_FIELDS = frozenset({"available_from", "capacity_days_per_week"})
EMPLOYERS_LOCKED_STATES = frozenset({S.REJECTED})
SKILL_KINDS = (CatalogKind.JOB_TITLE, CatalogKind.SKILL, CatalogKind.PROCESS, CatalogKind.MATERIAL)
EXPERT_DOCUMENT_TYPES: dict[DocumentKind, tuple[str, ...]] = {
    DocumentKind.CV: uploads.PDF_ONLY,
    DocumentKind.CERTIFICATE: uploads.PDF_ONLY,
    DocumentKind.IDENTITY: uploads.LEGAL_TYPES,
}
REQUIRED_EXPERT_DOCUMENTS = (DocumentKind.CV,)
MAX_SKILLS = 40
MAX_LANGUAGES = 20
MAX_EMPLOYERS = 30

PROFILE_FIELDS = (
    "headline",
    "summary",
    "years_experience",
    "day_rate_minor",
    "currency",
    "available_from",
    "capacity_days_per_week",
    "country",
    "timezone",
)
TEXT_LIMITS = {"headline": 160, "summary": 5000}


# Read helpers (no state change) ------------------------------------------------------------


def active_documents(expert: ExpertProfile) -> list[Document]:
    """The expert's documents that were not removed, oldest first."""
    return [d for d in expert.documents if d.removed_at is None]


def _has_document(documents: list[Document], kind: DocumentKind) -> bool:
    return any(d.kind is kind and d.review is not DocumentReview.REJECTED for d in documents)


def _missing_profile(expert: ExpertProfile) -> list[str]:
    missing: list[str] = []
    if not expert.headline.strip():
        missing.append(_("Headline"))
    if not expert.summary.strip():
        missing.append(_("Summary"))
    if not expert.years_experience:
        missing.append(_("Years of experience"))
    if not expert.day_rate_minor or not expert.currency:
        missing.append(_("Day rate and currency"))
    if not expert.country:
        missing.append(_("Country"))
    if not expert.timezone:
        missing.append(_("Time zone"))
    return missing


def _has_title_or_skill(expert: ExpertProfile) -> bool:
    return any(s.term.kind in {CatalogKind.JOB_TITLE, CatalogKind.SKILL} for s in expert.skills)


def missing_for_submit(expert: ExpertProfile) -> list[str]:
    """What is still missing before ``expert`` can be submitted (empty: ready)."""
    missing = _missing_profile(expert)
    if not _has_title_or_skill(expert):
        missing.append(_("At least one job title or skill"))
    if not expert.languages:
        missing.append(_("At least one language"))
    documents = active_documents(expert)
    for kind in REQUIRED_EXPERT_DOCUMENTS:
        if not _has_document(documents, kind):
            missing.append(_("%(doc)s (PDF)", doc=document_label(kind)))
    return missing


def checklist(expert: ExpertProfile) -> list[ChecklistItem]:
    """The status page's checklist."""
    profile = _missing_profile(expert)
    items = [
        ChecklistItem(_("Profile complete"), not profile,
                      _("Missing: %(fields)s", fields=", ".join(profile)) if profile else ""),
        ChecklistItem(_("At least one job title or skill, with your level"), _has_title_or_skill(expert)),
        ChecklistItem(_("At least one language"), bool(expert.languages)),
    ]
    documents = active_documents(expert)
    for kind in REQUIRED_EXPERT_DOCUMENTS:
        rejected = any(d.kind is kind and d.review is DocumentReview.REJECTED for d in documents)
        items.append(
            ChecklistItem(
                _("%(doc)s uploaded (PDF)", doc=document_label(kind)),
                _has_document(documents, kind),
                _("The hub did not accept the uploaded one; upload a new one.") if rejected else "",
            )
        )
    items.append(
        ChecklistItem(
            _("Submitted for verification"),
            expert.status not in EDITABLE_STATES,
            _("Submit when everything above is done.") if expert.status in EDITABLE_STATES else "",
        )
    )
    items.append(ChecklistItem(_("Verified by the hub"), expert.status is S.APPROVED))
    return items


def edit_refusal(expert: ExpertProfile) -> str:
    """Why the profile cannot be changed now (empty when it can)."""
    if expert.status in EDITABLE_STATES:
        return ""
    return {
        S.PENDING_VERIFICATION: _(
            "Your profile is under review; you can edit it again if the hub asks for more information."
        ),
        S.APPROVED: _("Your profile is verified. You can still update your availability and declared employers; "
                      "for other changes, please contact the hub."),
        S.REJECTED: _("Your profile could not be verified, so it is closed. "
                      "Contact the hub if you think this is a mistake."),
        S.SUSPENDED: _("Your profile is suspended and cannot be changed. Please contact the hub."),
    }.get(expert.status, _("Your profile cannot be changed now."))


def skill_terms() -> list[CatalogTerm]:
    """Catalog terms an expert may pick (job titles, skills, processes, materials), not retired."""
    return list(
        db.session.scalars(
            sa.select(CatalogTerm)
            .where(CatalogTerm.kind.in_(SKILL_KINDS), CatalogTerm.retired_at.is_(None))
            .order_by(CatalogTerm.kind, CatalogTerm.name)
        )
    )


# Internals ------------------------------------------------------------------------------------


def _load(expert_id: int, actor: User | None) -> ExpertProfile:
    expert = db.session.get(ExpertProfile, expert_id, with_for_update=True)
    if expert is None or not policies.can_view_expert(actor, expert):
        raise NotFound(_("This expert profile does not exist."))
    return expert


def _load_own(expert_id: int, actor: User, message: str) -> ExpertProfile:
    expert = _load(expert_id, actor)
    if not policies.can_edit_expert(actor, expert):
        raise PermissionDenied(message)
    return expert


def _require_editable(expert: ExpertProfile) -> None:
    refusal = edit_refusal(expert)
    if refusal:
        raise PermissionDenied(refusal)


def _touch(expert: ExpertProfile) -> None:
    """Bump the profile's version when only child rows change (optimistic locking)."""
    expert.updated_at = datetime.now(UTC)


def _clean_profile(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"unknown expert fields: {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    for field, value in fields.items():
        if field in TEXT_LIMITS:
            text = (value or "").strip() if field == "summary" else " ".join((value or "").split())
            if len(text) > TEXT_LIMITS[field]:
                raise ValidationFailed(_("%(field)s is too long (at most %(n)d characters).",
                                         field=field.capitalize(), n=TEXT_LIMITS[field]))
            clean[field] = text
        else:
            clean[field] = value
    if "years_experience" in clean:
        years = clean["years_experience"]
        if years is None:
            years = 0
        if not isinstance(years, int) or not 0 <= years <= 70:
            raise ValidationFailed(_("Years of experience must be a whole number between 0 and 70."))
        clean["years_experience"] = years
    if "capacity_days_per_week" in clean:
        capacity = clean["capacity_days_per_week"]
        if not isinstance(capacity, int) or not 0 <= capacity <= 7:
            raise ValidationFailed(_("Capacity must be between 0 and 7 days per week."))
    if "day_rate_minor" in clean and clean["day_rate_minor"] is not None:
        rate = clean["day_rate_minor"]
        if not isinstance(rate, int) or rate <= 0 or rate > 10_000_000_00:
            raise ValidationFailed(_("Enter a day rate above zero."))
    if "currency" in clean:
        currency = (clean["currency"] or "").upper()
        if currency not in reference.CURRENCIES:
            raise ValidationFailed(_("Choose a currency from the list."))
        clean["currency"] = currency
    if clean.get("country"):
        clean["country"] = clean["country"].upper()
        if clean["country"] not in reference.country_codes():
            raise ValidationFailed(_("Choose a country from the list."))
    elif "country" in clean:
        clean["country"] = ""
    if "timezone" in clean:
        if not clean["timezone"] or not reference.is_timezone(clean["timezone"]):
            raise ValidationFailed(_("Choose a time zone from the list."))
    if "available_from" in clean and clean["available_from"] is not None \
            and not isinstance(clean["available_from"], date):
        raise ValidationFailed(_("Enter the date you are available from."))
    return clean


# Profile --------------------------------------------------------------------------------------


def update_expert(expert_id: int, *, actor: User, **fields: Any) -> ExpertProfile:
    """Save the expert's own profile (a draft may be incomplete; completeness is checked on submit).

    Everything is editable while ``draft`` or ``info_requested``; once
    ``approved``, only availability (``available_from``, capacity) changes.

    :raises NotFound: no such profile visible to ``actor``.
    :raises PermissionDenied: not the expert, or the field cannot change in this state (the message says why).
    :raises ValidationFailed: a value is not acceptable.
    """
    expert = _load_own(expert_id, actor, _("Only the expert can change this profile."))
    clean = _clean_profile(fields)
    changed = sorted(field for field, value in clean.items() if getattr(expert, field) != value)
    if changed and expert.status not in EDITABLE_STATES:
        only_availability = all(f in AVAILABILITY_FIELDS for f in changed)
        if not (expert.status is S.APPROVED and only_availability):
            raise PermissionDenied(edit_refusal(expert))
    for field in changed:
        setattr(expert, field, clean[field])
    if changed:
        audit.record("expert.updated", actor=actor, entity="expert_profiles", entity_id=expert.id,
                     data={"fields": changed})
        uow.commit()
    return expert


def set_expert_skills(expert_id: int, *, actor: User, items: list[tuple[int, ExpertiseLevel]]) -> ExpertProfile:
    """Replace the expert's job titles, skills, processes and materials, each with a level.

    Terms must come from the catalog (kinds job_title, skill, process, material)
    and not be retired, unless the expert already had them.

    :raises NotFound: no such profile visible to ``actor``.
    :raises PermissionDenied: not the expert, or the profile is not editable now.
    :raises ValidationFailed: unknown or duplicate terms, too many items.
    """
    expert = _load_own(expert_id, actor, _("Only the expert can change this profile."))
    _require_editable(expert)
    if len(items) > MAX_SKILLS:
        raise ValidationFailed(_("List at most %(n)d job titles and skills.", n=MAX_SKILLS))
    wanted: dict[int, ExpertiseLevel] = {}
    for term_id, level in items:
        if term_id in wanted:
            raise ValidationFailed(_("Each job title or skill can be listed only once."))
        wanted[int(term_id)] = ExpertiseLevel(level)
    current = {s.term_id: s for s in expert.skills}
    terms = {t.id: t for t in db.session.scalars(sa.select(CatalogTerm).where(CatalogTerm.id.in_(list(wanted))))}
    for term_id in wanted:
        term = terms.get(term_id)
        if term is None or term.kind not in SKILL_KINDS:
            raise ValidationFailed(_("Choose job titles and skills from the list."))
        if term.is_retired and term_id not in current:
            raise ValidationFailed(_("“%(term)s” is no longer offered; choose another one.", term=term.name))
    for term_id, skill in list(current.items()):
        if term_id not in wanted:
            expert.skills.remove(skill)
        elif skill.level is not wanted[term_id]:
            skill.level = wanted[term_id]
    for term_id, level in wanted.items():
        if term_id not in current:
            expert.skills.append(ExpertSkill(term_id=term_id, level=level, term=terms[term_id]))
    _touch(expert)
    audit.record("expert.skills_changed", actor=actor, entity="expert_profiles", entity_id=expert.id,
                 data={"skills": [[t, lv.value] for t, lv in wanted.items()]})
    uow.commit()
    return expert


def set_expert_languages(
    expert_id: int, *, actor: User, items: list[tuple[str, LanguageProficiency]]
) -> ExpertProfile:
    """Replace the expert's languages (ISO 639-1 codes) with CEFR proficiency or native.

    :raises NotFound: no such profile visible to ``actor``.
    :raises PermissionDenied: not the expert, or the profile is not editable now.
    :raises ValidationFailed: unknown or duplicate languages, too many items.
    """
    expert = _load_own(expert_id, actor, _("Only the expert can change this profile."))
    _require_editable(expert)
    if len(items) > MAX_LANGUAGES:
        raise ValidationFailed(_("List at most %(n)d languages.", n=MAX_LANGUAGES))
    wanted: dict[str, LanguageProficiency] = {}
    for code, proficiency in items:
        code = (code or "").strip().lower()
        if code not in reference.language_codes():
            raise ValidationFailed(_("Choose languages from the list."))
        if code in wanted:
            raise ValidationFailed(_("Each language can be listed only once."))
        wanted[code] = LanguageProficiency(proficiency)
    current = {lang.code: lang for lang in expert.languages}
    for code, lang in list(current.items()):
        if code not in wanted:
            expert.languages.remove(lang)
        elif lang.proficiency is not wanted[code]:
            lang.proficiency = wanted[code]
    for code, proficiency in wanted.items():
        if code not in current:
            expert.languages.append(ExpertLanguage(code=code, proficiency=proficiency))
    _touch(expert)
    audit.record("expert.languages_changed", actor=actor, entity="expert_profiles", entity_id=expert.id,
                 data={"languages": [[c, p.value] for c, p in wanted.items()]})
    uow.commit()
    return expert


def set_expert_employers(
    expert_id: int, *, actor: User, items: list[tuple[str, EmployerRelation]]
) -> ExpertProfile:
    """Replace the declared employers and relations (current, former, competitor, supplier).

    Used for conflict-of-interest checks, so it stays editable after approval
    (not once rejected).

    :raises NotFound: no such profile visible to ``actor``.
    :raises PermissionDenied: not the expert, or the profile was rejected.
    :raises ValidationFailed: empty or overlong names, too many items.
    """
    expert = _load_own(expert_id, actor, _("Only the expert can change this profile."))
    if expert.status in EMPLOYERS_LOCKED_STATES:
        raise PermissionDenied(edit_refusal(expert))
    if len(items) > MAX_EMPLOYERS:
        raise ValidationFailed(_("List at most %(n)d employers and relations.", n=MAX_EMPLOYERS))
    wanted: list[tuple[str, EmployerRelation]] = []
    seen: set[tuple[str, EmployerRelation]] = set()
    for name, relation in items:
        name = " ".join((name or "").split())
        if not name:
            raise ValidationFailed(_("Enter the name of each employer."))
        if len(name) > 160:
            raise ValidationFailed(_("An employer's name can have at most 160 characters."))
        entry = (name, EmployerRelation(relation))
        if (name.casefold(), entry[1]) not in seen:
            seen.add((name.casefold(), entry[1]))
            wanted.append(entry)
    before = [(e.name, e.relation) for e in expert.employers]
    if before != wanted:
        expert.employers.clear()
        for name, relation in wanted:
            expert.employers.append(ExpertEmployer(name=name, relation=relation))
        _touch(expert)
        audit.record("expert.employers_changed", actor=actor, entity="expert_profiles", entity_id=expert.id,
                     data={"employers": [[n, r.value] for n, r in wanted]})
        uow.commit()
    return expert


# Documents --------------------------------------------------------------------------------------


def add_expert_document(
    expert_id: int, *, actor: User, kind: DocumentKind, upload: uploads.Upload
) -> Document:
    """Check, clean and store a CV or certificate (PDF) or an identity document (PDF, PNG, JPEG).

    Allowed for the expert while ``draft`` or ``info_requested``. The blob is
    stored first and deleted again if the transaction fails.

    :raises NotFound: no such profile visible to ``actor``.
    :raises PermissionDenied: not the expert, or the profile is not editable now.
    :raises ValidationFailed: wrong kind; :class:`uploads.UploadRejected` for the file itself.
    """
    expert = _load_own(expert_id, actor, _("Only the expert can upload documents to this profile."))
    _require_editable(expert)
    if kind not in EXPERT_DOCUMENT_TYPES:
        raise ValidationFailed(_("Choose what kind of document this is."))
    clean = uploads.check(upload, allowed=EXPERT_DOCUMENT_TYPES[kind])
    with uploads.stored(clean, prefix=f"experts/{expert.id}/docs") as key:
        document = uploads.new_document(clean, key=key, kind=kind, uploaded_by=actor, expert_id=expert.id)
        audit.record("document.uploaded", actor=actor, entity="documents", entity_id=document.id,
                     data={"expert_id": expert.id, "kind": kind.value, "sha256": clean.sha256, "size": clean.size})
        uow.commit()
    return document


def remove_expert_document(document_id: int, *, actor: User) -> Document:
    """Remove one of the expert's documents from the profile (the row is kept for the record).

    :raises NotFound: no such (expert) document visible to ``actor``.
    :raises PermissionDenied: the profile is not editable now, or the hub already accepted the document.
    """
    document = db.session.get(Document, document_id, with_for_update=True)
    if document is None or document.expert is None or document.removed_at is not None \
            or not policies.can_remove_document(actor, document):
        raise NotFound(_("This document does not exist."))
    _require_editable(document.expert)
    if document.review is DocumentReview.ACCEPTED:
        raise PermissionDenied(_("The hub already accepted this document, so it stays on file."))
    document.removed_at = datetime.now(UTC)
    audit.record("document.removed", actor=actor, entity="documents", entity_id=document.id,
                 data={"expert_id": document.expert_id, "kind": document.kind.value})
    uow.commit()
    return document


# Verification ----------------------------------------------------------------------------------


def _submit_refusal(expert: ExpertProfile) -> str:
    return {
        S.PENDING_VERIFICATION: _("Your profile was already submitted and is waiting for verification."),
        S.APPROVED: _("Your profile is already verified."),
        S.REJECTED: _("Your profile could not be verified, so it cannot be submitted again. "
                      "Contact the hub if you think this is a mistake."),
        S.SUSPENDED: _("Your profile is suspended; please contact the hub."),
    }.get(expert.status, _("Your profile cannot be submitted now."))


def submit_expert(expert_id: int, *, actor: User, answer: str = "") -> ExpertProfile:
    """Submit the profile for verification, or resubmit it after the hub asked for information.

    DRAFT or INFO_REQUESTED -> PENDING_VERIFICATION. Needs headline, summary,
    years, a job title or skill, a language, day rate and currency, country,
    time zone and a CV. ``answer`` is the expert's reply to the hub's question.
    Hub staff are notified.

    :raises NotFound: no such profile visible to ``actor``.
    :raises PermissionDenied: not the expert.
    :raises InvalidTransition: not a draft and no information was requested.
    :raises ValidationFailed: something is missing (the message lists what).
    """
    expert = _load(expert_id, actor)
    if not policies.can_submit_expert(actor, expert):
        raise PermissionDenied(_("Only the expert can submit this profile."))
    if not EXPERT_WORKFLOW.allows(expert.status, S.PENDING_VERIFICATION):
        raise InvalidTransition(EXPERT_WORKFLOW.name, expert.status, S.PENDING_VERIFICATION, _submit_refusal(expert))
    missing = missing_for_submit(expert)
    if missing:
        raise ValidationFailed(_("Before submitting, please complete: %(missing)s.", missing="; ".join(missing)))
    data: dict[str, Any] = {"resubmission": expert.status is S.INFO_REQUESTED}
    if answer.strip():
        data["answer"] = answer.strip()[:5000]
    transition(expert, EXPERT_WORKFLOW, S.PENDING_VERIFICATION, actor=actor, **data)
    expert.submitted_at = datetime.now(UTC)
    notifications.notify_staff("expert.submitted", link=ADMIN_HOME_PATH, pseudonym=expert.pseudonym)
    uow.commit()
    return expert


def _load_for_staff(expert_id: int, actor: User) -> ExpertProfile:
    expert = db.session.get(ExpertProfile, expert_id, with_for_update=True)
    if expert is None:
        raise NotFound(_("This expert profile does not exist."))
    if not policies.can_verify_expert(actor, expert):
        raise PermissionDenied(_("Only hub staff can decide on verifications."))
    return expert


def _decide(expert: ExpertProfile, actor: User, note: str) -> None:
    expert.decided_at = datetime.now(UTC)
    expert.decided_by_id = actor.id
    expert.status_note = note


def _notify(expert: ExpertProfile, kind: str, **params: Any) -> None:
    notifications.notify(expert.user, kind, link=EXPERT_HOME_PATH, pseudonym=expert.pseudonym, **params)


def _accept_pending_documents(expert: ExpertProfile, actor: User) -> None:
    now = datetime.now(UTC)
    note = _("Accepted with the profile's approval.")
    for document in active_documents(expert):
        if document.review is DocumentReview.PENDING:
            document.review = DocumentReview.ACCEPTED
            document.reviewed_by_id = actor.id
            document.reviewed_at = now
            document.review_note = note
            audit.record("document.accepted", actor=actor, entity="documents", entity_id=document.id,
                         from_state=DocumentReview.PENDING.value, to_state=DocumentReview.ACCEPTED.value,
                         data={"note": note})


def _refresh_matching() -> None:
    """After commit, let a worker rebuild the matching index (rankings also rebuild it when stale)."""
    from app.tasks import matching as matching_tasks
    from app.tasks import queue

    uow.after_commit(queue.enqueue_quietly, matching_tasks.refresh_index, queue_name="low")


def approve_expert(expert_id: int, *, actor: User, note: str = "") -> ExpertProfile:
    """Approve an expert waiting for verification; only approved experts are matched and make offers.

    PENDING_VERIFICATION -> APPROVED. Documents still pending review are
    accepted with it (each decision recorded). The expert is notified.

    :raises NotFound: no such profile.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the profile is not pending verification.
    :raises ValidationFailed: no acceptable CV is on file.
    """
    expert = _load_for_staff(expert_id, actor)
    if expert.status is not S.PENDING_VERIFICATION:  # SUSPENDED -> APPROVED is reinstate, not approve
        raise InvalidTransition(EXPERT_WORKFLOW.name, expert.status, S.APPROVED)
    documents = active_documents(expert)
    for kind in REQUIRED_EXPERT_DOCUMENTS:
        if not _has_document(documents, kind):
            raise ValidationFailed(_("%(doc)s is missing or was rejected; request information instead of approving.",
                                     doc=document_label(kind)))
    _accept_pending_documents(expert, actor)
    transition(expert, EXPERT_WORKFLOW, S.APPROVED, actor=actor, note=note.strip())
    _decide(expert, actor, note.strip())
    _notify(expert, "expert.approved")
    _refresh_matching()
    uow.commit()
    return expert


def reject_expert(expert_id: int, *, actor: User, reason: str) -> ExpertProfile:
    """Reject an expert waiting for verification; the reason is kept and sent to the expert.

    PENDING_VERIFICATION -> REJECTED.

    :raises NotFound: no such profile.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no reason given.
    :raises InvalidTransition: the profile is not pending verification.
    """
    expert = _load_for_staff(expert_id, actor)
    reason = required_text(reason, _("Give the reason for the rejection; the expert will read it."))
    transition(expert, EXPERT_WORKFLOW, S.REJECTED, actor=actor, reason=reason)
    _decide(expert, actor, reason)
    _notify(expert, "expert.rejected", reason=reason)
    uow.commit()
    return expert


def request_expert_info(expert_id: int, *, actor: User, question: str) -> ExpertProfile:
    """Ask the expert for more information; the expert can edit and resubmit.

    PENDING_VERIFICATION -> INFO_REQUESTED.

    :raises NotFound: no such profile.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no question given.
    :raises InvalidTransition: the profile is not pending verification.
    """
    expert = _load_for_staff(expert_id, actor)
    question = required_text(question, _("Write the question the expert should answer."))
    transition(expert, EXPERT_WORKFLOW, S.INFO_REQUESTED, actor=actor, question=question)
    _decide(expert, actor, question)
    _notify(expert, "expert.info_requested", question=question)
    uow.commit()
    return expert


def suspend_expert(expert_id: int, *, actor: User, reason: str) -> ExpertProfile:
    """Suspend an approved expert: no matching, no offers; the account still logs in.

    APPROVED -> SUSPENDED.

    :raises NotFound: no such profile.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no reason given.
    :raises InvalidTransition: the profile is not approved.
    """
    expert = _load_for_staff(expert_id, actor)
    reason = required_text(reason, _("Give the reason for the suspension; the expert will read it."))
    transition(expert, EXPERT_WORKFLOW, S.SUSPENDED, actor=actor, reason=reason)
    _decide(expert, actor, reason)
    _notify(expert, "expert.suspended", reason=reason)
    _refresh_matching()
    uow.commit()
    return expert


def reinstate_expert(expert_id: int, *, actor: User, note: str = "") -> ExpertProfile:
    """Lift a suspension.

    SUSPENDED -> APPROVED. The expert is notified.

    :raises NotFound: no such profile.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the profile is not suspended.
    """
    expert = _load_for_staff(expert_id, actor)
    if expert.status is not S.SUSPENDED:  # PENDING -> APPROVED is approve, not reinstate
        raise InvalidTransition(EXPERT_WORKFLOW.name, expert.status, S.APPROVED,
                                _("Only a suspended expert can be reinstated; this one is %(status)s.",
                                  status=expert.status.value.replace("_", " ")))
    transition(expert, EXPERT_WORKFLOW, S.APPROVED, actor=actor, note=note.strip(), reinstated=True)
    _decide(expert, actor, note.strip())
    _notify(expert, "expert.reinstated")
    _refresh_matching()
    uow.commit()
    return expert

