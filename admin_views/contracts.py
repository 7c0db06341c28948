"""Contracts in the back office (WORKFLOW.md §6): the list (awaiting signatures first) and one contract.

The contract page shows all three documents with their fingerprints, the full
click-wrap trail of every signature (role, account, typed name, time, IP, user
agent, SHA-256), the downloads, a "Sign as the hub" form per document and the
"Cancel contract" form. Every button calls app/services/contracts.py; nothing
here writes a status.

Registered in admin_views/__init__.py with endpoint ``admin_contracts`` (the
parties' blueprint is ``contracts``) and url ``contracts``, so notification
links read /admin/contracts/<id>.
"""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, request, send_file
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from admin_views.base import SecureBaseView, current_actor, form_error_flash
from app.exceptions import DomainError, NotFound
from app.extensions import db
from app.models import AuditEvent, Contract, ContractDocument, ContractStatus, ExpertProfile, Signature
from app.services import contracts, uow
from app.workflows.contracts import CONTRACT_WORKFLOW
from forms.contracts import (
    ADMIN_DOCUMENT_KIND_LABELS,
    CONTRACT_STATUS_COLOURS,
    CONTRACT_STATUS_LABELS,
    SIGNER_ROLE_LABELS,
    CancelContractForm,
    SignForm,
)

PER_PAGE = 50
DOWNLOAD_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
LABELS: dict[str, Any] = {
    "contract_status_labels": CONTRACT_STATUS_LABELS,
    "contract_status_colours": CONTRACT_STATUS_COLOURS,
    "document_kind_labels": ADMIN_DOCUMENT_KIND_LABELS,
    "signer_role_labels": SIGNER_ROLE_LABELS,
}


class ContractsView(SecureBaseView):
    """The contracts list and the contract page with the hub's signature and cancellation."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        """Every contract, awaiting signatures first, then newest first; ``?status=`` filters."""
        raw = request.args.get("status", "")
        status = ContractStatus(raw) if raw in {s.value for s in ContractStatus} else None
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        query = contracts.contracts_queue_query(status).options(
            joinedload(Contract.company), joinedload(Contract.expert).joinedload(ExpertProfile.user),
            joinedload(Contract.job),
        )
        pagination = db.paginate(query, page=page, per_page=PER_PAGE, error_out=False)
        return self.render("admin/contracts/list.html", pagination=pagination, contracts=list(pagination.items),
                           status=status.value if status else "", statuses=list(ContractStatus), **LABELS)

    def _load(self, contract_id: int) -> Contract:
        try:
            return contracts.load_contract(contract_id, actor=current_actor())
        except NotFound:
            abort(404)

    def render_contract(self, contract: Contract, *, bound: dict[str, Any] | None = None,
                        status: int = 200) -> ResponseReturnValue:
        bound = bound or {}
        actor = current_actor()
        awaiting = contract.status is ContractStatus.AWAITING_SIGNATURES
        sign_forms: dict[int, SignForm] = {}
        for document in contract.documents:
            if awaiting and not any(s.role.value == "hub" for s in document.signatures):
                form = bound.get(f"sign-{document.id}")
                if form is None:
                    form = SignForm(formdata=None, prefix=f"d{document.id}")
                    form.document_sha256.data = document.sha256
                sign_forms[document.id] = form
        document_ids = [d.id for d in contract.documents]
        history = list(db.session.scalars(
            sa.select(AuditEvent).options(joinedload(AuditEvent.actor)).where(sa.or_(
                sa.and_(AuditEvent.entity == "contracts", AuditEvent.entity_id == contract.id),
                sa.and_(AuditEvent.entity == "contract_documents", AuditEvent.entity_id.in_(document_ids)),
            )).order_by(AuditEvent.id.desc()).limit(200)
        ))
        signatures = {d.id: list(db.session.scalars(
            sa.select(Signature).options(joinedload(Signature.user)).where(Signature.document_id == d.id)
            .order_by(Signature.id))) for d in contract.documents}
        html = self.render(
            "admin/contracts/details.html",
            contract=contract,
            documents=list(contract.documents),
            signatures=signatures,
            sign_forms=sign_forms,
            cancel_form=bound.get("cancel") or CancelContractForm(formdata=None, prefix="cancel"),
            can_cancel=CONTRACT_WORKFLOW.allows(contract.status, ContractStatus.CANCELLED),
            hub_name=actor.full_name,
            history=history,
            **LABELS,
        )
        return html, status

    @expose("/<int:contract_id>")
    def details_view(self, contract_id: int) -> ResponseReturnValue:
        """One contract: its three documents, every signature in full, the hub's buttons."""
        return self.render_contract(self._load(contract_id))

    @expose("/<int:contract_id>/documents/<int:document_id>/sign", methods=("POST",))
    def sign(self, contract_id: int, document_id: int) -> ResponseReturnValue:
        """Sign one document as the hub (typed name, consent, the SHA-256 read)."""
        contract = self._load(contract_id)
        document = db.session.get(ContractDocument, document_id)
        if document is None or document.contract_id != contract.id:
            abort(404)
        form = SignForm(prefix=f"d{document.id}")
        if not form.validate():
            form_error_flash()
            return self.render_contract(contract, bound={f"sign-{document.id}": form}, status=400)
        try:
            contracts.sign_document(document.id, actor=current_actor(), typed_name=form.typed_name.data or "",
                                    document_sha256=form.document_sha256.data or "",
                                    user_agent=request.headers.get("User-Agent", ""))
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self.render_contract(self._load(contract_id), bound={f"sign-{document_id}": form},
                                        status=exc.status_code)
        contract = self._load(contract_id)
        if contract.status is ContractStatus.SIGNED:
            flash(_("Signed. Every party has signed: the contract is signed and the three documents are sealed."),
                  "success")
        else:
            flash(_("Signed for the hub."), "success")
        return redirect(self.get_url(".details_view", contract_id=contract_id))

    @expose("/<int:contract_id>/cancel", methods=("POST",))
    def cancel(self, contract_id: int) -> ResponseReturnValue:
        """Cancel the contract with a reason (before it is funded)."""
        contract = self._load(contract_id)
        form = CancelContractForm(prefix="cancel")
        if not form.validate():
            form_error_flash()
            return self.render_contract(contract, bound={"cancel": form}, status=400)
        try:
            contracts.cancel_contract(contract_id, actor=current_actor(), reason=form.reason.data or "")
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self.render_contract(self._load(contract_id), bound={"cancel": form}, status=exc.status_code)
        flash(_("The contract is cancelled. The company and the expert were notified."), "success")
        return redirect(self.get_url(".details_view", contract_id=contract_id))

    @expose("/documents/<int:document_id>/download")
    def download(self, document_id: int) -> ResponseReturnValue:
        """Download a document's original, sealed copy or certificate (``?which=``; logged)."""
        which = request.args.get("which", "original")
        if which not in contracts.FILE_KINDS:
            abort(404)
        try:
            name, data = contracts.open_contract_file(document_id, actor=current_actor(), which=which)
        except NotFound:
            abort(404)
        response: Response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                                       download_name=name, conditional=False, etag=False, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
        return response
