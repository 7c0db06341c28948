"""The catalog's reference terms, maintained by hub admins; every change is audited.

Terms are never deleted: a retired term stays on the records that use it and
is no longer offered for new ones.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import CatalogKind, CatalogTerm, User
from app.services import audit, uow

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EDITABLE = ("kind", "slug", "name", "name_de", "group", "description")
_LIMITS = {"slug": 80, "name": 160, "name_de": 160, "group": 80}
_FIELD_LABELS = {"slug": _l("Slug"), "name": _l("Name (English)"), "name_de": _l("Name (German)"), "group": _l("Group")}


def create_term(
    *,
    actor: User,
    kind: CatalogKind,
    slug: str,
    name: str,
    name_de: str = "",
    group: str = "",
    description: str = "",
) -> CatalogTerm:
    """Add a term to the catalog.

    :raises PermissionDenied: the actor is not a hub admin.
    :raises ValidationFailed: bad slug, empty name, or the slug is taken for this kind.
    """
    _require_staff(actor)
    values = _clean(
        {"kind": kind, "slug": slug, "name": name, "name_de": name_de, "group": group, "description": description}
    )
    _check_unique(values["kind"], values["slug"], exclude_id=None)
    term = CatalogTerm(**values)
    db.session.add(term)
    db.session.flush()
    audit.record(
        "catalog_term.created",
        actor=actor,
        entity="catalog_terms",
        entity_id=term.id,
        data={k: _plain(v) for k, v in values.items()},
    )
    uow.commit()
    return term


def update_term(term_id: int, *, actor: User, **fields: Any) -> CatalogTerm:
    """Change a term's kind, slug, names, group or description.

    :raises NotFound: no such term.
    :raises PermissionDenied: the actor is not a hub admin.
    :raises ValidationFailed: an unknown field, a bad value or a taken slug.
    """
    term = _load(term_id)
    _require_staff(actor)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(_("These fields cannot be changed here: %(fields)s.", fields=", ".join(sorted(unknown))))
    current = {name: getattr(term, name) for name in EDITABLE}
    values = _clean({**current, **fields})
    if (values["kind"], values["slug"]) != (term.kind, term.slug):
        _check_unique(values["kind"], values["slug"], exclude_id=term.id)
    changes = {
        name: {"from": _plain(current[name]), "to": _plain(values[name])}
        for name in EDITABLE
        if values[name] != current[name]
    }
    if not changes:
        return term
    for name in changes:
        setattr(term, name, values[name])
    audit.record("catalog_term.updated", actor=actor, entity="catalog_terms", entity_id=term.id, data=changes)
    uow.commit()
    return term


def retire_term(term_id: int, *, actor: User) -> CatalogTerm:
    """Stop offering a term for new records (it stays on old ones).

    :raises ValidationFailed: the term is already retired.
    """
    term = _load(term_id)
    _require_staff(actor)
    if term.retired_at is not None:
        raise ValidationFailed(_("“%(name)s” is already retired.", name=term.name))
    term.retired_at = datetime.now(UTC)
    audit.record(
        "catalog_term.retired",
        actor=actor,
        entity="catalog_terms",
        entity_id=term.id,
        data={"kind": term.kind.value, "slug": term.slug},
    )
    uow.commit()
    return term


def restore_term(term_id: int, *, actor: User) -> CatalogTerm:
    """Offer a retired term again.

    :raises ValidationFailed: the term is not retired.
    """
    term = _load(term_id)
    _require_staff(actor)
    if term.retired_at is None:
        raise ValidationFailed(_("“%(name)s” is not retired; there is nothing to restore.", name=term.name))
    term.retired_at = None
    audit.record(
        "catalog_term.restored",
        actor=actor,
        entity="catalog_terms",
        entity_id=term.id,
        data={"kind": term.kind.value, "slug": term.slug},
    )
    uow.commit()
    return term


def _load(term_id: int) -> CatalogTerm:
    term = db.session.get(CatalogTerm, term_id, with_for_update=True)
    if term is None:
        raise NotFound(_("This catalog term does not exist."))
    return term


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise PermissionDenied(_("Only hub admins can change the catalog."))


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    out = {name: (value or "").strip() if name != "kind" else value for name, value in values.items()}
    try:
        out["kind"] = CatalogKind(out["kind"])
    except ValueError as exc:
        raise ValidationFailed(_("Unknown catalog kind “%(kind)s”.", kind=out["kind"])) from exc
    out["slug"] = out["slug"].lower()
    if not SLUG_RE.match(out["slug"]):
        raise ValidationFailed(
            _("The slug may contain only lowercase letters, digits and single hyphens (e.g. “injection-molding”).")
        )
    if not out["name"]:
        raise ValidationFailed(_("The term needs a name."))
    for name, limit in _LIMITS.items():
        if len(out[name]) > limit:
            raise ValidationFailed(
                _("“%(field)s” is too long (at most %(limit)d characters).", field=_FIELD_LABELS[name], limit=limit)
            )
    return out


def _check_unique(kind: CatalogKind, slug: str, *, exclude_id: int | None) -> None:
    query = sa.select(CatalogTerm.id).where(CatalogTerm.kind == kind, CatalogTerm.slug == slug)
    if exclude_id is not None:
        query = query.where(CatalogTerm.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise ValidationFailed(_("The slug “%(slug)s” is already used by another term of this kind.", slug=slug))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, CatalogKind) else value
