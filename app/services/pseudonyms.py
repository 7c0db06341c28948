"""Pseudonyms for experts ("Expert K7Q2"): the only name companies ever see."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from app.extensions import db
from app.models import ExpertProfile

# No 0/O, 1/I/L: easy to read aloud and to type.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_pseudonym(length: int = 4) -> str:
    """A random code not used by any expert yet (``K7Q2``)."""
    for attempt in range(50):
        size = length if attempt < 40 else length + 1
        code = "".join(secrets.choice(ALPHABET) for _ in range(size))
        taken = db.session.scalar(sa.select(ExpertProfile.id).where(ExpertProfile.pseudonym == code))
        if taken is None:
            return code
    raise RuntimeError("could not find a free pseudonym")
