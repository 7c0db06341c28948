"""The catalog: reference terms (industries, skills, materials, ...) that admins maintain.

Reference data may use Flask-Admin's create and edit forms; saving goes
through ``app.services.catalog`` so every change is validated and audited.
Terms are never deleted, only retired and restored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask import abort, flash, redirect
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import Form, SelectChoice, SelectField
from wtforms.validators import DataRequired, Length, Regexp

from admin_views.base import SecureModelView, current_actor, form_error_flash, run_decision
from admin_views.labels import CATALOG_KIND_LABELS, enum_filters, label_formatter
from app.exceptions import DomainError
from app.extensions import db
from app.models import CatalogTerm
from app.services import catalog, uow
from forms.admin import ConfirmForm


def _state(view: Any, context: Any, model: CatalogTerm, name: str) -> Markup:
    if model.retired_at is not None:
        return Markup('<span class="badge badge-secondary">{}</span>').format(_("Retired"))
    return Markup('<span class="badge badge-success">{}</span>').format(_("In use"))


class CatalogTermView(SecureModelView):
    """Create and edit terms; retire or restore them (no delete: old records keep their terms)."""

    can_create = True
    can_edit = True
    can_delete = False
    list_template = "admin/catalog/list.html"
    column_list = ("id", "kind", "slug", "name", "name_de", "group", "state", "updated_at")
    column_details_list = (
        "id",
        "kind",
        "slug",
        "name",
        "name_de",
        "group",
        "description",
        "state",
        "created_at",
        "updated_at",
        "retired_at",
    )
    column_sortable_list = ("id", "kind", "slug", "name", "group", "updated_at")
    column_default_sort = [("kind", False), ("name", False)]
    column_searchable_list = ("slug", "name", "name_de", "group")
    column_filters = (*enum_filters(CatalogTerm.kind, _l("Kind"), CATALOG_KIND_LABELS), "group", "retired_at")
    column_formatters: ClassVar[dict[str, Any]] = {"state": _state, "kind": label_formatter(CATALOG_KIND_LABELS)}
    column_formatters_detail = column_formatters
    form_columns = ("kind", "slug", "name", "name_de", "group", "description")
    # A plain select: Flask-Admin's Select2 field yields raw tuples, which WTForms deprecates.
    form_overrides: ClassVar[dict[str, Any]] = {"kind": SelectField}
    form_args: ClassVar[dict[str, Any]] = {
        "slug": {
            "label": _l("Slug"),
            "validators": [
                DataRequired(message=_l("Give the term a slug.")),
                Length(max=80),
                Regexp(
                    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
                    message=_l("Use only lowercase letters, digits and single hyphens (e.g. injection-molding)."),
                ),
            ],
            "description": _l("Stable identifier used in data and links; lowercase, digits and hyphens."),
        },
        "name": {
            "label": _l("Name (English)"),
            "validators": [DataRequired(message=_l("Give the term a name.")), Length(max=160)],
        },
        "name_de": {"label": _l("Name (German)"), "validators": [Length(max=160)]},
        "group": {
            "label": _l("Group"),
            "validators": [Length(max=80)],
            "description": _l("Optional grouping inside a kind (a defect's process, a material's family)."),
        },
        "kind": {
            "label": _l("Kind"),
            "choices": [SelectChoice(value, text) for value, text in CATALOG_KIND_LABELS.items()],
            "validators": [DataRequired(message=_l("Choose the kind of term."))],
        },
        "description": {"label": _l("Description")},
    }
    column_labels: ClassVar[dict[str, Any]] = {
        "id": _l("ID"),
        "kind": _l("Kind"),
        "slug": _l("Slug"),
        "name": _l("Name"),
        "name_de": _l("Name (German)"),
        "group": _l("Group"),
        "description": _l("Description"),
        "state": _l("State"),
        "created_at": _l("Created"),
        "updated_at": _l("Changed"),
        "retired_at": _l("Retired"),
    }

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("state_form", ConfirmForm(formdata=None, prefix="state"))
        return super().render(template, **kwargs)

    # Saving goes through the catalog service (validated, audited, one commit) ------------
    @staticmethod
    def _values(form: Form) -> dict[str, Any]:
        return {name: form[name].data for name in CatalogTermView.form_columns if name in form}

    def create_model(self, form: Form) -> CatalogTerm | bool:
        try:
            return catalog.create_term(actor=current_actor(), **self._values(form))
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return False

    def update_model(self, form: Form, model: CatalogTerm) -> bool:
        try:
            catalog.update_term(model.id, actor=current_actor(), **self._values(form))
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return False
        return True

    def delete_model(self, model: CatalogTerm) -> bool:
        flash(_("Catalog terms are never deleted; retire the term instead."), "danger")
        return False

    # Retire / restore ------------------------------------------------------------------
    def _state_change(self, term_id: int, retire: bool) -> ResponseReturnValue:
        if db.session.get(CatalogTerm, term_id) is None:
            abort(404)
        back = get_redirect_target() or self.get_url(".index_view")
        form = ConfirmForm(prefix="state")
        if not form.validate():
            form_error_flash()
            return redirect(back)
        if retire:
            run_decision(
                lambda: catalog.retire_term(term_id, actor=current_actor()),
                _("Term retired: it stays on existing records and is no longer offered."),
            )
        else:
            run_decision(
                lambda: catalog.restore_term(term_id, actor=current_actor()),
                _("Term restored: it is offered again."),
            )
        return redirect(back)

    @expose("/<int:term_id>/retire", methods=("POST",))
    def retire(self, term_id: int) -> ResponseReturnValue:
        return self._state_change(term_id, retire=True)

    @expose("/<int:term_id>/restore", methods=("POST",))
    def restore(self, term_id: int) -> ResponseReturnValue:
        return self._state_change(term_id, retire=False)
