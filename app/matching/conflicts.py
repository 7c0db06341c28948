"""Conflict of interest: does an expert's declared employer or relation match the job's company?

Names are compared after :func:`normalise_company_name`: casefolded, accents
folded (``Müller`` = ``Muller``), dots dropped inside abbreviations
(``S.A.`` -> ``sa``), other punctuation turned into spaces, and trailing legal
forms removed (``GmbH & Co. KG``, ``AG``, ``SE``, ``Ltd``, ``Inc``, ``LLC``,
``S.A.``, ``SARL``, ``BV``, ``SpA``, ``Srl``, ``plc``, ``Co`` …).

Two names match (:func:`names_match`) when their normalised token runs are
equal, or when the shorter one is a contiguous run of the longer one *and* is
distinctive: it has at least one token that is not a generic industry word
(``plastics``, ``kunststofftechnik``, ``group``, ``solutions``…) and those
distinctive tokens have at least 4 letters together. So ``Keller`` matches
``Keller Kunststofftechnik GmbH``, but ``Plastics`` does not match ``Acme
Plastics Ltd``, nor ``ABC`` ``ABC Plastics``.

Every declared relation (current, former, competitor, supplier) is a
conflict; :func:`describe` names it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

LEGAL_FORMS: frozenset[str] = frozenset(
    """
    gmbh mbh ag kg kgaa ohg gbr ug ek ev se co corp corporation company inc incorporated llc llp lp ltd limited
    plc sa sas sarl sasu eurl snc spa srl sro bv nv vof oy oyj ab as asa aps kft zrt spzoo sp zoo ooo
    pty pte bhd kk gk haftungsbeschrankt und and
    """.split()
)

GENERIC_WORDS: frozenset[str] = frozenset(
    """
    plastic plastics plast kunststoff kunststoffe kunststofftechnik kunststoffverarbeitung polymer polymers
    polymere group gruppe holding holdings international industries industry industrie technik technology
    technologies tech solutions systems system services service products produkte manufacturing molding
    moulding mold mould engineering europe european germany deutschland global werke werk the der die das
    of de la le les fur for en
    """.split()
)

MIN_DISTINCTIVE_LETTERS = 4

_DOTTED = re.compile(r"(?<=\w)\.(?=\w)")
_NON_WORD = re.compile(r"[^\w]+|_")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_tokens(name: str) -> tuple[str, ...]:
    """The normalised tokens of a company name (legal forms at the end removed)."""
    text = _DOTTED.sub("", _fold(name))  # "s.a." -> "sa.", "s.p.a." -> "spa."
    tokens = [t for t in _NON_WORD.split(text) if t]
    stripped = list(tokens)
    while stripped and stripped[-1] in LEGAL_FORMS:
        stripped.pop()
    return tuple(stripped) if stripped else tuple(tokens)


def normalise_company_name(name: str) -> str:
    """The comparison key of a company name: normalised tokens joined by single spaces."""
    return " ".join(name_tokens(name))


def is_distinctive(tokens: tuple[str, ...]) -> bool:
    """Whether a partial name says enough to identify a company (not just ``Plastics``)."""
    letters = sum(len(t) for t in tokens if t not in GENERIC_WORDS)
    return letters >= MIN_DISTINCTIVE_LETTERS


def _contains_run(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    size = len(shorter)
    return any(longer[i : i + size] == shorter for i in range(len(longer) - size + 1))


def tokens_match(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """The matching rule on normalised token tuples (see the module docstring)."""
    if not a or not b:
        return False
    if a == b:
        return True
    if len(a) == len(b):
        return False
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return is_distinctive(shorter) and _contains_run(longer, shorter)


def names_match(employer: str, company: str) -> bool:
    """Whether a declared employer name designates the company ``company``."""
    return tokens_match(name_tokens(employer), name_tokens(company))


def sub_runs(tokens: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every contiguous, distinctive, proper sub-run of ``tokens`` (for the inverted index)."""
    n = len(tokens)
    for size in range(1, n):
        for i in range(n - size + 1):
            run = tokens[i : i + size]
            if is_distinctive(run):
                yield run


_RELATION_TEXT = {
    "current": "Declared current employer “{employer}” matches the company",
    "former": "Declared former employer “{employer}” matches the company",
    "competitor": "Declared competitor “{employer}” matches the company",
    "supplier": "Declared supplier relation with “{employer}” matches the company",
}


def describe(employer: str, relation: str) -> str:
    """Human-readable reason for a conflict with ``employer``, naming the relation."""
    template = _RELATION_TEXT.get(relation, "Declared relation ({relation}) with “{employer}” matches the company")
    return template.format(employer=employer, relation=relation)


def find_conflict(employers: Iterable[tuple[str, str]], company_names: Iterable[str]) -> str | None:
    """The detail of the first declared employer matching one of the company's names, or None."""
    companies = [name_tokens(c) for c in company_names if c and c.strip()]
    for employer, relation in employers:
        tokens = name_tokens(employer)
        for company_tokens in companies:
            if tokens_match(tokens, company_tokens):
                return describe(employer, relation)
    return None
