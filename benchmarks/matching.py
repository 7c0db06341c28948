"""Matching benchmark (PERFORMANCE.md §4.3): run with ``.venv/bin/python -m benchmarks.matching``.

Synthetic experts (numpy ``default_rng(42)``): about 8 terms each drawn
Pareto-like from 500 term ids, 60-word Zipf bios, 1–3 languages, day rates,
availability dates and some declared employers, at 10k and 100k. One run
prints every figure next to its goal; the exit status is 1 when a goal fails.

The database part uses a temporary SQLite file with the real schema, or
``BENCH_DATABASE_URL`` (postgresql://…; its tables are dropped and recreated).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.matching import ExpertIndex, ExpertRecord, JobQuery, rank_reference
from app.matching.records import DEFAULT_WEIGHTS

SEED = 42
N_SMALL = 10_000
N_LARGE = 100_000
N_TERMS = 500
N_TITLES = 22
N_WORDS = 4_000
BIO_WORDS = 60
N_JOBS = 60
WARMUP = 5
TOP_N = 50
TODAY = date(2026, 11, 26)
LANGS = ("en", "de", "fr", "it", "es", "pl", "nl", "cs")
LANG_P = np.array([0.40, 0.25, 0.10, 0.07, 0.06, 0.05, 0.04, 0.03])
LEVEL_NAMES = ("junior", "intermediate", "senior", "principal")
PROF_NAMES = ("A1", "A2", "B1", "B2", "C1", "C2", "native")
RELATIONS = ("current", "former", "competitor", "supplier")
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "pri", "stra", "gen", "mol", "dex", "flu", "por", "zin")


def _pseudo_words(count: int) -> list[str]:
    words: list[str] = []
    s = len(_SYLLABLES)
    i = 0
    while len(words) < count:
        a, b, c = i % s, (i // s) % s, (i // (s * s)) % s
        words.append(_SYLLABLES[a] + _SYLLABLES[b] + _SYLLABLES[c] + ("" if i < s**3 else str(i // s**3)))
        i += 1
    return words


class Synthetic:
    """The synthetic population and jobs, all from one seeded generator."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(SEED)
        self.n = n
        self.words = np.array(_pseudo_words(N_WORDS))
        word_p = 1.0 / np.arange(1, N_WORDS + 1) ** 1.07
        self.word_p = word_p / word_p.sum()
        term_p = 1.0 / np.arange(1, N_TERMS + 1) ** 0.9  # Pareto-like popularity
        self.term_p = term_p / term_p.sum()
        self.term_names = [" ".join(rng.choice(self.words[:800], size=2)) + f" t{t}" for t in range(1, N_TERMS + 1)]
        self.companies = [f"{self.words[rng.integers(200, N_WORDS)].capitalize()}"
                          f"{self.words[rng.integers(200, N_WORDS)]} Kunststoff GmbH" for _ in range(2000)]

        counts = rng.integers(5, 12, size=n)  # about 8 distinct terms after de-duplication
        raw_terms = rng.choice(N_TERMS, size=(n, 11), p=self.term_p) + 1
        raw_levels = rng.integers(1, 5, size=(n, 11))
        bios = rng.choice(N_WORDS, size=(n, BIO_WORDS), p=self.word_p)
        heads = rng.choice(N_WORDS, size=(n, 5), p=self.word_p)
        n_langs = rng.integers(1, 4, size=n)
        langs = rng.choice(len(LANGS), size=(n, 3), p=LANG_P)
        ranks = rng.integers(3, 8, size=(n, 3))
        rates = np.round(rng.lognormal(np.log(80_000), 0.35, size=n)).astype(np.int64)
        no_rate = rng.random(n) < 0.05
        usd = rng.random(n) < 0.05
        avail_days = rng.integers(-30, 120, size=n)
        no_avail = rng.random(n) < 0.5
        capacity = rng.integers(0, 6, size=n)
        years = rng.integers(0, 36, size=n)
        has_emp = rng.random(n) < 0.3
        emp_idx = rng.integers(0, len(self.companies), size=(n, 2))
        emp_rel = rng.integers(0, 4, size=(n, 2))
        emp_two = rng.random(n) < 0.3
        suspended = rng.random(n) < 0.02

        self.records: list[ExpertRecord] = []
        self.headlines: list[str] = []
        self.summaries: list[str] = []
        words = self.words.tolist()
        for i in range(n):
            terms = {int(t): int(lv) for t, lv in zip(raw_terms[i, : counts[i]], raw_levels[i, : counts[i]],
                                                      strict=True)}
            lang = {LANGS[int(c)]: int(r) for c, r in zip(langs[i, : n_langs[i]], ranks[i, : n_langs[i]], strict=True)}
            employers: tuple[tuple[str, str], ...] = ()
            if has_emp[i]:
                k = 2 if emp_two[i] else 1
                employers = tuple((self.companies[int(emp_idx[i, j])], RELATIONS[int(emp_rel[i, j])]) for j in range(k))
            headline = " ".join(words[w] for w in heads[i])
            summary = " ".join(words[w] for w in bios[i])
            self.headlines.append(headline)
            self.summaries.append(summary)
            self.records.append(
                ExpertRecord(
                    expert_id=i + 1,
                    terms=terms,
                    languages=lang,
                    employers=employers,
                    day_rate_minor=None if no_rate[i] else int(rates[i]),
                    currency="USD" if usd[i] else "EUR",
                    available_from=None if no_avail[i] else TODAY + timedelta(days=int(avail_days[i])),
                    capacity_days_per_week=int(capacity[i]),
                    years_experience=int(years[i]),
                    text=f"{headline} {summary} " + " ".join(self.term_names[t - 1] for t in terms),
                    suspended=bool(suspended[i]),
                )
            )

        self.jobs: list[JobQuery] = []
        for j in range(N_JOBS + WARMUP):
            k = int(rng.integers(3, 7))
            req = rng.choice(N_TERMS, size=k, replace=False, p=self.term_p) + 1
            required = {int(t): int(rng.integers(2, 5)) for t in req}
            text_words = rng.choice(N_WORDS, size=40, p=self.word_p)
            start = TODAY + timedelta(days=int(rng.integers(0, 60)))
            self.jobs.append(
                JobQuery(
                    job_id=j + 1,
                    category="problem_solving" if rng.random() < 0.7 else "training",
                    title_term_id=int(rng.integers(1, N_TITLES + 1)),
                    required_terms=required,
                    languages={"en": 4} if rng.random() < 0.7 else {"de": 4},
                    budget_minor=int(rng.integers(300_000, 3_000_000)),
                    currency="EUR",
                    start_date=start,
                    completion_date=start + timedelta(days=int(rng.integers(14, 90))),
                    text=" ".join(words[w] for w in text_words) + " "
                    + " ".join(self.term_names[t - 1] for t in required),
                    company_names=(self.companies[int(rng.integers(0, len(self.companies)))],),
                    process_term_id=int(req[0]),
                    material_term_id=None,
                )
            )


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _time_jobs(fn: Callable[[JobQuery], Any], jobs: Sequence[JobQuery]) -> list[float]:
    for job in jobs[:WARMUP]:
        fn(job)
    samples = []
    for job in jobs[WARMUP:]:
        t0 = time.perf_counter()
        fn(job)
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples


# Database ---------------------------------------------------------------------------------------


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@contextlib.contextmanager
def _database(url: str, *, reset: bool) -> Iterator[tuple[sa.Engine, Any]]:
    """The real schema on ``url``: through the app factory, or from the models' metadata if the app does not build."""
    from app.extensions import db

    try:
        from app import create_app
        from app.config import TestingConfig

        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
    except Exception as exc:  # another part of the app is broken: the schema is all this needs
        print(f"note: create_app failed ({type(exc).__name__}: {exc}); using the models' metadata directly")
        import app.models  # noqa: F401  (registers every table)

        engine = sa.create_engine(url)
        if reset:
            db.metadata.drop_all(engine)
        db.metadata.create_all(engine)
        with Session(engine) as session:
            yield engine, session
        engine.dispose()
        return
    with app.app_context():
        if reset:
            db.drop_all()
        db.create_all()
        yield db.engine, db.session
        db.session.remove()
        db.engine.dispose()


def _insert_population(conn: sa.Connection, syn: Synthetic) -> None:
    from app.models import CatalogTerm, ExpertEmployer, ExpertLanguage, ExpertProfile, ExpertSkill, User

    now = datetime.now(UTC)
    kinds = ["job_title"] * N_TITLES + ["skill", "process", "material"] * N_TERMS
    conn.execute(
        sa.insert(CatalogTerm.__table__),
        [{"id": t, "kind": kinds[t - 1], "slug": f"bench-{t}", "name": syn.term_names[t - 1], "name_de": "",
          "group": "", "description": "", "created_at": now, "updated_at": now} for t in range(1, N_TERMS + 1)],
    )
    users = []
    profiles = []
    skills = []
    languages = []
    employers = []
    for i, rec in enumerate(syn.records):
        uid = rec.expert_id
        users.append({"id": uid, "email": f"bench{uid}@example.test", "password_hash": "x", "full_name": f"E {uid}",
                      "role": "expert", "is_superadmin": False, "locale": "en", "timezone": "UTC",
                      "password_changed_at": now, "created_at": now, "updated_at": now})
        profiles.append({"id": rec.expert_id, "user_id": uid, "pseudonym": f"B{rec.expert_id:07d}",
                         "headline": syn.headlines[i], "summary": syn.summaries[i],
                         "years_experience": rec.years_experience, "day_rate_minor": rec.day_rate_minor,
                         "currency": rec.currency, "available_from": rec.available_from,
                         "capacity_days_per_week": rec.capacity_days_per_week, "country": "DE",
                         "timezone": "Europe/Berlin", "status": "suspended" if rec.suspended else "approved",
                         "status_note": "", "version": 1, "created_at": now, "updated_at": now})
        for t, lv in rec.terms.items():
            skills.append({"expert_id": rec.expert_id, "term_id": t, "level": LEVEL_NAMES[lv - 1]})
        for code, rank in rec.languages.items():
            languages.append({"expert_id": rec.expert_id, "code": code, "proficiency": PROF_NAMES[rank - 1]})
        for name, relation in rec.employers:
            employers.append({"expert_id": rec.expert_id, "name": name, "relation": relation})
    for table, rows in ((User.__table__, users), (ExpertProfile.__table__, profiles),
                        (ExpertSkill.__table__, skills), (ExpertLanguage.__table__, languages),
                        (ExpertEmployer.__table__, employers)):
        for start in range(0, len(rows), 50_000):
            conn.execute(sa.insert(table), rows[start:start + 50_000])


def _serialise(ranking: Any, rows: dict[int, Any]) -> list[dict[str, Any]]:
    out = []
    for r in ranking.ranked:
        row = rows[r.expert_id]
        out.append({
            "expert_id": r.expert_id, "rank": r.rank, "score": r.score, "breakdown": r.breakdown,
            "details": r.details, "pseudonym": row.pseudonym, "headline": row.headline,
            "years_experience": row.years_experience, "day_rate_minor": row.day_rate_minor,
            "currency": row.currency, "country": row.country,
            "available_from": row.available_from.isoformat() if row.available_from else None,
        })
    json.dumps(out)
    return out


# The run ------------------------------------------------------------------------------------------


def main() -> int:  # noqa: C901 - one linear script
    results: list[tuple[str, str, str, bool]] = []
    t_all = time.perf_counter()
    rss_start = _rss_bytes()
    t0 = time.perf_counter()
    syn = Synthetic(N_LARGE)
    print(f"generated {N_LARGE:,} experts and {len(syn.jobs)} jobs in {time.perf_counter() - t0:.1f} s "
          f"(RSS +{(_rss_bytes() - rss_start) / 2**20:.0f} MB)")
    # The synthetic population is millions of long-lived Python objects; keep them out of the
    # cyclic GC's generations (as a pre-forked worker would) so a full collection does not land in a sample.
    gc.collect()
    gc.freeze()
    jobs = syn.jobs
    small_records = syn.records[:N_SMALL]

    # 10k: vectorised latency, reference speed-up and agreement.
    small = ExpertIndex.build(small_records)
    rank_reference(small_records, jobs[0], DEFAULT_WEIGHTS, top_n=TOP_N, today=TODAY)  # memoise text stats
    ref_ms: list[float] = []
    vec_ms: list[float] = []
    same_top10 = 0
    max_diff = 0.0
    for q in jobs[WARMUP:]:
        t0 = time.perf_counter()
        ref = rank_reference(small_records, q, DEFAULT_WEIGHTS, top_n=TOP_N, today=TODAY)
        ref_ms.append((time.perf_counter() - t0) * 1000.0)
        t0 = time.perf_counter()
        vec = small.rank(q, DEFAULT_WEIGHTS, top_n=TOP_N, today=TODAY)
        vec_ms.append((time.perf_counter() - t0) * 1000.0)
        if [r.expert_id for r in ref.ranked[:10]] == [r.expert_id for r in vec.ranked[:10]]:
            same_top10 += 1
        for a, b in zip(ref.ranked[:10], vec.ranked[:10], strict=False):
            max_diff = max(max_diff, abs(a.score - b.score))
    speedup = statistics.median(ref_ms) / statistics.median(vec_ms)
    print(f"10k: reference p50 {statistics.median(ref_ms):.1f} ms, vectorised p50 {statistics.median(vec_ms):.2f} ms")
    print(f"CHECK same top 10 (vectorised vs reference) on {same_top10}/{len(ref_ms)} jobs; "
          f"max score difference {max_diff:.1e}: {'OK' if same_top10 == len(ref_ms) else 'MISMATCH'}")


    # Database: insert 100k, then time load + build.
    from app.matching.cache import release_memory
    from app.matching.loader import load_expert_records
    from app.models import ExpertProfile

    bench_url = os.environ.get("BENCH_DATABASE_URL")
    tmpdir = tempfile.mkdtemp(prefix="pc-bench-")
    url = _sqlalchemy_url(bench_url) if bench_url else f"sqlite:///{os.path.join(tmpdir, 'bench.db')}"
    with _database(url, reset=bool(bench_url)) as (engine, session):
        t0 = time.perf_counter()
        with engine.begin() as conn:
            _insert_population(conn, syn)
        print(f"inserted {N_LARGE:,} experts ({'PostgreSQL' if bench_url else 'SQLite'}) "
              f"in {time.perf_counter() - t0:.1f} s")
        gc.collect()
        rss_before = _rss_bytes()
        t0 = time.perf_counter()
        records = load_expert_records(session)
        t_load = time.perf_counter() - t0
        large = ExpertIndex.build(records, fingerprint="bench")
        t_build = time.perf_counter() - t0
        session.rollback()
        del records
        release_memory()  # what get_index does after a build
        rss_growth = _rss_bytes() - rss_before
        print(f"100k: load {t_load:.2f} s + build {t_build - t_load:.2f} s; index arrays "
              f"{large.nbytes / 2**20:.1f} MB, RSS growth {rss_growth / 2**20:.1f} MB")

        # 10k and 100k alternate job by job, so drift in the machine's load hits both sizes alike.
        lat_small: list[float] = []
        lat_large: list[float] = []
        for i, q in enumerate(jobs):
            for index, samples in ((small, lat_small), (large, lat_large)):
                t0 = time.perf_counter()
                index.rank(q, DEFAULT_WEIGHTS, top_n=TOP_N, today=TODAY)
                if i >= WARMUP:
                    samples.append((time.perf_counter() - t0) * 1000.0)
        profiles = ExpertProfile.__table__
        display = sa.select(profiles.c.id, profiles.c.pseudonym, profiles.c.headline, profiles.c.years_experience,
                            profiles.c.day_rate_minor, profiles.c.currency, profiles.c.country,
                            profiles.c.available_from)

        def end_to_end(q: JobQuery) -> list[dict[str, Any]]:
            ranking = large.rank(q, DEFAULT_WEIGHTS, top_n=TOP_N, today=TODAY)
            ids = [r.expert_id for r in ranking.ranked]
            rows = {row.id: row for row in session.execute(display.where(profiles.c.id.in_(ids)))}
            return _serialise(ranking, rows)

        lat_e2e = _time_jobs(end_to_end, jobs)
        session.rollback()

    p95_small = _percentile(lat_small, 95)
    p95_large = _percentile(lat_large, 95)
    p95_e2e = _percentile(lat_e2e, 95)
    growth = p95_large / p95_small
    print(f"10k: vectorised p50 {_percentile(lat_small, 50):.2f} ms p95 {p95_small:.2f} ms (interleaved with 100k)")
    print(f"100k: vectorised p50 {_percentile(lat_large, 50):.2f} ms p95 {p95_large:.2f} ms; "
          f"end-to-end p50 {_percentile(lat_e2e, 50):.2f} ms p95 {p95_e2e:.2f} ms")

    def add(name: str, value: str, goal: str, ok: bool) -> None:
        results.append((name, value, goal, ok))

    add("p95 ranking latency, 10k", f"{p95_small:.2f} ms", "(context)", True)
    add("p95 ranking latency, 100k", f"{p95_large:.2f} ms", "<= 50 ms", p95_large <= 50)
    add("growth p95(100k)/p95(10k)", f"x{growth:.2f}", "<= 5", growth <= 5)
    add("index build at 100k (DB load + build)", f"{t_build:.2f} s", "<= 10 s", t_build <= 10)
    add("index memory at 100k: arrays", f"{large.nbytes / 2**20:.1f} MB", "<= 200 MB", large.nbytes <= 200 * 2**20)
    add("index memory at 100k: RSS growth", f"{rss_growth / 2**20:.1f} MB", "<= 200 MB", rss_growth <= 200 * 2**20)
    add("end-to-end p95 at 100k (score + 1 query + dicts)", f"{p95_e2e:.2f} ms", "<= 150 ms", p95_e2e <= 150)
    add("end-to-end p95 vs 3 x scoring p95 + 100 ms", f"{p95_e2e:.2f} ms",
        f"<= {3 * p95_large + 100:.1f} ms", p95_e2e <= 3 * p95_large + 100)
    add("speed-up vs reference at 10k (median)", f"x{speedup:.0f}", ">= 20", speedup >= 20)
    add("same top 10 as reference", f"{same_top10}/{len(ref_ms)} jobs", "all", same_top10 == len(ref_ms))

    width = max(len(r[0]) for r in results)
    print()
    print(f"{'figure':<{width}}  {'value':>14}  {'goal':>12}  result")
    for name, value, goal, ok in results:
        print(f"{name:<{width}}  {value:>14}  {goal:>12}  {'PASS' if ok else 'FAIL'}")
    failed = [r for r in results if not r[3]]
    print(f"\n{len(results) - len(failed)}/{len(results)} goals pass; total run {time.perf_counter() - t_all:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
