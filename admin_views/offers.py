"""Offers (WORKFLOW.md §4): the queue of offers waiting for the hub, and one offer with all its versions.

The queue lists submitted and revised offers, oldest first (a tab shows every
offer of any status), in a fixed number of SQL statements per page. The offer
page shows the current version in full, the clauses the expert accepted, every
version with what changed, and the expert's line in the job's latest ranking;
the hub forwards it to the company with its fee (the page previews expert
price, fee and client price, computed here) or declines it, and talks to both
sides in the offer's two threads (company ↔ hub, hub ↔ expert), which never
mix. The job comparison page shows a job's offers side by side. Every button
calls one service of app/services/negotiations.py; nothing here writes a status.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import FileStorage

from admin_views import queries
from admin_views.base import SecureBaseView, current_actor, form_error_flash, run_decision
from admin_views.jobs import job_badge
from admin_views.labels import criterion_label, exclusion_label, offer_badge
from admin_views.matching import DetailFormatter, bar_class, detail_term_ids, percent
from app.blueprints.documents import received
from app.exceptions import DomainError, NotFound
from app.extensions import db
from app.i18n import money
from app.matching.records import CRITERIA
from app.models import ExpertProfile, MatchResult, Offer, OfferForward, OfferStatus, OfferVersion, ThreadSide
from app.services import jobs, matching, negotiations, offers, uow, uploads
from forms.experts import to_minor
from forms.negotiations import FEE_FIXED, DeclineOfferForm, ForwardOfferForm, ProposeRevisionForm, ThreadMessageForm

PER_PAGE = 50
TABS = ("waiting", "all")


def queue_query(tab: str) -> Any:
    """The offers of a tab with what the list shows (job title, expert and name, current version) joined."""
    statuses = queries.OFFERS_WAITING if tab == "waiting" else tuple(OfferStatus)
    return offers.offers_queue_query(statuses).options(joinedload(Offer.expert).joinedload(ExpertProfile.user))


class OfferQueueView(SecureBaseView):
    """The offers queue and the offer page (read only until negotiation)."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        """Offers waiting for the hub (``?show=all``: every offer), oldest first, paginated."""
        tab = request.args.get("show", "waiting")
        if tab not in TABS:
            tab = "waiting"
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        pagination = db.paginate(queue_query(tab), page=page, per_page=PER_PAGE, error_out=False)
        rows: list[Offer] = list(pagination.items)
        return self.render(
            "admin/offers/list.html",
            tab=tab,
            pagination=pagination,
            offers=rows,
            version_counts=queries.offer_version_counts([o.id for o in rows]),
            now=datetime.now(UTC),
            offer_badge=offer_badge,
        )

    @expose("/<int:offer_id>")
    def details_view(self, offer_id: int) -> ResponseReturnValue:
        """One offer: the job, the expert, the current version, the history, the ranking line, forward and threads."""
        return self._render_details(offer_id)

    def _render_details(
        self,
        offer_id: int,
        *,
        forward_form: ForwardOfferForm | None = None,
        decline_form: DeclineOfferForm | None = None,
        message_forms: dict[str, ThreadMessageForm] | None = None,
        propose_form: ProposeRevisionForm | None = None,
        preview: negotiations.FeeQuote | None = None,
        preview_error: str = "",
        status: int = 200,
    ) -> ResponseReturnValue:
        actor = current_actor()
        try:
            offer = offers.load_offer(offer_id, actor=actor)
        except NotFound:
            abort(404)
        versions: list[OfferVersion] = list(offer.versions)
        history = [
            (version, offers.version_changes(versions[i - 1] if i else None, version))
            for i, version in enumerate(versions)
        ]
        match = queries.latest_match_result(offer.job_id, offer.expert_id)
        details = DetailFormatter(queries.term_names(detail_term_ids([match[1]]) if match else ()), offer.job.currency)
        run_weights = {c: float(match[0].weights.get(c, 0) or 0) for c in CRITERIA} if match else {}
        current = next((v for v in versions if v.id == offer.current_version_id), versions[-1] if versions else None)
        if forward_form is None:
            forward_form = ForwardOfferForm(formdata=None, data={"fee_percent": negotiations.default_fee_percent()})
        if preview is None and not preview_error and current is not None:
            preview = negotiations.quote_fee(current.price_minor, current.currency)
        forms = {side.value: ThreadMessageForm(formdata=None, prefix=side.value) for side in ThreadSide}
        forms.update(message_forms or {})
        forwards = negotiations.forwards_of(offer)
        proposals = negotiations.proposals_of(offer)
        open_proposal = next((p for p in proposals if p.is_open), None)
        if propose_form is None and current is not None:
            propose_form = ProposeRevisionForm(formdata=None, data=ProposeRevisionForm.initial_data(current))
        return self.render(
            "admin/offers/details.html",
            offer=offer,
            job=offer.job,
            expert=offer.expert,
            current=current,
            history=list(reversed(history)),
            clauses=offers.CLAUSES,
            match=match,
            criteria=[c for c in CRITERIA if run_weights.get(c, 0) > 0] or list(CRITERIA),
            weights=run_weights,
            details=details,
            bar_class=bar_class,
            percent=percent,
            criterion_label=criterion_label,
            exclusion_label=exclusion_label,
            offer_badge=offer_badge,
            job_badge=job_badge,
            can_forward=offer.status in negotiations.FORWARDABLE,
            forward_form=forward_form,
            decline_form=decline_form or DeclineOfferForm(formdata=None),
            preview=preview,
            preview_error=preview_error,
            forwards=list(reversed([(fwd, negotiations.forward_changes(forwards[i - 1] if i else None, fwd))
                                    for i, fwd in enumerate(forwards)])),
            threads={side.value: [(m, negotiations.author_label(m, actor))
                                  for m in negotiations.thread(offer.id, side, actor=actor)] for side in ThreadSide},
            message_forms=forms,
            can_propose=offer.status is OfferStatus.IN_NEGOTIATION and open_proposal is None and current is not None,
            propose_form=propose_form,
            proposals=[(p, negotiations.proposal_changes(p.based_on_version, p)) for p in proposals],
            upload_accept=uploads.accept_attribute(uploads.JOB_TYPES),
        ), status

    def _fee(self, form: ForwardOfferForm, currency: str) -> tuple[Decimal | None, int | None]:
        percent_value, amount = form.fee_choice()
        return percent_value, to_minor(amount, currency) if form.fee_mode.data == FEE_FIXED else None

    @expose("/<int:offer_id>/forward", methods=("POST",))
    def forward(self, offer_id: int) -> ResponseReturnValue:
        """Preview the fee (``action=preview``: nothing is saved) or forward the current version to the company."""
        offer = db.session.get(Offer, offer_id)
        if offer is None or offer.current_version is None:
            abort(404)
        version = offer.current_version
        form = ForwardOfferForm()
        if not form.validate():
            form_error_flash()
            return self._render_details(offer_id, forward_form=form, preview_error=_("Correct the fee first."),
                                        status=400)
        fee_percent, fee_minor = self._fee(form, version.currency)
        if request.form.get("action") == "preview":
            try:
                quote = negotiations.quote_fee(version.price_minor, version.currency, fee_percent=fee_percent,
                                               fee_minor=fee_minor)
            except jobs.FieldErrors as exc:
                return self._render_details(offer_id, forward_form=form, preview_error=str(exc), status=400)
            return self._render_details(offer_id, forward_form=form, preview=quote)
        try:
            fwd = negotiations.forward_offer(offer_id, actor=current_actor(), fee_percent=fee_percent,
                                             fee_minor=fee_minor, note=form.note.data or "")
        except jobs.FieldErrors as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self._render_details(offer_id, forward_form=form, preview_error=str(exc), status=400)
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return redirect(self.get_url(".details_view", offer_id=offer_id))
        flash(_("Forwarded to the company at a client price of %(price)s. The company and the expert are told.",
                price=money(fwd.client_price_minor, fwd.currency)), "success")
        return redirect(self.get_url(".details_view", offer_id=offer_id))

    @expose("/<int:offer_id>/decline", methods=("POST",))
    def decline(self, offer_id: int) -> ResponseReturnValue:
        """Decline the offer with a reason for the expert."""
        form = DeclineOfferForm()
        if not form.validate():
            form_error_flash()
            return self._render_details(offer_id, decline_form=form, status=400)
        run_decision(lambda: negotiations.decline_offer(offer_id, actor=current_actor(), reason=form.reason.data or ""),
                     _("Declined. The expert is told why."))
        return redirect(self.get_url(".details_view", offer_id=offer_id))

    @expose("/<int:offer_id>/propose", methods=("POST",))
    def propose(self, offer_id: int) -> ResponseReturnValue:
        """Propose a revised version to the expert; it becomes a version only when the expert confirms."""
        offer = db.session.get(Offer, offer_id)
        if offer is None:
            abort(404)
        form = ProposeRevisionForm()
        if not form.validate():
            form_error_flash()
            return self._render_details(offer_id, propose_form=form, status=400)
        try:
            negotiations.propose_revision(offer_id, actor=current_actor(), data=form.offer_input(offer.job.currency),
                                          note=form.note.data or "")
        except jobs.FieldErrors as exc:
            uow.rollback()
            for message in form.add_errors(exc.errors):
                flash(message, "danger")
            form_error_flash()
            return self._render_details(offer_id, propose_form=form, status=400)
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return redirect(self.get_url(".details_view", offer_id=offer_id))
        flash(_("Proposal sent to the expert. It becomes a new version only when the expert confirms it."),
              "success")
        return redirect(self.get_url(".details_view", offer_id=offer_id) + "#proposals")

    @expose("/<int:offer_id>/messages/<side>", methods=("POST",))
    def post_message(self, offer_id: int, side: str) -> ResponseReturnValue:
        """Write in one of the offer's threads (``company`` or ``expert``), with an optional file."""
        try:
            thread_side = ThreadSide(side)
        except ValueError:
            abort(404)
        form = ThreadMessageForm(prefix=thread_side.value)
        if form.validate():
            storage = form.attachment.data
            upload = received(storage) if isinstance(storage, FileStorage) and storage.filename else None
            try:
                negotiations.post_message(offer_id, actor=current_actor(), side=thread_side,
                                          body=form.body.data or "", upload=upload)
            except NotFound:
                abort(404)
            except uploads.UploadRejected as exc:
                form.attachment.errors = [str(exc)]
            except jobs.FieldErrors as exc:
                form.body.errors = list(exc.errors.values())
            else:
                who = _("the company") if thread_side is ThreadSide.COMPANY else _("the expert")
                flash(_("Message sent to %(who)s.", who=who), "success")
                return redirect(self.get_url(".details_view", offer_id=offer_id) + "#threads")
        form_error_flash()
        return self._render_details(offer_id, message_forms={thread_side.value: form}, status=400)

    @expose("/job/<int:job_id>")
    def job_view(self, job_id: int) -> ResponseReturnValue:
        """A job's offers side by side: solution, prices, timeline, deliverables, milestones, status, match."""
        try:
            page = matching.ranking_page(job_id, actor=current_actor(), limit=500)
        except NotFound:
            abort(404)
        job = page.job
        rows = list(db.session.scalars(
            sa.select(Offer)
            .options(joinedload(Offer.expert).joinedload(ExpertProfile.user),
                     joinedload(Offer.current_version).selectinload(OfferVersion.milestones))
            .where(Offer.job_id == job.id)
            .order_by(Offer.submitted_at, Offer.id)
        ).unique())
        latest: dict[int, OfferForward] = {}
        if rows:
            for fwd in db.session.scalars(
                sa.select(OfferForward).where(OfferForward.offer_id.in_([o.id for o in rows])).order_by(OfferForward.id)
            ):
                latest[fwd.offer_id] = fwd
        results: dict[int, MatchResult] = {r.expert_id: r for r in [*page.ranked, *page.excluded]}
        weights = {c: float(page.weights.get(c, 0) or 0) for c in CRITERIA}
        return self.render(
            "admin/offers/job.html",
            job=job,
            offers=rows,
            forwards=latest,
            results=results,
            run=page.completed,
            criteria=[c for c in CRITERIA if weights.get(c, 0) > 0] or list(CRITERIA),
            weights=weights,
            details=DetailFormatter(queries.term_names(detail_term_ids(results.values())), job.currency),
            bar_class=bar_class,
            percent=percent,
            criterion_label=criterion_label,
            exclusion_label=exclusion_label,
            offer_badge=offer_badge,
            job_badge=job_badge,
        )
