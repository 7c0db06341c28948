"""Tokenizer and TF-IDF helpers for the ``text`` criterion.

* Tokens: the text is casefolded and split into Unicode words (letters and
  digits; ``PA66`` stays one token); one-character tokens and German and
  English stop words are dropped, and English plurals are lightly stemmed
  (``molds`` -> ``mold``, ``studies`` -> ``study``).
* Weights: ``tf · idf`` with raw term counts and the smoothed
  ``idf = ln((1 + N) / (1 + df)) + 1`` over the N expert texts of the
  population; every expert vector is L2-normalised. A job vector uses only
  words of that vocabulary (unknown words cannot match anyone) and is
  normalised too, so the cosine is a plain dot product in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]

_WORD = re.compile(r"[^\W_]+")

STOP_WORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves per via etc eg ie using used use within without
    aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf
    aus bei bin bis bist da damit dann das dass dem den denn der des dich die dies diese diesem diesen
    dieser dieses dir doch dort du durch ein eine einem einen einer eines er es etwa euch euer für gegen
    habe haben hat hatte ich ihm ihn ihnen ihr ihre im in ins ist jede jedem jeden jeder jedes jetzt kann
    kein keine man mein mich mir mit muss nach nicht noch nur ob oder ohne sehr sein seine sich sie sind
    so über um und uns unser unter vom von vor war waren was weil wenn wer werden wie wir wird wo zu zum
    zur zwischen sowie bzw
    """.split()
)

_token_cache: dict[str, str | None] = {}
_CHUNK = 5_000


def _normalise_token(raw: str) -> str | None:
    """The stemmed token for a casefolded word, or None when it is dropped."""
    if len(raw) < 2 or raw in STOP_WORDS:
        return None
    if len(raw) > 4 and raw.isalpha():
        if raw.endswith("ies"):
            return raw[:-3] + "y"
        if raw.endswith("s") and not raw.endswith(("ss", "us", "is")):
            return raw[:-1]
    return raw


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` in order (casefolded, stop words dropped, plurals stemmed)."""
    cache = _token_cache
    out: list[str] = []
    for raw in _WORD.findall(text.casefold()):
        try:
            token = cache[raw]
        except KeyError:
            token = _normalise_token(raw)
            if len(cache) < 500_000:
                cache[raw] = token
        if token is not None:
            out.append(token)
    return out


def idf_value(document_frequency: int, documents: int) -> float:
    """Smoothed inverse document frequency, ``ln((1 + N) / (1 + df)) + 1``."""
    return math.log((1.0 + documents) / (1.0 + document_frequency)) + 1.0


def build_tfidf(texts: Sequence[str]) -> tuple[sp.csc_matrix, dict[str, int], npt.NDArray[np.float64]]:
    """The L2-normalised TF-IDF matrix (texts × vocabulary, CSC), the vocabulary and the idf vector.

    The vocabulary is sorted, so the same texts always give the same columns.
    """
    n = len(texts)
    raw_vocab: dict[str, int] = {}
    setdefault = raw_vocab.setdefault
    # Word ids go to compact numpy chunks: millions of Python ints would cost far more memory.
    chunks: list[npt.NDArray[np.int32]] = []
    lengths = np.zeros(n, dtype=np.int64)
    for chunk_start in range(0, n, _CHUNK):
        ids: list[int] = []
        for row in range(chunk_start, min(n, chunk_start + _CHUNK)):
            tokens = tokenize(texts[row])
            lengths[row] = len(tokens)
            ids.extend([setdefault(t, len(raw_vocab)) for t in tokens])
        chunks.append(np.asarray(ids, dtype=np.int32))
    word_ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
    del chunks
    # Renumber the columns in sorted word order (deterministic, independent of insertion order).
    words = sorted(raw_vocab)
    vocabulary = {w: i for i, w in enumerate(words)}
    remap = np.empty(len(raw_vocab), dtype=np.int32)
    for word, old in raw_vocab.items():
        remap[old] = vocabulary[word]
    cols = remap[word_ids]
    del word_ids
    rows = np.repeat(np.arange(n, dtype=np.int32), lengths)
    counts = sp.coo_matrix(
        (np.ones(len(cols), dtype=np.float64), (rows, cols)), shape=(n, len(words))
    ).tocsr()
    del rows, cols
    df = np.bincount(counts.indices, minlength=len(words)).astype(np.float64)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    counts.data *= idf[counts.indices]
    sq = np.asarray(counts.multiply(counts).sum(axis=1)).ravel()
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    row_of_entry = np.repeat(np.arange(n), np.diff(counts.indptr))
    counts.data /= norms[row_of_entry]
    matrix = counts.tocsc()
    matrix.sort_indices()
    return matrix, vocabulary, idf


def query_vector(
    text: str, vocabulary: Mapping[str, int], idf: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The job text's normalised TF-IDF vector as (column ids, weights), vocabulary words only."""
    counts = Counter(t for t in tokenize(text) if t in vocabulary)
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    words = sorted(counts)
    cols = np.fromiter((vocabulary[w] for w in words), dtype=np.int64, count=len(words))
    weights = np.fromiter((counts[w] for w in words), dtype=np.float64, count=len(words)) * idf[cols]
    weights /= math.sqrt(float(np.dot(weights, weights)))
    return cols, weights


def document_frequencies(token_lists: Iterable[Iterable[str]]) -> Counter[str]:
    """How many documents contain each token (for the plain-Python reference)."""
    df: Counter[str] = Counter()
    for tokens in token_lists:
        df.update(set(tokens))
    return df
