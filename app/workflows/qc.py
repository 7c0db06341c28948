"""The quality-control expert of a project (WORKFLOW.md §7–9).

qc: nda_pending -sign-> active -remove-> removed
    nda_pending -withdraw-> removed
"""

from __future__ import annotations

from app.models.projects import QcStatus as Q
from app.workflows.base import Workflow

QC_TRANSITIONS = {
    Q.NDA_PENDING: {Q.ACTIVE, Q.REMOVED},
    Q.ACTIVE: {Q.REMOVED},
    Q.REMOVED: set(),
}
QC_WORKFLOW = Workflow("qc_assignment", QC_TRANSITIONS)
