"""Expert matching: rank every vetted expert against a job (pure compute; only the loader reads the DB).

See :mod:`app.matching.index` for the rules, :mod:`app.matching.cache` for the
shared, fingerprinted index, and PERFORMANCE.md §1.3 for why it is built this way.
"""

from app.matching.conflicts import names_match, normalise_company_name
from app.matching.index import ExpertIndex
from app.matching.records import (
    CRITERIA,
    DEFAULT_WEIGHTS,
    LEVELS,
    PROFICIENCY,
    ExcludedExpert,
    ExpertRecord,
    JobQuery,
    RankedExpert,
    Ranking,
)
from app.matching.reference import rank_reference

__all__ = [
    "CRITERIA",
    "DEFAULT_WEIGHTS",
    "LEVELS",
    "PROFICIENCY",
    "ExcludedExpert",
    "ExpertIndex",
    "ExpertRecord",
    "JobQuery",
    "RankedExpert",
    "Ranking",
    "names_match",
    "normalise_company_name",
    "rank_reference",
]
