"""The company blueprint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("company", __name__)
