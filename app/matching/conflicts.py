"""Conflict of interest: does an expert's declared employer or relation match the job's company?

Names are compared after :func:`normalise_company_name`: casefolded, accents
folded (``Müller`` = ``Muller``), dots dropped inside abbreviations
(``S.A.`` -> ``sa``), other punctuation turned into spaces, and trailing legal
forms removed (``GmbH & Co. KG``, ``AG``, ``SE``, ``Ltd``, ``Inc``, ``LLC``,
``S.A.``, ``SARL``, ``BV``, ``SpA``, ``Srl``, ``plc``, ``Co`` …).

Two names match (:func:`names_match`) when their normalised tokens are the
same words in any order (``Brandt Spritzguss`` = ``Spritzguss Brandt GmbH``),
or when the shorter one's words all appear in the longer one *and* are
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
from itertools import combinations

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


MAX_KEY_TOKENS = 8  # longer names are compared on their first words only (index keys stay few)


def name_key(tokens: tuple[str, ...]) -> str:
    """The order-free lookup key of a token tuple (the index's inverted dictionary uses it)."""
    return " ".join(sorted(set(tokens[:MAX_KEY_TOKENS])))


def tokens_match(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """The matching rule on normalised token tuples (see the module docstring)."""
    if not a or not b:
        return False
    set_a, set_b = set(a[:MAX_KEY_TOKENS]), set(b[:MAX_KEY_TOKENS])
    if set_a == set_b:
        return True
    shorter, longer = (set_a, set_b) if len(set_a) < len(set_b) else (set_b, set_a)
    return shorter < longer and is_distinctive(tuple(sorted(shorter)))


def names_match(employer: str, company: str) -> bool:
    """Whether a declared employer name designates the company ``company``."""
    return tokens_match(name_tokens(employer), name_tokens(company))


def sub_runs(tokens: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every distinctive, proper subset of the words of ``tokens``, sorted (for the inverted index)."""
    words = sorted(set(tokens[:MAX_KEY_TOKENS]))
    for size in range(1, len(words)):
        for subset in combinations(words, size):
            if is_distinctive(subset):
                yield subset


_RELATION_TEXT = {
    "current": "Declared current employer “{employer}” matches the company",
    "former": "Declared former employer “{employer}” matches the company",
    "competitor": "Declared competitor relation “{employer}” matches the company",
    "supplier": "Declared supplier relation “{employer}” matches the company",
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
