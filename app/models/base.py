"""The declarative base for models, typed for mypy.

Flask-SQLAlchemy builds ``db.Model`` from our ``Base`` at run time; mypy cannot
see through that, so type checkers are shown ``Base`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.extensions import db

if TYPE_CHECKING:
    from app.extensions import Base as Model
else:
    Model = db.Model

__all__ = ["Model"]
