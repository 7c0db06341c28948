"""Matching quality: mean NDCG@10 of the index against a skills-overlap baseline on the evaluation set."""

from __future__ import annotations

import math

from app.matching.index import ExpertIndex
from app.matching.records import ExpertRecord, JobQuery, effective_required
from tests.matching.eval_set import TODAY, build


def ndcg_at_10(ranked_ids: list[int], grades: dict[int, int]) -> float:
    def dcg(gains: list[int]) -> float:
        return sum((2**g - 1) / math.log2(pos + 2) for pos, g in enumerate(gains[:10]))

    ideal = dcg(sorted(grades.values(), reverse=True))
    return dcg([grades.get(e, 0) for e in ranked_ids]) / ideal if ideal else 0.0


def baseline(records: list[ExpertRecord], query: JobQuery) -> list[int]:
    """Count of required terms the expert has, ties by id, no filters."""
    required = effective_required(query)
    scored = sorted(records, key=lambda r: (-sum(1 for t in required if t in r.terms), r.expert_id))
    return [r.expert_id for r in scored[:10]]


def test_ndcg_beats_the_skills_overlap_baseline() -> None:
    records, jobs = build()
    assert len(jobs) >= 30
    index = ExpertIndex.build(records)
    ours: list[float] = []
    base: list[float] = []
    for job in jobs:
        ranking = index.rank(job.query, top_n=10, today=TODAY)
        top = [r.expert_id for r in ranking.ranked]
        assert job.conflict_trap not in top and job.language_trap not in top, job.query.job_id
        reasons = {e.expert_id: e.reason for e in ranking.excluded}
        assert reasons.get(job.conflict_trap) == "conflict"
        assert reasons.get(job.language_trap) == "language"
        assert job.over_budget in job.grades and job.grades[job.over_budget] == 1
        ours.append(ndcg_at_10(top, job.grades))
        base.append(ndcg_at_10(baseline(records, job.query), job.grades))
    mean_ours = sum(ours) / len(ours)
    mean_base = sum(base) / len(base)
    message = (f"mean NDCG@10 over {len(jobs)} jobs: ExpertIndex {mean_ours:.3f}, "
               f"skills-overlap baseline {mean_base:.3f}")
    print(message)
    assert mean_ours >= 0.8, message
    assert mean_ours >= mean_base + 0.1, message
