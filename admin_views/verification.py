"""The verification queues: companies and experts, oldest waiting first.

The details page shows every field, the documents previewed inline and one
small POST form per decision the workflow allows from the current state. Each
form posts to an ``@expose`` endpoint that validates it and calls one service;
nothing here writes a status.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.base import AdminViewMeta
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm

from admin_views.base import (
    SecureModelView,
    current_actor,
    details_link,
    dynamic_options,
    form_error_flash,
    run_decision,
    status_badge,
)
from admin_views.queries import entity_history
from app.extensions import db
from app.models import Company, Document, DocumentReview, ExpertProfile, User, VerificationStatus
from app.services import companies, experts
from app.workflows.base import Workflow
from app.workflows.verification import COMPANY_WORKFLOW, EXPERT_WORKFLOW
from forms.admin import DocumentRejectForm, NoteForm, QuestionForm, ReasonForm
from forms.experts import LEVEL_LABELS, PROFICIENCY_LABELS, RELATION_LABELS

S = VerificationStatus
# The admin acts on these; they come first in the queue.
WAITING = (S.PENDING_VERIFICATION, S.INFO_REQUESTED)


@dataclass(frozen=True)
class Decision:
    """A button on the details page: the transition it asks for and the form it needs."""

    name: str
    label: LazyString
    target: VerificationStatus
    form: type[FlaskForm]
    style: str
    done: LazyString
    # The states it is offered from; approve and reinstate share a target, not a source.
    sources: frozenset[VerificationStatus] | None = None

    def offered(self, workflow: Workflow[VerificationStatus], status: VerificationStatus) -> bool:
        """Whether the workflow allows this decision from ``status``."""
        return workflow.allows(status, self.target) and (self.sources is None or status in self.sources)

    def make_form(self, *, bound: bool = False) -> FlaskForm:
        """The decision's form; unbound forms never pick up another form's POST data."""
        if bound:
            return self.form(prefix=self.name)
        return self.form(formdata=None, prefix=self.name)


DECISIONS: tuple[Decision, ...] = (
    Decision(
        "approve",
        _l("Approve"),
        S.APPROVED,
        NoteForm,
        "success",
        _l("Approved. The applicant was notified."),
        frozenset(S) - {S.SUSPENDED},
    ),
    Decision(
        "request_info",
        _l("Request information"),
        S.INFO_REQUESTED,
        QuestionForm,
        "info",
        _l("Question sent. The applicant was notified and the case waits for their answer."),
    ),
    Decision(
        "reject",
        _l("Reject"),
        S.REJECTED,
        ReasonForm,
        "danger",
        _l("Rejected. The applicant was told why."),
    ),
    Decision(
        "suspend",
        _l("Suspend"),
        S.SUSPENDED,
        ReasonForm,
        "warning",
        _l("Suspended. The account holder was told why."),
    ),
    Decision(
        "reinstate",
        _l("Reinstate"),
        S.APPROVED,
        NoteForm,
        "success",
        _l("Reinstated. The account holder was notified."),
        frozenset({S.SUSPENDED}),
    ),
)
DECISIONS_BY_NAME = {d.name: d for d in DECISIONS}


def _country_options(model: type[Company] | type[ExpertProfile]) -> Callable[[], list[tuple[str, str]]]:
    def options() -> list[tuple[str, str]]:
        countries = db.session.scalars(
            sa.select(model.country).where(model.country != "").distinct().order_by(model.country)
        )
        return [(c, c) for c in countries]

    return dynamic_options(options)


class _AbstractViewMeta(AdminViewMeta, abc.ABCMeta):
    """Flask-Admin's view metaclass, with abstract methods enforced."""


class VerificationView(SecureModelView, metaclass=_AbstractViewMeta):
    """Shared queue behaviour; subclasses name the model, workflow and service functions."""

    can_create = False
    can_edit = False
    can_delete = False
    column_editable_list: ClassVar[list[str]] = []
    form_excluded_columns = ("status", "submitted_at", "decided_at", "decided_by", "status_note", "version")
    column_formatters: ClassVar[dict[str, Any]] = {
        "status": status_badge,
        "name": details_link,
        "pseudonym": details_link,
    }
    details_template = "admin/verification/details.html"
    list_template = "admin/verification/list.html"

    workflow: ClassVar[Workflow[VerificationStatus]]
    service_module: ClassVar[ModuleType]
    service_functions: ClassVar[dict[str, str]]
    entity_label: ClassVar[LazyString]

    # Queue order: waiting cases first, then oldest submission first ------------------
    def _apply_sorting(self, query: Any, joins: Any, sort_column: Any, sort_desc: bool) -> tuple[Any, Any]:
        if sort_column is not None:
            return super()._apply_sorting(query, joins, sort_column, sort_desc)
        model = self.model
        waiting_first = sa.case((model.status.in_(WAITING), 0), else_=1)
        pending_first = sa.case((model.status == S.PENDING_VERIFICATION, 0), else_=1)
        query = query.order_by(
            waiting_first, pending_first, model.submitted_at.is_(None), model.submitted_at.asc(), model.id.asc()
        )
        return query, joins

    # Service lookup (imported lazily: the services are a separate module) ------------
    def service(self, name: str, module: ModuleType | None = None) -> Callable[..., Any]:
        func: Callable[..., Any] = getattr(module or self.service_module, name)
        return func

    # Pages -----------------------------------------------------------------------------
    def load(self, obj_id: int) -> Any:
        obj = db.session.get(self.model, obj_id)
        if obj is None:
            abort(404)
        return obj

    def documents_of(self, obj: Any) -> list[Document]:
        return [doc for doc in obj.documents if doc.removed_at is None]

    @abc.abstractmethod
    def people_of(self, obj: Any) -> list[User]:
        """The accounts behind a case (a company's users, an expert's own account)."""

    @expose("/details/")
    def details_view(self) -> ResponseReturnValue:
        obj_id = request.args.get("id", type=int)
        if obj_id is None:
            return redirect(self.get_url(".index_view"))
        return self.render_details(self.load(obj_id))

    def render_details(
        self,
        obj: Any,
        *,
        bound: dict[str, FlaskForm] | None = None,
        doc_forms: dict[int, FlaskForm] | None = None,
        status: int = 200,
    ) -> ResponseReturnValue:
        bound = bound or {}
        decisions = [d for d in DECISIONS if d.offered(self.workflow, obj.status)]
        forms = {d.name: bound.get(d.name) or d.make_form() for d in decisions}
        documents = self.documents_of(obj)
        reject_forms = {
            doc.id: (doc_forms or {}).get(doc.id) or DocumentRejectForm(formdata=None, prefix=f"doc{doc.id}")
            for doc in documents
        }
        history = entity_history(self.model.__tablename__, obj.id, document_ids=[doc.id for doc in all_docs(obj)])
        html = self.render(
            self.details_template,
            model=obj,
            decisions=decisions,
            forms=forms,
            documents=documents,
            reject_forms=reject_forms,
            accept_form=NoteForm(formdata=None, prefix="accept"),
            history=history,
            people=self.people_of(obj),
            return_url=get_redirect_target() or self.get_url(".index_view"),
            entity_label=self.entity_label,
            review_states=DocumentReview,
            can_review_documents=obj.status in WAITING,
            document_label=companies.document_label,
            level_labels=LEVEL_LABELS,
            proficiency_labels=PROFICIENCY_LABELS,
            relation_labels=RELATION_LABELS,
        )
        return html, status

    # Decisions -------------------------------------------------------------------------
    @expose("/<int:obj_id>/decide/<decision>", methods=("POST",))
    def decide(self, obj_id: int, decision: str) -> ResponseReturnValue:
        spec = DECISIONS_BY_NAME.get(decision)
        if spec is None:
            abort(404)
        obj = self.load(obj_id)
        form = spec.make_form(bound=True)
        if not form.validate():
            form_error_flash()
            return self.render_details(obj, bound={spec.name: form}, status=400)
        fields = {name: (field.data or "").strip() for name, field in form._fields.items() if name != "csrf_token"}
        func = self.service(self.service_functions[spec.name])
        run_decision(lambda: func(obj_id, actor=current_actor(), **fields), str(spec.done))
        return redirect(self.get_url(".details_view", id=obj_id))

    # Documents -------------------------------------------------------------------------
    @abc.abstractmethod
    def owner_of(self, document: Document) -> int | None:
        """The id of the case a document belongs to, when it belongs to this queue."""

    def load_document(self, document_id: int) -> tuple[Document, int]:
        document = db.session.get(Document, document_id)
        owner_id = self.owner_of(document) if document is not None else None
        if document is None or owner_id is None or document.removed_at is not None:
            abort(404)
        return document, owner_id

    @expose("/documents/<int:document_id>/accept", methods=("POST",))
    def accept_document(self, document_id: int) -> ResponseReturnValue:
        _document, owner_id = self.load_document(document_id)
        form = NoteForm(prefix="accept")
        if not form.validate():
            form_error_flash()
            return redirect(self.get_url(".details_view", id=owner_id))
        review = companies.review_document  # reviews company and expert documents alike
        run_decision(
            lambda: review(document_id, actor=current_actor(), accepted=True, note=(form.note.data or "").strip()),
            _("Document accepted."),
        )
        return redirect(self.get_url(".details_view", id=owner_id) + f"#document-{document_id}")

    @expose("/documents/<int:document_id>/reject", methods=("POST",))
    def reject_document(self, document_id: int) -> ResponseReturnValue:
        _document, owner_id = self.load_document(document_id)
        form = DocumentRejectForm(prefix=f"doc{document_id}")
        if not form.validate():
            form_error_flash()
            return self.render_details(self.load(owner_id), doc_forms={document_id: form}, status=400)
        review = companies.review_document  # reviews company and expert documents alike
        run_decision(
            lambda: review(document_id, actor=current_actor(), accepted=False, note=form.note.data.strip()),
            _("Document rejected. The uploader was told why."),
        )
        return redirect(self.get_url(".details_view", id=owner_id) + f"#document-{document_id}")


def all_docs(obj: Company | ExpertProfile) -> list[Document]:
    """Every document ever uploaded, removed ones included (their history stays visible)."""
    return list(obj.documents)


class CompanyVerificationView(VerificationView):
    workflow = COMPANY_WORKFLOW
    service_module: ClassVar[ModuleType] = companies
    service_functions: ClassVar[dict[str, str]] = {
        "approve": "approve_company",
        "reject": "reject_company",
        "request_info": "request_company_info",
        "suspend": "suspend_company",
        "reinstate": "reinstate_company",
    }
    entity_label = _l("company")
    details_template = "admin/verification/company.html"

    column_list = ("id", "name", "legal_name", "country", "vat_id", "status", "submitted_at", "decided_at")
    column_sortable_list = ("id", "name", "country", "status", "submitted_at", "decided_at")
    column_searchable_list = ("name", "legal_name", "vat_id", "registration_number", "contact_email")
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "name": _l("Name"),
        "legal_name": _l("Legal name"),
        "country": _l("Country"),
        "vat_id": _l("VAT ID"),
        "registration_number": _l("Registration number"),
        "contact_email": _l("Contact e-mail"),
        "status": _l("Status"),
        "submitted_at": _l("Submitted"),
        "decided_at": _l("Decided"),
    }
    column_filters = (
        "status",
        FilterEqual(Company.country, _l("Country"), options=_country_options(Company)),
        "submitted_at",
    )

    def people_of(self, obj: Any) -> list[User]:
        return sorted(obj.users, key=lambda u: (u.company_role != "owner", u.id))

    def owner_of(self, document: Document) -> int | None:
        return document.company_id


class ExpertVerificationView(VerificationView):
    workflow = EXPERT_WORKFLOW
    service_module: ClassVar[ModuleType] = experts
    service_functions: ClassVar[dict[str, str]] = {
        "approve": "approve_expert",
        "reject": "reject_expert",
        "request_info": "request_expert_info",
        "suspend": "suspend_expert",
        "reinstate": "reinstate_expert",
    }
    entity_label = _l("expert")
    column_select_related_list = (ExpertProfile.user,)
    details_template = "admin/verification/expert.html"

    column_list = ("id", "pseudonym", "user.full_name", "user.email", "headline", "country", "status", "submitted_at")
    column_sortable_list = ("id", "pseudonym", "country", "status", "submitted_at")
    column_searchable_list = ("pseudonym", "headline", "user.full_name", "user.email")
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "pseudonym": _l("Pseudonym"),
        "user.full_name": _l("Name"),
        "user.email": _l("E-mail"),
        "headline": _l("Headline"),
        "country": _l("Country"),
        "status": _l("Status"),
        "submitted_at": _l("Submitted"),
    }
    column_filters = (
        "status",
        FilterEqual(ExpertProfile.country, _l("Country"), options=_country_options(ExpertProfile)),
        "submitted_at",
    )

    def people_of(self, obj: Any) -> list[User]:
        return [obj.user]

    def owner_of(self, document: Document) -> int | None:
        return document.expert_id
