"""The matching engine: each criterion, the hard filters, vectorised == reference, sharing, loader and cache."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.matching import cache
from app.matching.conflicts import names_match, normalise_company_name
from app.matching.index import ExpertIndex
from app.matching.records import DEFAULT_WEIGHTS, ExpertRecord, JobQuery, working_days
from app.matching.reference import rank_reference
from app.matching.text import tokenize

TODAY = date(2026, 1, 1)


def rec(expert_id: int, **kw: Any) -> ExpertRecord:
    values: dict[str, Any] = {
        "terms": {}, "languages": {"en": 7}, "employers": (), "day_rate_minor": 100000, "currency": "EUR",
        "available_from": None, "capacity_days_per_week": 5, "years_experience": 20, "text": "",
    }
    values.update(kw)
    return ExpertRecord(expert_id=expert_id, **values)


def job(**kw: Any) -> JobQuery:
    values: dict[str, Any] = {
        "job_id": 1, "category": "problem_solving", "title_term_id": None, "required_terms": {},
        "languages": {}, "budget_minor": None, "currency": "EUR", "start_date": None, "completion_date": None,
        "text": "", "company_names": ("Keller Kunststofftechnik GmbH & Co. KG",),
    }
    values.update(kw)
    return JobQuery(**values)


def both(records: list[ExpertRecord], query: JobQuery, weights: Any = None, top_n: int = 50) -> Any:
    ours = ExpertIndex.build(records).rank(query, weights, top_n=top_n, today=TODAY)
    ref = rank_reference(records, query, weights, top_n=top_n, today=TODAY)
    assert [r.expert_id for r in ours.ranked] == [r.expert_id for r in ref.ranked]
    for a, b in zip(ours.ranked, ref.ranked, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-9)
        assert a.breakdown == pytest.approx(b.breakdown, abs=1e-9)
        assert a.details == b.details
    assert [(e.expert_id, e.reason, e.detail) for e in ours.excluded] == \
        [(e.expert_id, e.reason, e.detail) for e in ref.excluded]
    assert ours.excluded_counts == ref.excluded_counts
    return ours


def by_id(ranking: Any) -> dict[int, Any]:
    return {r.expert_id: r for r in ranking.ranked}


# Criteria ----------------------------------------------------------------------------------------


def test_every_criterion_on_hand_built_records() -> None:
    a = rec(1, terms={10: 2, 20: 4, 30: 1}, languages={"de": 7, "en": 4}, day_rate_minor=150000,
            available_from=date(2026, 1, 8), capacity_days_per_week=2, years_experience=10,
            completed_by_category={"problem_solving": 1}, completed_terms={30: 2}, rating=4.0, rating_count=3)
    b = rec(2, terms={10: 4, 20: 3, 21: 2, 30: 2}, languages={"de": 4, "en": 5}, day_rate_minor=50000)
    c = rec(3, languages={"de": 4, "en": 5}, day_rate_minor=999999, suspended=True)
    d = rec(4, languages={"de": 4, "en": 5}, typical_price_minor=800000, capacity_days_per_week=0)
    e = rec(5, languages={"de": 4, "en": 5}, currency="USD")
    f = rec(6, languages={"de": 4, "en": 5}, day_rate_minor=None)
    query = job(title_term_id=10, required_terms={20: 3, 21: 2}, process_term_id=30,
                languages={"de": 4, "en": 5}, budget_minor=1_000_000,
                start_date=date(2026, 1, 5), completion_date=date(2026, 1, 16))
    ranking = both([a, b, c, d, e, f], query)
    got = by_id(ranking)
    ba = got[1].breakdown
    assert ba["title"] == pytest.approx(2 / 3)
    assert ba["skills"] == pytest.approx((3 + 0 + 2 * 0.5) / 7)  # process term required at intermediate
    assert ba["experience"] == pytest.approx(0.4 * 0.5 + 0.4 * (1 - math.exp(-1)) + 0.2 * 0.625)
    assert ba["languages"] == pytest.approx((1 + 4 / 5) / 2)
    # median rate of the non-suspended population = 100000; effort = min(1e6 / 1e5, 10 working days) = 10
    assert got[1].details["effort_days"] == 10
    assert got[1].details["estimated_price_minor"] == 1_500_000
    assert ba["price"] == pytest.approx(0.5)
    assert ba["availability"] == pytest.approx((1 - 3 / 11) * (0.5 + 0.5 * 2 / 3))
    assert got[1].details["days_late"] == 3
    assert got[1].details["missing_terms"] == [21]
    assert got[1].details["below_level_terms"] == [30]
    bb = got[2].breakdown
    assert bb["title"] == 1.0 and bb["skills"] == 1.0 and bb["price"] == 1.0 and bb["availability"] == 1.0
    assert bb["experience"] == pytest.approx(0.4 + 0.2 * 0.5)
    assert got[4].breakdown["price"] == 1.0  # typical price 800000 within budget
    assert got[4].breakdown["availability"] == 0.0  # no capacity
    assert got[5].breakdown["price"] == 0.5 and got[5].details["currency_mismatch"] is True
    assert got[6].breakdown["price"] == 0.5
    for r in ranking.ranked:
        expected = sum(DEFAULT_WEIGHTS[k] * v for k, v in r.breakdown.items()) / sum(DEFAULT_WEIGHTS.values())
        assert r.score == pytest.approx(expected)
    assert [r.expert_id for r in ranking.ranked][0] == 2
    assert ranking.excluded_counts == {"suspended": 1, "conflict": 0, "language": 0}
    assert ranking.considered == 6


def test_title_defaults_to_senior_and_languages_to_one() -> None:
    ranking = both([rec(1, terms={10: 2}), rec(2, terms={10: 4}), rec(3)], job(title_term_id=10))
    got = by_id(ranking)
    assert got[1].breakdown["title"] == pytest.approx(2 / 3)
    assert got[2].breakdown["title"] == 1.0
    assert got[3].breakdown["title"] == 0.0
    assert all(r.breakdown["languages"] == 1.0 for r in ranking.ranked)
    assert all(r.breakdown["price"] == 0.5 for r in ranking.ranked)  # no budget


def test_availability_without_dates_starts_today() -> None:
    ranking = both([rec(1, available_from=TODAY + timedelta(days=7)), rec(2, available_from=TODAY)], job())
    got = by_id(ranking)
    assert got[1].breakdown["availability"] == pytest.approx(1 - 7 / 28)
    assert got[2].breakdown["availability"] == 1.0


def test_text_cosine() -> None:
    records = [rec(1, text="gate freeze study nylon"), rec(2, text="blow molding bottles"),
               rec(3, text="gate freeze study nylon")]
    ranking = both(records, job(text="Gate freeze study on nylon"), {k: 0.0 for k in DEFAULT_WEIGHTS} | {"text": 1})
    got = by_id(ranking)
    assert got[1].breakdown["text"] == pytest.approx(1.0)
    assert got[2].breakdown["text"] == 0.0
    assert [r.expert_id for r in ranking.ranked] == [1, 3, 2]  # tie broken by id
    assert tokenize("Die Moulds und the Studies") == ["mould", "study"]


def test_working_days() -> None:
    assert working_days(date(2026, 1, 5), date(2026, 1, 16)) == 10
    assert working_days(date(2026, 1, 10), date(2026, 1, 11)) == 0
    assert working_days(date(2026, 1, 16), date(2026, 1, 5)) == 0


def test_zero_weights_drop_criteria() -> None:
    records = [rec(1, terms={20: 4}), rec(2, terms={20: 1}, years_experience=40)]
    only_skills = {k: 0.0 for k in DEFAULT_WEIGHTS} | {"skills": 3.0}
    ranking = both(records, job(required_terms={20: 4}), only_skills)
    assert set(ranking.ranked[0].breakdown) == {"skills"}
    assert ranking.ranked[0].score == 1.0 and ranking.ranked[1].score == 0.25
    with pytest.raises(ValueError):
        ExpertIndex.build(records).rank(job(), {k: 0.0 for k in DEFAULT_WEIGHTS}, today=TODAY)
    with pytest.raises(ValueError):
        ExpertIndex.build(records).rank(job(), {"charm": 1.0}, today=TODAY)


# Hard filters --------------------------------------------------------------------------------------


def test_filters_and_excluded_list() -> None:
    records = [
        rec(1, terms={20: 4}, employers=(("Keller GmbH", "current"),)),
        rec(2, terms={20: 4}, employers=(("KELLER Kunststofftechnik", "former"),)),
        rec(3, terms={20: 4}, languages={"en": 7}),
        rec(4, terms={20: 4}, languages={"de": 7}, suspended=True),
        rec(5, terms={20: 1}, languages={"de": 7}),
        rec(6, terms={}, languages={"de": 7}, employers=(("Acme Plastics Ltd", "supplier"),)),
    ]
    query = job(required_terms={20: 4}, languages={"de": 4})
    ranking = both(records, query)
    assert [r.expert_id for r in ranking.ranked] == [5, 6]
    reasons = {e.expert_id: (e.reason, e.detail) for e in ranking.excluded}
    assert reasons[1] == ("conflict", "Declared current employer “Keller GmbH” matches the company")
    assert reasons[2][0] == "conflict" and "former" in reasons[2][1]
    assert reasons[3] == ("language", "Does not speak the required language(s): de (at least B2)")
    assert reasons[4][0] == "suspended"
    assert ranking.excluded_counts == {"conflict": 2, "language": 1, "suspended": 1}
    assert all(e.score > 0 for e in ranking.excluded)


def test_low_scoring_exclusions_are_counted_but_conflicts_always_listed() -> None:
    records = [rec(i, terms={20: 4}, languages={"de": 7}) for i in range(1, 6)]
    records += [rec(10, terms={}, languages={"en": 7}), rec(11, employers=(("Keller", "competitor"),))]
    ranking = both(records, job(required_terms={20: 4}, languages={"de": 4}), top_n=3)
    assert [r.expert_id for r in ranking.ranked] == [1, 2, 3]
    assert [(e.expert_id, e.reason) for e in ranking.excluded] == [(11, "conflict")]
    # 11 also lacks German, but a conflict takes precedence; 10 scored too low to be listed.
    assert ranking.excluded_counts == {"conflict": 1, "language": 1, "suspended": 0}


# Vectorised == reference ------------------------------------------------------------------------------


def random_population(seed: int, n: int) -> tuple[list[ExpertRecord], list[JobQuery]]:
    rnd = random.Random(seed)
    words = "mold gate flash sink warpage pa66 extrusion screw barrel cooling drying resin polymer tool".split()
    companies = ["Keller GmbH", "Acme Plastics Ltd", "Müller Kunststofftechnik GmbH & Co. KG", "Borealis AG",
                 "Kunststofftechnik Müller"]
    records = [
        rec(
            i * 3 + 1,
            terms={t: rnd.randint(1, 4) for t in rnd.sample(range(30), rnd.randint(0, 8))},
            languages={c: rnd.randint(1, 7) for c in rnd.sample(["de", "en", "fr"], rnd.randint(1, 3))},
            employers=tuple((rnd.choice(companies), rnd.choice(["current", "former", "competitor", "supplier"]))
                            for _ in range(1 if rnd.random() < 0.15 else 0)),
            day_rate_minor=rnd.choice([None, 50000, 80000, 120000]),
            currency=rnd.choice(["EUR", "EUR", "USD"]),
            available_from=rnd.choice([None, TODAY + timedelta(days=rnd.randint(0, 90))]),
            capacity_days_per_week=rnd.randint(0, 5),
            years_experience=rnd.randint(0, 30),
            text=" ".join(rnd.choices(words, k=12)),
            suspended=rnd.random() < 0.05,
            rating=rnd.choice([None, 4.5, 2.0]),
            rating_count=rnd.randint(0, 5),
            typical_price_minor=rnd.choice([None] * 5 + [300000]),
            completed_by_category={"training": rnd.randint(0, 2)},
            completed_terms={3: rnd.randint(0, 2)},
        )
        for i in range(n)
    ]
    jobs = [
        job(
            job_id=j,
            category=rnd.choice(["training", "problem_solving"]),
            title_term_id=rnd.choice([None, 1, 2]),
            required_terms={t: rnd.randint(1, 4) for t in rnd.sample(range(30), rnd.randint(0, 5))},
            languages={c: rnd.randint(1, 6) for c in rnd.sample(["de", "en", "fr"], rnd.randint(0, 2))},
            budget_minor=rnd.choice([None, 500000, 1000000]),
            start_date=rnd.choice([None, date(2026, 1, 20)]),
            completion_date=rnd.choice([None, date(2026, 3, 1)]),
            text=" ".join(rnd.choices(words, k=8)),
            company_names=(rnd.choice(companies),),
            process_term_id=3,
            material_term_id=rnd.choice([None, 4]),
        )
        for j in range(25)
    ]
    return records, jobs


def test_vectorised_equals_reference_on_random_records() -> None:
    records, jobs = random_population(1, 400)
    index = ExpertIndex.build(records)
    for query in jobs:
        for top_n in (10, 50):
            ours = index.rank(query, top_n=top_n, today=TODAY)
            ref = rank_reference(records, query, top_n=top_n, today=TODAY)
            assert [r.expert_id for r in ours.ranked[:10]] == [r.expert_id for r in ref.ranked[:10]]
            assert [r.expert_id for r in ours.ranked] == [r.expert_id for r in ref.ranked]
            for a, b in zip(ours.ranked, ref.ranked, strict=True):
                assert abs(a.score - b.score) < 1e-9
                assert a.details == b.details
            assert [(e.expert_id, e.reason) for e in ours.excluded] == [(e.expert_id, e.reason) for e in ref.excluded]
            assert ours.excluded_counts == ref.excluded_counts


def test_determinism_and_ties_by_id() -> None:
    records = [rec(i, terms={20: 3}) for i in (9, 3, 7, 1)]
    ranking = both(records, job(required_terms={20: 3}))
    assert [r.expert_id for r in ranking.ranked] == [1, 3, 7, 9]
    assert [r.rank for r in ranking.ranked] == [1, 2, 3, 4]
    again = ExpertIndex.build(list(reversed(records))).rank(job(required_terms={20: 3}), today=TODAY)
    assert [r.expert_id for r in again.ranked] == [1, 3, 7, 9]


def test_bytes_round_trip() -> None:
    records, jobs = random_population(2, 200)
    index = ExpertIndex.build(records, fingerprint="abc")
    copy = ExpertIndex.from_bytes(index.to_bytes())
    assert copy.fingerprint == "abc" and copy.size == index.size == 200 and copy.nbytes > 0
    for query in jobs[:10]:
        a = index.rank(query, today=TODAY)
        b = copy.rank(query, today=TODAY)
        assert [(r.expert_id, r.score, r.details) for r in a.ranked] == [(r.expert_id, r.score, r.details)
                                                                         for r in b.ranked]
        assert [(e.expert_id, e.detail) for e in a.excluded] == [(e.expert_id, e.detail) for e in b.excluded]
    with pytest.raises(ValueError):
        ExpertIndex.from_bytes(b"not an index")


# Conflicts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Keller GmbH & Co. KG", "keller"),
        ("KELLER Kunststofftechnik GmbH", "keller kunststofftechnik"),
        ("Müller AG", "muller"),
        ("Polyplast S.A.", "polyplast"),
        ("Rossi Plastica S.p.A.", "rossi plastica"),
        ("Dupont de Nemours, Inc.", "dupont de nemours"),
        ("Acme Plastics Ltd.", "acme plastics"),
        ("Van Dam B.V.", "van dam"),
        ("Smith & Co", "smith"),
        ("Thermo Moulding plc", "thermo moulding"),
        ("Schmidt SE", "schmidt"),
        ("GmbH", "gmbh"),
    ],
)
def test_normalisation(raw: str, normalised: str) -> None:
    assert normalise_company_name(raw) == normalised


def test_name_matching() -> None:
    assert names_match("Keller GmbH", "Keller Kunststofftechnik GmbH & Co. KG")
    assert names_match("keller kunststofftechnik", "Keller Kunststofftechnik GmbH")
    assert names_match("BASF", "BASF SE")
    assert names_match("Brandt Spritzguss", "Spritzguss Brandt GmbH")  # the same words in another order
    assert names_match("Kunststofftechnik Keller", "Keller GmbH")
    assert not names_match("Plastics", "Acme Plastics Ltd")
    assert not names_match("Kunststoff GmbH", "Keller Kunststoff GmbH")
    assert not names_match("ABC", "ABC Plastics")


def test_no_false_positives_between_ordinary_companies() -> None:
    names = [
        "Keller Kunststofftechnik GmbH", "Acme Plastics Ltd", "Borealis AG", "BASF SE", "Covestro AG",
        "Arburg GmbH + Co KG", "Engel Austria GmbH", "KraussMaffei Technologies GmbH", "Husky Injection Molding",
        "Milacron LLC", "Sumitomo Demag", "Wittmann Battenfeld", "Plastic Omnium SE", "Berry Global Inc",
        "Amcor plc", "Rehau AG + Co", "Greiner Packaging", "Alpla Werke", "Polyplast S.A.", "Rossi Plastica SpA",
        "Global Plastics Solutions Ltd", "European Polymer Group BV", "Kunststofftechnik Schmidt GmbH",
        "Müller Verpackungen GmbH", "Schmidt Werkzeugbau", "Technoplast SARL", "Injection Solutions Inc",
    ]
    for a in names:
        for b in names:
            if a != b:
                assert not names_match(a, b), (a, b)


# Loader and cache (need the app) ---------------------------------------------------------------------------


def _expert_with_terms(f: Any, **kw: Any) -> Any:
    from app.extensions import db
    from app.models import CatalogKind, EmployerRelation, ExpertEmployer, ExpertLanguage, ExpertSkill

    profile = f.expert(**kw)
    skill = f.term(CatalogKind.SKILL, name="Gate freeze study", name_de="Siegelpunktstudie")
    title = f.term(CatalogKind.JOB_TITLE, name="Injection molding process engineer")
    db.session.add_all([
        ExpertSkill(expert_id=profile.id, term_id=skill.id, level="senior"),
        ExpertSkill(expert_id=profile.id, term_id=title.id, level="principal"),
        ExpertLanguage(expert_id=profile.id, code="de", proficiency="C1"),
        ExpertEmployer(expert_id=profile.id, name="Keller GmbH", relation=EmployerRelation.FORMER),
    ])
    db.session.flush()
    return profile, skill, title


def test_loader_builds_records(app: Any, f: Any) -> None:
    from app.extensions import db
    from app.matching.loader import load_expert_records
    from app.models import VerificationStatus

    profile, skill, title = _expert_with_terms(f)
    suspended = f.expert(status=VerificationStatus.SUSPENDED)
    locked_user = f.user(suspended_at=datetime.now(UTC))
    account_suspended = f.expert(user=locked_user)
    f.expert(status=VerificationStatus.DRAFT)
    records = {r.expert_id: r for r in load_expert_records(db.session)}
    assert set(records) == {profile.id, suspended.id, account_suspended.id}
    r = records[profile.id]
    assert r.terms == {skill.id: 3, title.id: 4}
    assert r.languages == {"de": 5}
    assert r.employers == (("Keller GmbH", "former"),)
    assert r.day_rate_minor == 90000 and r.currency == "EUR" and r.years_experience == 20
    assert "Gate freeze study" in r.text and "Siegelpunktstudie" in r.text and "scientific molding" in r.text
    assert not r.suspended and records[suspended.id].suspended and records[account_suspended.id].suspended


def test_job_query_from_orm_job(app: Any, f: Any) -> None:
    from app.extensions import db
    from app.matching.loader import job_query
    from app.models import JobCategory, JobLanguage

    company = f.company(name="Keller", legal_name="Keller Kunststofftechnik GmbH")
    j = f.job(company, category=JobCategory.TRAINING, training_language="de")
    db.session.add(JobLanguage(job_id=j.id, code="en", min_proficiency="C1"))
    db.session.flush()
    db.session.refresh(j)
    q = job_query(j)
    assert q.company_names == ("Keller", "Keller Kunststofftechnik GmbH")
    assert q.languages == {"en": 5, "de": 4}
    assert q.required_terms[j.skills[0].term_id] == 3
    assert q.required_terms[j.process_term_id] == 2 and q.required_terms[j.material_term_id] == 2
    assert "Short shots" in q.text and j.title_term.name in q.text
    assert q.category == "training" and q.budget_minor == 500000


def test_fingerprint_changes_and_cache_rebuilds(app: Any, f: Any) -> None:
    from app.extensions import db
    from app.matching.loader import fingerprint
    from app.models import CatalogKind, ExpertiseLevel, VerificationStatus
    from app.services import experts as expert_service

    cache.clear()
    profile, _skill, _title = _expert_with_terms(f)
    draft = f.expert(status=VerificationStatus.DRAFT)
    db.session.commit()
    first = cache.get_index(db.session)
    assert first.size == 1 and first.fingerprint == fingerprint(db.session)
    assert cache.get_index(db.session) is first  # nothing changed: no rebuild

    fp = fingerprint(db.session)
    profile.years_experience = 21
    db.session.commit()
    assert fingerprint(db.session) != fp
    second = cache.get_index(db.session)
    assert second is not first

    fp = fingerprint(db.session)
    new_term = f.term(CatalogKind.SKILL)
    db.session.commit()
    fp = fingerprint(db.session)
    expert_service.set_expert_skills(draft.id, actor=draft.user, items=[(new_term.id, ExpertiseLevel.SENIOR)])
    assert fingerprint(db.session) != fp

    fp = fingerprint(db.session)
    profile.user.suspended_at = datetime.now(UTC)
    db.session.commit()
    assert fingerprint(db.session) != fp
    third = cache.get_index(db.session)
    assert third is not second and bool(third.suspended[0])
    cache.clear()


def test_cache_shares_through_redis(app: Any, f: Any) -> None:
    import fakeredis

    from app.extensions import db

    cache.clear()
    _expert_with_terms(f)
    db.session.commit()
    redis = fakeredis.FakeRedis()
    built = cache.get_index(db.session, redis=redis)
    key = cache.REDIS_KEY_PREFIX + built.fingerprint
    assert redis.get(key) and 0 < redis.ttl(key) <= 24 * 3600
    cache.clear()
    loaded = cache.get_index(db.session, redis=redis)
    assert loaded is not built and loaded.fingerprint == built.fingerprint and loaded.size == built.size
    cache.clear()
