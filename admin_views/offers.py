"""Offers (WORKFLOW.md §4): the queue of offers waiting for the hub, and one offer with all its versions.

The queue lists submitted and revised offers, oldest first (a tab shows every
offer of any status), in a fixed number of SQL statements per page. The offer
page shows the current version in full, the clauses the expert accepted, every
version with what changed, and the expert's line in the job's latest ranking.
Forwarding and declining come with negotiation (the next step); this module
changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from sqlalchemy.orm import joinedload

from admin_views import queries
from admin_views.base import SecureBaseView, current_actor
from admin_views.jobs import job_badge
from admin_views.labels import criterion_label, exclusion_label, offer_badge
from admin_views.matching import DetailFormatter, bar_class, detail_term_ids, percent
from app.exceptions import NotFound
from app.extensions import db
from app.matching.records import CRITERIA
from app.models import ExpertProfile, Offer, OfferStatus, OfferVersion
from app.services import offers

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
        """One offer: the job, the expert, the current version, the history, the ranking line."""
        try:
            offer = offers.load_offer(offer_id, actor=current_actor())
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
        return self.render(
            "admin/offers/details.html",
            offer=offer,
            job=offer.job,
            expert=offer.expert,
            current=next((v for v in versions if v.id == offer.current_version_id), versions[-1] if versions else None),
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
        )
