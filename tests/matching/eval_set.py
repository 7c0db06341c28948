"""An evaluation set for the matching quality, built from the real plastics catalog.

Every job gets experts whose relevance is known by construction:

* grade 3 – perfect fit: the title at principal, every required term at or above
  its level, the language, a rate within budget, available, a matching bio;
* grade 2 – good: the title, but one required skill missing, or every skill at junior level;
* grade 1 – partial: the title and the process only, at a low level; and the
  "over budget" trap: perfect skills but a day rate three times the market;
* grade 0 – the conflict trap (perfect skills, declared employer = the company),
  the language trap (perfect skills, does not speak the job's language),
  distractors sharing the job's process and material but nothing else, and a
  pool of random profiles.

Term ids are assigned deterministically from the catalog files (kind order,
then file order); expert ids are a seeded shuffle, so no grade sits on low ids.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from app.matching.records import ExpertRecord, JobQuery

CATALOG_DIR = Path(__file__).resolve().parents[2] / "app" / "catalog_data"
KIND_FILES = ("job_titles", "skills", "processes", "materials")
TODAY = date(2026, 3, 2)
BUDGET = 1_500_000  # 15,000.00 EUR
SURNAMES = (
    "Keller", "Brandt", "Hoffmann", "Lindner", "Vogel", "Krause", "Seidel", "Wagner", "Fuchs", "Hartmann",
    "Lorenz", "Winkler", "Schreiber", "Kuhn", "Pohl", "Engel", "Albrecht", "Sommer", "Haas", "Graf",
    "Ziegler", "Roth", "Beck", "Jung", "Franke", "Berger", "Marx", "Busch", "Thiel", "Kaiser",
    "Dietrich", "Ludwig",
)
BIO = ("Twenty years on the shop floor and in the lab, supporting plants through audits, launches and "
       "troubleshooting. Hands-on, pragmatic and used to working with operators and management.")


@dataclass(frozen=True)
class Term:
    id: int
    kind: str
    slug: str
    name: str


@dataclass
class EvalJob:
    query: JobQuery
    grades: dict[int, int] = field(default_factory=dict)
    conflict_trap: int = 0
    language_trap: int = 0
    over_budget: int = 0


def load_catalog() -> dict[str, list[Term]]:
    """The catalog terms by kind file, with deterministic ids (1000 per kind)."""
    out: dict[str, list[Term]] = {}
    for k, stem in enumerate(KIND_FILES):
        data = json.loads((CATALOG_DIR / f"{stem}.json").read_text(encoding="utf-8"))
        out[stem] = [Term((k + 1) * 1000 + i + 1, data["kind"], t["slug"], t["name"])
                     for i, t in enumerate(data["terms"])]
    return out


def build() -> tuple[list[ExpertRecord], list[EvalJob]]:
    """The expert population and the graded jobs."""
    catalog = load_catalog()
    titles, skills, processes, materials = (catalog[k] for k in KIND_FILES)
    rnd = random.Random(20261126)
    pending: list[tuple[dict[str, object], int | None, int, str]] = []  # (fields, job index, grade, role)
    jobs: list[EvalJob] = []
    start = TODAY + timedelta(days=14)
    for i in range(32):
        title = titles[i % len(titles)]
        process = processes[i % len(processes)]
        material = materials[(i * 5) % len(materials)]
        job_skills = [skills[(2 * i) % len(skills)], skills[(2 * i + 1) % len(skills)]]
        language = "de" if i % 2 else "en"
        other = "en" if language == "de" else "de"
        surname = SURNAMES[i]
        query = JobQuery(
            job_id=i + 1,
            category="problem_solving",
            title_term_id=title.id,
            required_terms={job_skills[0].id: 3, job_skills[1].id: 2},
            languages={language: 4},
            budget_minor=BUDGET,
            currency="EUR",
            start_date=start,
            completion_date=start + timedelta(days=27),
            text=f"{title.name} needed. {process.name} of {material.name} parts: we need "
                 f"{job_skills[0].name} and {job_skills[1].name} on site.",
            company_names=(f"{surname} Kunststofftechnik", f"{surname} Kunststofftechnik GmbH & Co. KG"),
            process_term_id=process.id,
            material_term_id=material.id,
        )
        jobs.append(EvalJob(query))
        names = f"{title.name}. {process.name}, {material.name}, {job_skills[0].name}, {job_skills[1].name}."
        full = {title.id: 4, job_skills[0].id: 4, job_skills[1].id: 3, process.id: 3, material.id: 3}

        def add(grade: int, role: str, terms: dict[int, int], *, text: str = names, languages: dict[str, int]
                | None = None, rate: int = 60000, employers: tuple[tuple[str, str], ...] = (),
                job_index: int = i, spoken: str = language, second: str = other) -> None:
            pending.append(({"terms": terms, "text": f"{text} {BIO}", "languages": languages or {spoken: 7,
                             second: 4}, "day_rate_minor": rate, "employers": employers}, job_index, grade, role))

        add(3, "perfect", dict(full), rate=55000)
        add(2, "good", {k: v for k, v in full.items() if k != job_skills[1].id},
            text=f"{title.name}. {process.name}, {material.name}, {job_skills[0].name}.")
        add(2, "good", {title.id: 3, job_skills[0].id: 1, job_skills[1].id: 1, process.id: 2, material.id: 2})
        add(1, "partial", {title.id: 2, process.id: 1}, text=f"{title.name}, {process.name}.")
        add(1, "over_budget", dict(full), rate=180000)
        add(0, "conflict", dict(full), employers=((f"{surname} GmbH", rnd.choice(["current", "former"])),))
        add(0, "language", dict(full), languages={other: 7})
        wrong_title = titles[(i + 7) % len(titles)]
        wrong_skill = skills[(2 * i + 9) % len(skills)]
        for _ in range(2):
            add(0, "distractor", {wrong_title.id: 4, wrong_skill.id: 4, process.id: 3, material.id: 3},
                text=f"{wrong_title.name}. {wrong_skill.name}, {process.name}, {material.name}.")
    every_term = titles + skills + processes + materials
    for _ in range(80):
        picked = rnd.sample(every_term, 6)
        pending.append(({"terms": {t.id: rnd.randint(1, 4) for t in picked},
                         "text": " ".join(t.name for t in picked) + " " + BIO,
                         "languages": {rnd.choice(["en", "de"]): 7}, "day_rate_minor": rnd.randint(40000, 90000),
                         "employers": ()}, None, 0, "random"))

    ids = list(range(1, len(pending) + 1))
    rnd.shuffle(ids)
    records: list[ExpertRecord] = []
    for expert_id, (fields, job_index, grade, role) in zip(ids, pending, strict=True):
        records.append(
            ExpertRecord(
                expert_id=expert_id,
                terms=fields["terms"],  # type: ignore[arg-type]
                languages=fields["languages"],  # type: ignore[arg-type]
                employers=fields["employers"],  # type: ignore[arg-type]
                day_rate_minor=fields["day_rate_minor"],  # type: ignore[arg-type]
                currency="EUR",
                available_from=None,
                capacity_days_per_week=4,
                years_experience=15,
                text=fields["text"],  # type: ignore[arg-type]
            )
        )
        if job_index is not None:
            target = jobs[job_index]
            target.grades[expert_id] = grade
            if role == "conflict":
                target.conflict_trap = expert_id
            elif role == "language":
                target.language_trap = expert_id
            elif role == "over_budget":
                target.over_budget = expert_id
    return records, jobs
