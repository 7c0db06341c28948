"""The expert blueprint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("expert", __name__)
