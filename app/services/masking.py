"""Non-solicitation masking of contact details in project channel messages (WORKFLOW.md §7–8).

A message typed by the company or the expert is shown to the other side with each
e-mail address, phone number, link and social handle replaced by :data:`MASK`; the hub
keeps the original and the findings (to alert the admin). Pure Python: no Flask, no DB.

How it works. A normalised copy of the text is built step by step, each character
remembering the span of the original it came from: lower case and look-alike characters
folded, spaced-out letters joined ("j a n e"), "(at)"/"[dot]" and the bare words
"at"/"dot"/"punkt" turned into "@" and ".", number words in English and German turned
into digits ("null eins sieben", "plus four nine"). The detectors run on the copy; each
character remembers whether it was typed (literal) or produced by a bracketed or a bare
word disguise, so that rules can be stricter where the evidence is weaker (a bare "at"
only makes an e-mail address with a common top-level domain and a local part that is not
an ordinary word). Findings are cut from the original, so the rest of the sentence is
kept exactly.

Every pattern is linear: each starts only at a token boundary (a negative look-behind
stops it from restarting inside the token it failed on) and has no nested ambiguous
quantifiers, so hostile or very long input cannot make the regex engine backtrack.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MASK = "[•••]"

__all__ = ["MASK", "Finding", "Masked", "mask_contacts"]


@dataclass(frozen=True)
class Finding:
    """One contact detail: its kind and where it is in the original text."""

    kind: str  # "email" | "phone" | "link" | "handle"
    original: str
    start: int
    end: int


@dataclass(frozen=True)
class Masked:
    """The text as the other side sees it, and what was masked."""

    text: str
    findings: tuple[Finding, ...]

    @property
    def changed(self) -> bool:
        """Whether anything was masked (the admin is alerted when it was)."""
        return bool(self.findings)


# How sure we are that a normalised character was meant as what it now is.
_LIT = 0  # typed as such
_STRONG = 1  # from a deliberate disguise: "(at)", "[dot]", "-at-"
_WEAK = 2  # from a bare word: " at ", " dot ", " punkt "
_WORD = 3  # a digit from a number word: "seven", "sieben"


@dataclass
class _Norm:
    """The normalised copy: its text and, per character, the original span and a flag."""

    text: str
    start: list[int]
    end: list[int]
    flag: list[int]


# Keep the character at this index; keep it with another flag; or new text with a flag.
_Piece = int | tuple[int, int] | tuple[str, int]
_Repl = Callable[[re.Match[str]], list[_Piece] | None]


def _rewrite(norm: _Norm, pattern: re.Pattern[str], repl: _Repl) -> _Norm:
    """Apply ``repl`` to each match; new characters map to the whole span of their match."""
    text, starts, ends, flags = norm.text, norm.start, norm.end, norm.flag
    out: list[str] = []
    s: list[int] = []
    e: list[int] = []
    f: list[int] = []
    last = 0
    for m in pattern.finditer(text):
        a, b = m.span()
        if a == b:
            continue
        pieces = repl(m)
        if pieces is None:
            continue
        out.append(text[last:a])
        s.extend(starts[last:a])
        e.extend(ends[last:a])
        f.extend(flags[last:a])
        span_start, span_end = starts[a], ends[b - 1]
        for piece in pieces:
            if isinstance(piece, int):
                out.append(text[piece])
                s.append(starts[piece])
                e.append(ends[piece])
                f.append(flags[piece])
            elif isinstance(piece[0], int):
                index, flag = piece
                out.append(text[index])
                s.append(starts[index])
                e.append(ends[index])
                f.append(flag)
            else:
                new, flag = piece
                out.append(new)
                s.extend([span_start] * len(new))
                e.extend([span_end] * len(new))
                f.extend([flag] * len(new))
        last = b
    if last == 0 and not out:
        return norm
    out.append(text[last:])
    s.extend(starts[last:])
    e.extend(ends[last:])
    f.extend(flags[last:])
    return _Norm("".join(out), s, e, f)


# Step 1: characters ---------------------------------------------------------------------

_FOLD = {
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2015": "-",
    "\u3002": ".", "\uff0e": ".", "\u2024": ".", "\u00b7": ".", "\uff61": ".",
    "\uff20": "@", "\ufe6b": "@",
}


def _fold_characters(text: str) -> _Norm:
    """Lower case, fold full-width and look-alike characters, drop invisible ones."""
    if text.isascii():
        n = len(text)
        return _Norm(text.lower(), list(range(n)), list(range(1, n + 1)), [_LIT] * n)
    out: list[str] = []
    s: list[int] = []
    e: list[int] = []
    for i, c in enumerate(text):
        r = _FOLD.get(c)
        if r is None:
            r = c.lower() if c.isascii() else unicodedata.normalize("NFKC", c).lower()
        out.append(r)
        s.extend([i] * len(r))
        e.extend([i + 1] * len(r))
    joined = "".join(out)
    return _Norm(joined, s, e, [_LIT] * len(joined))


# Step 2: spaced-out characters ("j a n e", "0 1 7 0") -----------------------------------

_SPACED = re.compile(r"(?<!\S)\S(?!\S)(?:[ \t]{1,2}\S(?!\S))+")


def _join_spaced(m: re.Match[str]) -> list[_Piece]:
    # Spaced-out digits are a disguise as much as number words are: they count as spoken.
    return [(m.start() + i, _WORD) if c.isdigit() else m.start() + i
            for i, c in enumerate(m.group()) if not c.isspace()]


# Step 3: deliberate "(at)" / "[dot]" ------------------------------------------------------

_STRONG_AT_DOT = re.compile(
    r"(?<!\s)[ \t]*(?:"
    r"[(\[{<][ \t]*(?P<at1>at|ät|@)[ \t]*[)\]}>]"
    r"|[(\[{<][ \t]*(?P<dot1>dot|punkt|period|\.)[ \t]*[)\]}>]"
    r"|(?<=[^\W_])[ \t]*[-_#*~|]{1,3}[ \t]*(?P<at2>at|ät)[ \t]*[-_#*~|]{1,3}[ \t]*(?=[^\W_])"
    r"|(?<=[^\W_])[ \t]*[-_#*~|]{1,3}[ \t]*(?P<dot2>dot|punkt)[ \t]*[-_#*~|]{1,3}[ \t]*(?=[^\W_])"
    r")[ \t]*"
)


def _strong(m: re.Match[str]) -> list[_Piece]:
    return [("@" if (m.group("at1") or m.group("at2")) else ".", _STRONG)]


# Step 4: number words -------------------------------------------------------------------

_UNITS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9",
    "null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4", "fünf": "5", "fuenf": "5",
    "funf": "5", "sechs": "6", "sieben": "7", "acht": "8", "neun": "9",
}
_TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
    "zehn": "10", "elf": "11", "zwölf": "12", "zwoelf": "12", "dreizehn": "13", "vierzehn": "14",
    "fünfzehn": "15", "fuenfzehn": "15", "sechzehn": "16", "siebzehn": "17", "achtzehn": "18", "neunzehn": "19",
}
_TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fourty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
    "eighty": "8", "ninety": "9",
    "zwanzig": "2", "dreißig": "3", "dreissig": "3", "vierzig": "4", "fünfzig": "5", "fuenfzig": "5",
    "sechzig": "6", "siebzig": "7", "achtzig": "8", "neunzig": "9",
}
_EN_UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DE_UNITS = {"ein": "1", "zwei": "2", "drei": "3", "vier": "4", "fünf": "5", "fuenf": "5", "sechs": "6",
             "sieben": "7", "acht": "8", "neun": "9"}
_REPEAT = {"double": 2, "doppel": 2, "doppelt": 2, "triple": 3, "dreifach": 3}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_DE_TENS = ("zwanzig", "dreißig", "dreissig", "vierzig", "fünfzig", "fuenfzig", "sechzig", "siebzig", "achtzig",
            "neunzig")
_DE_COMPOUND = rf"(?:{_alternation(_DE_UNITS)})und(?:{_alternation(_DE_TENS)})"
_NUMBER_WORD = rf"(?:{_DE_COMPOUND}|{_alternation([*_UNITS, *_TEENS, *_TENS, *_REPEAT])})\b"
_NUMBER_RUN = re.compile(rf"\b(?:plus[ \t]+)?{_NUMBER_WORD}(?:[ \t,\-/]+{_NUMBER_WORD})*")
_TOKEN = re.compile(r"[^\W\d_]+")
_DE_COMPOUND_WORD = re.compile(rf"({_alternation(_DE_UNITS)})und(\w+)")
_PLUS_DIGIT = re.compile(r"\bplus[ \t]*(?=\d)")
_LETTER_O = re.compile(r"(?<=\d)o(?![^\W\d_])|(?<![^\W\d_])o(?=\d)")


def _words_to_digits(tokens: list[str]) -> str:
    """``["plus", "four", "nine"]`` -> ``"+49"``; ``["double", "seven"]`` -> ``"77"``."""
    out: list[str] = []
    repeat = 1
    i = 0
    while i < len(tokens):
        word = tokens[i]
        i += 1
        if word == "plus":
            out.append("+")
            continue
        if word in _REPEAT:
            repeat = _REPEAT[word]
            continue
        compound = _DE_COMPOUND_WORD.fullmatch(word)
        if compound and compound.group(2) in _TENS:
            digits = _TENS[compound.group(2)] + _DE_UNITS[compound.group(1)]
        elif word in _TENS:
            digits = _TENS[word] + "0"
            if i < len(tokens) and tokens[i] in _EN_UNITS:
                digits = _TENS[word] + _UNITS[tokens[i]]
                i += 1
        else:
            digits = _UNITS.get(word) or _TEENS.get(word, "")
        out.append(digits * repeat)
        repeat = 1
    return "".join(out)


def _number_run(m: re.Match[str]) -> list[_Piece] | None:
    tokens = _TOKEN.findall(m.group())
    digits = _words_to_digits(tokens)
    if not any(c.isdigit() for c in digits) or tokens == ["oh"]:
        return None  # "Oh, I see" is not a zero
    return [(digits, _WORD)]


# Step 5: bare "at" / "dot" ----------------------------------------------------------------

_WEAK_AT_DOT = re.compile(r"(?<=\w)[ \t]+(?:(?P<at>at|ät)|dot|punkt|\.)[ \t]+(?=\w)")


def _weak(m: re.Match[str]) -> list[_Piece]:
    return [("@" if m.group("at") else ".", _WEAK)]


def _normalise(text: str) -> _Norm:
    norm = _fold_characters(text)
    norm = _rewrite(norm, _SPACED, _join_spaced)
    norm = _rewrite(norm, _STRONG_AT_DOT, _strong)
    norm = _rewrite(norm, _NUMBER_RUN, _number_run)
    norm = _rewrite(norm, _PLUS_DIGIT, lambda m: [("+", _WEAK)])
    norm = _rewrite(norm, _LETTER_O, lambda m: [("0", _WORD)])
    return _rewrite(norm, _WEAK_AT_DOT, _weak)


# Vocabulary -------------------------------------------------------------------------------

_CC_TLDS = set(
    "de at ch li lu nl be fr it es pt pl cz sk hu ro bg hr si gr tr ru ua lt lv ee fi se no dk is uk ie us ca "
    "mx br ar cl cn jp kr in sg hk tw au nz za ae il vn th my id me eu".split()
)
_GENERIC_TLDS = set(
    "com net org info biz io co app dev online site shop store tech xyz email link page cloud digital group "
    "tv fm ly gl mobi asia global world solutions services consulting engineering industries systems expert "
    "partners design studio network agency company business".split()
)
# Also English words: without a path or "www." they are taken for a missing space ("check.it").
_WORDLIKE_TLDS = {"me", "it", "be", "is", "no", "in", "us", "to", "by", "my", "id", "so", "do", "go", "am", "an",
                  "as", "or", "at", "tv", "fm", "link", "page", "design", "group", "world", "global", "expert"}
_BARE_TLDS = _CC_TLDS | _GENERIC_TLDS
_SPELLED_TLDS = _BARE_TLDS - (_WORDLIKE_TLDS - {"at", "it"})
_FILE_EXTENSIONS = set(
    "png jpg jpeg gif bmp tif tiff svg pdf step stp stl igs iges dxf dwg csv xls xlsx xlsm doc docx ppt pptx "
    "txt zip rar tar gz exe html htm xml json py sh md ai ps eps prt sldprt sldasm asm catpart x_t x_b sat jt "
    "obj 3mf ipt iam log ini dat bak tmp".split()
)
_STOPWORDS = set(
    "a an the and or but if of for to from in on at by with about as into onto over under than then so "
    "is are was were be been am do does did have has had will would can could should may might must "
    "i me my we us our you your he him his she her it its they them their this that these those there here "
    "what which who when where why how all any some no not yes ok okay please thanks also only just still "
    "too very more most less least one two available reachable located found find look looking see seen "
    "visit meet met arrive arrived work working works worked stay live living based online offline home "
    "down up out off free fine good bad better open closed busy later today tomorrow now soon again "
    "anymore either neither call calls chat group meeting account contact number message "
    "der die das den dem des ein eine einer einen und oder aber wenn von zu im in am an auf bei mit nach "
    "für ist sind war bin bist hat habe haben wird werden kann ich mich mir du dich dir er sie es wir uns "
    "ihr euch nicht kein keine auch nur noch schon sehr gut bitte danke hier dort jetzt heute morgen".split()
)


# Detectors --------------------------------------------------------------------------------

_LABEL = r"[a-z0-9\u00e0-\u00ff][a-z0-9\u00e0-\u00ff\-]*"
_EMAIL = re.compile(
    r"(?<![\w.%+\-])(?P<local>[\w%+\-]+(?:(?:\.|[ \t]\.[ \t])[\w%+\-]+)*)[ \t]?@[ \t]?"
    rf"(?P<domain>{_LABEL}(?:[ \t]?\.[ \t]?{_LABEL})*)"
)
_DOMAIN_LABEL = re.compile(_LABEL)
_MAX_LABELS = 8  # "a.b.c.example.co.uk" has six; more are not read (keeps long dotted input linear)
_PROVIDERS = {"gmail", "googlemail", "gmx", "yahoo", "hotmail", "outlook", "icloud", "protonmail", "proton", "aol",
              "web", "t-online", "freenet", "posteo", "mailbox", "yandex", "qq"}
_WEAK_PROVIDERS = {"gmail", "googlemail", "gmx", "yahoo", "hotmail", "icloud", "protonmail", "t-online", "posteo"}

_URL = re.compile(r"(?<![\w])(?:(?:https?|hxxps?|ftps?)[ \t]?:[ \t]?//[ \t]?|www\d{0,3}[ \t]?\.)[^\s<>\"'`{}|\\^]+")
_HOST = re.compile(rf"(?<![\w.\-/])(?P<host>(?:{_LABEL}\.)+(?P<tld>[a-z]{{2,24}}))(?![\w\-])(?P<path>/[^\s<>\"']*)?")

_AT_HANDLE = re.compile(r"(?<![\w@.+\-])@(?P<h>[a-z_][\w.\-]{2,39})")
_PLATFORM = re.compile(
    r"\b(?:skype|telegram|whats[ \t]?app|wechat|we[ \t]chat|weixin|threema|viber|discord|instagram|insta|"
    r"twitter|tiktok|snapchat|facebook|linkedin|xing|github|gitlab|kik|icq|imessage|facetime|"
    r"line[ \t]+id|signal[ \t]+id|wire[ \t]+id)\b"
    r"(?P<c>(?:[ \t]*(?:[:=@/\-]|(?:id|is|ist|name|handle|user(?:name)?|nick(?:name)?|account|konto|profile?|"
    r"profil|contact|kontakt|adresse|address|me|on|under|unter|auf|via|lautet|heißt|heisst|als|as|my|mein|meine|add|find|"
    r"search|suche)\b)){0,5})[ \t]*"
    r"(?P<h>live:[\w.\-]{2,40}|(?:in/)?[a-z0-9_][\w.\-#]{1,39})"
)
_STRONG_CONNECTOR = re.compile(r"[:=@]|\b(?:id|name|handle|user(?:name)?|nick(?:name)?|lautet|heißt|heisst)\b")
_MINE = re.compile(r"\b(?:my|mein|meine|meinen|mine|our|unser|unsere)[ \t]+$")
_MEDIUM_CONNECTOR = re.compile(r"\b(?:is|ist|under|unter|as|als)\b")
_CONNECTOR_WORDS = set(
    "id is ist name handle user username nick nickname account konto profile profil contact kontakt adresse address "
    "me on under unter auf via lautet heißt heisst als as my mein meine add find search suche".split()
)

_RUN = re.compile(r"(?<![\w+])(?:\+[ \t]?|\(\+?)?\d[\d \t./()\-]*")
_GAP = re.compile(r"\D+")
_DATE = re.compile(
    r"(?<!\d)(?:(?P<d>\d{1,2})(?P<s>[./\-])(?P<m>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})|(?P<mm>\d{1,2})[./](?P<yy>(?:19|20)\d\d))(?!\d)"
)
_DECIMAL = re.compile(r"\d+[.,]\d+")
_IP = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_PHONE_WORDS = re.compile(
    r"(?:\b(?:tel|tele(?:fon|phon|phone)\w*|phone\w*|ph|fon|call|calls|ring|dial|mobil\w*|cell\w*|handy\w*|"
    r"whats[ \t]?app|wa|signal|telegram|viber|threema|sms|text|texts|fax|reach|reached|erreich\w*|anruf\w*|"
    r"ruf|rufe|rufen|rufnummer|durchwahl|direct|direkt|privat\w*|private)\b"
    r"|\b(?:my|meine?|private|privat)[ \t]+(?:number|nummer)\b|\b(?:number|nummer)[ \t]+(?:is|ist|lautet)\b"
    r"|(?:telefon|handy|mobil|ruf)nummer)"
)
_REF_WORDS = re.compile(
    r"\b(?:part|parts|teil\w*|art|artikel\w*|article|item|items|pos|position|p/?n|sku|ref|reference|referenz|"
    r"order|orders|po|bestell\w*|auftrag\w*|lot|lots|batch|charge|chargen\w*|los|serial|s/n|sn|serien\w*|"
    r"drawing|zeichnung\w*|dwg|invoice|rechnung\w*|ticket|case|id|nr|no|number|nummer|material\w*|"
    r"sachnummer|project|projekt\w*|tool|werkzeug\w*|quote|quotation|angebot\w*|offer|rev|revision|version|"
    r"ver|doc|dokument\w*|file|datei|ean|gtin|upc|tracking|sendung\w*|lieferschein\w*|delivery|iban|bic|"
    r"account|konto\w*|blz|vat|ust\w*|tax|steuer\w*|hrb|kunden\w*|customer|supplier|lieferant\w*|code|"
    r"barcode|sap|erp|job|kw|norm|standard)\b"
)
_STANDARD_BEFORE = re.compile(
    r"\b(?:iso|din|en|astm|ul|iec|vdi|vda|sae|jis|gb/t|gb|bs|nf|ieee|mil|tl|pv|ts|iatf|asme|afnor|ansi)[ \t/\-]*$"
)
_CURRENCY_BEFORE = re.compile(r"(?:€|\$|£|¥|\b(?:eur|euro|usd|chf|gbp|rmb|cny|jpy))[ \t]*$")
_UNIT_AFTER = re.compile(
    r"[ \t]*(?:°|%|‰|€|\$|£|"
    r"(?:k?n|mm|cm|dm|µm|μm|um|m|km|bar|mbar|psi|mpa|gpa|kpa|pa|kg|mg|g|t|s|sec|ms|min|h|hrs?|hours?|std|"
    r"stunden|tage|days?|weeks?|wochen|rpm|u/min|1/min|ppm|kw|w|v|ma|hz|khz|l|ml|cm3|cm³|mm2|mm²|mm3|n/mm|j|kj|"
    r"x|pcs|pc|stk|stück|pieces|parts|teile|shots|schuss|schüsse|cycles|zyklen|cavities|kavitäten|fach|eur|euro|"
    r"usd|chf|gbp|tons?|tonnen|inch|ft|lbs?|oz|k)\b)"
)
# A full stop after a word of four letters or more ends a sentence; "no.", "tel.", "ca." do not.
_SENTENCE_BREAK = re.compile(r"(?:[;!?\n]|(?<=[a-zäöüß]{4})\.)\s")


def _weak_word(word: str) -> bool:
    return word.strip(".-_").lower() in _STOPWORDS


def _emails(n: _Norm) -> Iterable[tuple[str, int, int]]:
    t = n.text
    pos = 0
    while (m := _EMAIL.search(t, pos)) is not None:
        at = t.index("@", m.end("local"))
        # On a rejection look again right after the "@": in "me at jane.doe at gmail dot com" the
        # first "@" is the English word and the address starts after it.
        pos = at + 1
        local = m.group("local")
        if not any(c.isalnum() for c in local):
            continue
        if n.flag[at] == _WEAK and (_weak_word(local.split(".")[-1]) or _weak_word(local)):
            continue
        labels_text = m.group("domain")
        if n.flag[at] == _WEAK and local.isalpha() and all(
            n.flag[i] == _LIT for i in range(m.start("domain"), m.end("domain")) if t[i] == "."
        ) and "." in labels_text:
            continue  # "looked at iso.org": the English word before a typed domain (masked as a link)
        labels = []
        for lm in _DOMAIN_LABEL.finditer(t, m.start("domain"), m.end("domain")):
            labels.append(lm.span())
            if len(labels) == _MAX_LABELS:
                break
        end = _email_end(n, at, labels)
        if end is not None:
            yield "email", m.start(), end
            pos = end


def _email_end(n: _Norm, at: int, labels: list[tuple[int, int]]) -> int | None:
    """Where the address ends: the longest label sequence with a valid top-level domain, else a provider."""
    t, flag = n.text, n.flag
    at_flag = flag[at]
    if at_flag == _WEAK and t[labels[0][0]:labels[0][1]] == "www":
        return None
    for k in range(len(labels), 1, -1):
        tld = t[labels[k - 1][0]:labels[k - 1][1]]
        dots = [i for i in range(labels[0][1], labels[k - 1][0]) if t[i] == "."]
        weak = at_flag == _WEAK or any(flag[i] == _WEAK for i in dots)
        if len(tld) < 2 or not tld.isalpha():
            continue
        if weak:
            before_tld = t[labels[k - 2][0]:labels[k - 2][1]]
            if (tld in _SPELLED_TLDS and not _weak_word(before_tld)) or (
                before_tld in _PROVIDERS and tld in _BARE_TLDS
            ):
                return labels[k - 1][1]
        elif (tld in _BARE_TLDS if any(flag[i] != _LIT for i in dots) or at_flag != _LIT
              else tld not in _FILE_EXTENSIONS):
            return labels[k - 1][1]
    first = t[labels[0][0]:labels[0][1]]
    if first in (_WEAK_PROVIDERS if at_flag == _WEAK else _PROVIDERS):
        return labels[0][1]
    end = labels[0][1]
    dangling_dot = end + 1 < len(t) and t[end] == "." and t[end + 1].isalnum()
    tight = not t[at - 1].isspace() and labels[0][0] == at + 1
    if at_flag == _LIT and tight and first[:1].isalpha() and len(first) >= 2 and not dangling_dot:
        return end  # "jane@acme": a typed "@" between two words
    return None


def _urls(n: _Norm) -> Iterable[tuple[str, int, int]]:
    for m in _URL.finditer(n.text):
        yield "link", m.start(), m.end()


# Software names written like a domain: a technical sentence that names them is not a link.
_TECH_NAMES = frozenset({"socket.io", "engine.io", "asp.net", "ado.net", "vb.net", "dot.net"})


def _hosts(n: _Norm, original: str) -> Iterable[tuple[str, int, int]]:
    t, flag = n.text, n.flag
    for m in _HOST.finditer(t):
        tld = m.group("tld")
        host = m.group("host")
        tld_dot = m.start("tld") - 1
        labels = host.split(".")
        if tld not in _BARE_TLDS or not any(c.isalpha() for c in labels[0]):
            continue
        dots = [i for i in range(m.start("host"), m.end("host")) if t[i] == "."]
        has_path = bool(m.group("path")) and len(m.group("path")) > 1
        if host in _TECH_NAMES and not has_path and all(flag[i] == _LIT for i in dots):
            continue  # "over Socket.IO", "on ASP.NET"
        if any(flag[i] == _WEAK for i in dots):
            if tld not in _SPELLED_TLDS or _weak_word(labels[-2]):
                continue
        elif tld in _WORDLIKE_TLDS and not has_path and labels[0] != "www":
            continue
        if flag[tld_dot] == _LIT:
            typed = original[n.start[m.start("tld")]:n.end[m.end("tld") - 1]]
            if typed[:1].isupper() and not typed.isupper():
                continue  # "finished.It works": a missing space, not a domain
        yield "link", m.start(), m.end()


def _handles(n: _Norm) -> Iterable[tuple[str, int, int]]:
    t, flag = n.text, n.flag
    for m in _AT_HANDLE.finditer(t):
        if flag[m.start()] != _LIT:
            continue
        h = m.group("h").rstrip(".-")
        if len(h) >= 3 and h not in _STOPWORDS:
            yield "handle", m.start(), m.start("h") + len(h)
    for m in _PLATFORM.finditer(t):
        raw = m.group("h")
        h = raw.removeprefix("in/").removeprefix("live:").rstrip(".-#")
        if len(h) < 2 or h in _STOPWORDS or h in _CONNECTOR_WORDS:
            continue
        connectors = m.group("c")
        strong = bool(_STRONG_CONNECTOR.search(connectors))
        marked = any(c.isdigit() or c in "._-#" for c in h) or raw.startswith(("in/", "live:"))
        if not any(c.isalpha() for c in h) or (h[0].isdigit() and not strong):
            continue  # "Threema: 7XK3M9PQ" yes, "Tg: 105" (a glass transition) no
        mine = bool(_MINE.search(t[max(0, m.start() - 12):m.start()]))
        if not (strong or marked or (mine and _MEDIUM_CONNECTOR.search(connectors))):
            continue  # "my telegram is janedoe" yes, "Skype is blocked" no
        start = m.start("h")
        if start > 0 and t[start - 1] in "@/":
            start -= 1
        yield "handle", start, m.start("h") + len(raw.rstrip(".-#"))


def _phones(n: _Norm, original: str) -> Iterable[tuple[str, int, int]]:
    t = n.text
    for m in _RUN.finditer(t):
        a, b = m.span()
        while b > a and not t[b - 1].isdigit():
            b -= 1
        for seg_start, seg_end in _segments(t, a, b):
            typed = original[n.start[seg_start]:n.end[seg_end - 1]]
            if _is_phone(n, seg_start, seg_end) and not _is_counting(typed):
                yield "phone", seg_start, seg_end


def _is_counting(typed: str) -> bool:
    """``1 2 3 4 5 6 7 8 9 10``: a numbered sequence, not a number."""
    numbers = [int(x) for x in re.findall(r"\d+", typed)]
    return len(numbers) >= 4 and all(b - a == 1 for a, b in zip(numbers, numbers[1:], strict=False))


def _segments(t: str, a: int, b: int) -> Iterable[tuple[int, int]]:
    """Split a run of digits and separators at long gaps and around dates."""
    pieces: list[tuple[int, int]] = []
    seg_start = a
    for gap in _GAP.finditer(t, a, b):
        if gap.start() == a:
            continue
        if len(gap.group()) > 3 or gap.group().count("(") > 1:
            pieces.append((seg_start, gap.start()))
            seg_start = gap.end()
    pieces.append((seg_start, b))
    for s, e in pieces:
        cursor = s
        for date in _DATE.finditer(t, s, e):
            if _is_date(date):
                if date.start() > cursor:
                    yield from _trimmed(t, cursor, date.start())
                cursor = date.end()
        if cursor < e:
            yield from _trimmed(t, cursor, e)


def _trimmed(t: str, a: int, b: int) -> Iterable[tuple[int, int]]:
    while a < b and not (t[a].isdigit() or t[a] in "+("):
        a += 1
    while b > a and not t[b - 1].isdigit():
        b -= 1
    if b > a:
        yield a, b


def _is_date(m: re.Match[str]) -> bool:
    if m.group("mm"):
        return 1 <= int(m.group("mm")) <= 12
    if m.group("iy"):
        return 1 <= int(m.group("im")) <= 12 and 1 <= int(m.group("id")) <= 31
    first, second = int(m.group("d")), int(m.group("m"))
    return 1 <= first <= 31 and 1 <= second <= 31 and min(first, second) <= 12


def _is_phone(n: _Norm, a: int, b: int) -> bool:
    t, flag = n.text, n.flag
    seg = t[a:b]
    digits = sum(c.isdigit() for c in seg)
    if digits > 16 or digits < 6:
        return False
    spoken = sum(1 for i in range(a, b) if flag[i] == _WORD and t[i].isdigit())
    window = t[max(0, a - 40):a]
    breaks = list(_SENTENCE_BREAK.finditer(window))
    if breaks:
        window = window[breaks[-1].end():]
    phone_hits = list(_PHONE_WORDS.finditer(window))
    ref_hits = list(_REF_WORDS.finditer(window[-30:]))
    # The nearer word decides: "call the toolmaker, part 4711-220-03" is a part number.
    phone_word = bool(phone_hits) and not (
        ref_hits and ref_hits[-1].start() + len(window) - min(30, len(window)) >= phone_hits[-1].end()
    )
    plus = seg.startswith("+") or seg.startswith("(+") or t[max(0, a - 2):a].strip() == "+"
    if digits < (6 if phone_word else 8):
        return False
    after = t[b:b + 12]
    if _UNIT_AFTER.match(after) or _CURRENCY_BEFORE.search(t[max(0, a - 8):a]):
        return False
    if b < len(t) and (t[b].isalpha() or (t[b] in "-_/." and b + 1 < len(t) and t[b + 1].isalnum())):
        return False  # continues as a code: "4711-220-03A", "2027-03-12T10:00"
    if a >= 2 and t[a - 1] in "-_/." and t[a - 2].isalnum() and not phone_word:
        return False  # the tail of a code: "PA66-GF30-1234-5678"
    if _IP.fullmatch(seg) or sum(1 for tok in seg.split() if _DECIMAL.fullmatch(tok)) >= 2:
        return False
    if spoken >= 3 and digits >= 8:
        return True
    groups = re.findall(r"\d+", seg)
    seps = {s.strip() or " " for s in _GAP.findall(seg.lstrip("+("))}
    lead_zero = groups[0].startswith("0") or seg.startswith("(0")
    one_sep = len(groups) > 1 and (seps <= {"-"} or seps <= {"."} or seps <= {"/"})
    if plus:
        return True
    if phone_word:
        # Only the North American layout is written with one separator and no leading 0.
        return lead_zero or not one_sep or [len(g) for g in groups] == [3, 3, 4]
    if ref_hits or _STANDARD_BEFORE.search(window):
        return False
    if len(groups) == 1:
        return lead_zero and digits >= 9
    if lead_zero:
        return not all(len(g) == 4 and 1900 <= int(g) <= 2100 for g in groups)
    if len(groups) == 2:
        return False  # a range or a ratio: "2025-2027", "100000-150000"
    if len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]) and len(seps) == 1:
        return False  # thousands or a list of three-digit values: "12 500 000", "220 230 240 250"
    if one_sep:
        return [len(g) for g in groups] == [3, 3, 4]  # "555-123-4567", not "4711-220-03"
    return True


# Masking ----------------------------------------------------------------------------------

_TRAILING = ".,;:!?)]}'\"»“”"


def _to_original(n: _Norm, original: str, kind: str, a: int, b: int) -> tuple[str, int, int] | None:
    start, end = n.start[a], n.end[b - 1]
    while start < end and original[start].isspace():
        start += 1
    opened = original.count("(", start, end) - original.count(")", start, end) if kind == "link" else 0
    while end > start:
        last = original[end - 1]
        if last.isspace():
            end -= 1
        elif kind == "link" and last in _TRAILING:
            if last == ")":
                if opened >= 0:
                    break  # "wiki/Mould_(tool)" keeps its closing bracket
                opened += 1
            end -= 1
        else:
            break
    return (kind, start, end) if end > start else None


def mask_contacts(text: str) -> Masked:
    """Find contact details in ``text`` and replace each with :data:`MASK`.

    Catches e-mail addresses, phone numbers, links and social handles, also when
    disguised ("jane at gmail dot com", "null eins sieben null ...", "n a m e @ ...").
    Ordinary technical writing (part numbers, temperatures, standards, dates, money)
    is left alone. ``findings`` gives each detail's kind and span in ``text``.
    """
    if not text:
        return Masked(text, ())
    n = _normalise(text)
    spans: list[tuple[str, int, int]] = []
    for kind, a, b in (*_urls(n), *_emails(n), *_hosts(n, text), *_handles(n), *_phones(n, text)):
        if b > a and (mapped := _to_original(n, text, kind, a, b)) is not None:
            spans.append(mapped)
    if not spans:
        return Masked(text, ())
    spans.sort(key=lambda s: (s[1], -s[2]))
    merged: list[tuple[str, int, int]] = []
    for kind, start, end in spans:
        if merged and start < merged[-1][2]:
            prev_kind, prev_start, prev_end = merged[-1]
            longer = kind if end - start > prev_end - prev_start else prev_kind
            merged[-1] = (longer, prev_start, max(prev_end, end))
        else:
            merged.append((kind, start, end))
    findings = tuple(Finding(kind, text[start:end], start, end) for kind, start, end in merged)
    out: list[str] = []
    last = 0
    for finding in findings:
        out.append(text[last:finding.start])
        out.append(MASK)
        last = finding.end
    out.append(text[last:])
    return Masked("".join(out), findings)
