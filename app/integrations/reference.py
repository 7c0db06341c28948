"""Reference lists from outside data: countries and languages (CLDR via Babel), time zones (tzdata).

Codes are what we store (ISO 3166-1 alpha-2, ISO 639-1, IANA zone names); names
are shown in the reader's language.
"""

from __future__ import annotations

import functools
import unicodedata
import zoneinfo

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_precision

# CLDR territory codes that are not ISO 3166-1 countries (regions, reservations, unknown).
_NOT_COUNTRIES = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"})
# CLDR language codes of two letters that are not ISO 639-1 languages in practice.
_NOT_LANGUAGES = frozenset({"mo", "sh"})
_ZONE_AREAS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Arctic/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)
# Currencies offered for day rates: all have two decimals, so minor units are cents.
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "PLN", "CZK", "SEK", "DKK", "NOK", "HUF", "CNY", "INR", "CAD", "AUD", "MXN",
              "BRL", "TRY")


def _locale(code: str) -> Locale:
    try:
        return Locale.parse(code or "en")
    except (UnknownLocaleError, ValueError):
        return Locale("en")


def _sort_key(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()


@functools.cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code known to CLDR."""
    return frozenset(
        code
        for code in map(str, Locale("en").territories)
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


@functools.cache
def countries(locale: str = "en") -> tuple[tuple[str, str], ...]:
    """``(code, name)`` for every country, sorted by name in ``locale``."""
    names = _locale(locale).territories
    pairs = [(code, str(names.get(code, code))) for code in country_codes()]
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[1])))


def country_name(code: str, locale: str = "en") -> str:
    """A country's name in ``locale`` (the code itself when unknown)."""
    return str(_locale(locale).territories.get(code, code)) if code else ""


@functools.cache
def language_codes() -> frozenset[str]:
    """Every ISO 639-1 (two-letter) language code known to CLDR."""
    return frozenset(
        code
        for code in map(str, Locale("en").languages)
        if len(code) == 2 and code.isalpha() and code not in _NOT_LANGUAGES
    )


@functools.cache
def languages(locale: str = "en") -> tuple[tuple[str, str], ...]:
    """``(code, name)`` for every language, sorted by name in ``locale``."""
    names = _locale(locale).languages
    pairs = [(code, str(names.get(code, code))) for code in language_codes()]
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[1])))


def language_name(code: str, locale: str = "en") -> str:
    """A language's name in ``locale``."""
    return str(_locale(locale).languages.get(code, code)) if code else ""


@functools.cache
def timezones() -> tuple[str, ...]:
    """IANA time zones of the geographic areas, plus UTC, sorted."""
    zones = sorted(z for z in zoneinfo.available_timezones() if z.startswith(_ZONE_AREAS))
    return ("UTC", *zones)


@functools.cache
def _timezone_set() -> frozenset[str]:
    return frozenset(timezones())


def is_timezone(name: str) -> bool:
    """Whether ``name`` is one of :func:`timezones`."""
    return name in _timezone_set()


def currency_precision(code: str) -> int:
    """Digits after the decimal point for ``code`` (2 for every currency we offer)."""
    return int(get_currency_precision(code))
