"""Password hashing (argon2id) and the password rules of ASVS 5.0 §6.2.

Rules: at least 12 characters, at most 128 (long passphrases welcome), not a
common password, not the e-mail address or name, not trivially guessable
(sequences, keyboard rows: zxcvbn score below 2); no composition rules.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_GUESS_SCORE = 2
_GUESS_CHECK_MAX = 72  # zxcvbn's limit; longer passphrases are long enough
_STRONG = PasswordHasher()  # argon2id, m=65536, t=3, p=4
# Only for the test suite (TestingConfig): same algorithm, cheap parameters.
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _hasher() -> PasswordHasher:
    from flask import current_app, has_app_context

    if has_app_context() and current_app.config.get("PASSWORD_HASH_PROFILE") == "fast":
        return _FAST
    return _STRONG


# Verified against when the account does not exist, so timing does not tell.
_DUMMY_HASHES: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash with the same parameters as real ones, verified for unknown accounts."""
    key = id(hasher)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash("not a real password, only for timing")
    return _DUMMY_HASHES[key]


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # 30,000 most common passwords

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """What is wrong with a new password, as sentences a person can act on (empty: fine)."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(_("Use at least %(n)d characters; a few words make a good passphrase.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_("Use at most %(n)d characters.", n=MAX_LENGTH))
    lowered = password.lower()
    if lowered in _common_passwords() or lowered.strip() in _common_passwords():
        problems.append(_("This password is one of the most common passwords; choose another."))
    elif len(set(lowered)) <= 2 and password:
        problems.append(_("This password repeats one or two characters; choose another."))
    local = email.split("@", 1)[0].lower()
    if (local and len(local) >= 4 and local in lowered) or (name and name.lower() == lowered):
        problems.append(_("Do not use your e-mail address or name in your password."))
    if not problems and len(password) <= _GUESS_CHECK_MAX and _easy_to_guess(password, email, name):
        problems.append(_("This password is easy to guess: avoid sequences such as 1234 or abcd, "
                          "keyboard rows and dates. A few unrelated words work well."))
    return problems


def _easy_to_guess(password: str, email: str, name: str) -> bool:
    """zxcvbn's estimate (score 0-1: guessed within about a million tries); no composition rules."""
    from zxcvbn import zxcvbn

    hints = [part for part in (email, email.split("@", 1)[0], name, *name.split()) if part]
    return int(zxcvbn(password, user_inputs=hints)["score"]) < MIN_GUESS_SCORE


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-work check; with no hash (unknown account) a dummy hash is verified."""
    try:
        hasher = _hasher()
        return hasher.verify(password_hash or _dummy_hash(hasher), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher().check_needs_rehash(password_hash)
