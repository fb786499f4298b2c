"""Undoing the tricks that hide a word from a matcher, before any matching.

``fold`` gives comparable text with digits intact (for the date and identifier detectors);
``word_tokens`` goes further, to a skeleton alphabet in which lookalikes coincide: letters from
other scripts become Latin, digits and symbols used as letters become those letters, and
``l``/``1``/``|``/``!`` all become ``i`` (the lexicon is skeletonised the same way, so "he|pes",
"d1abetes" and "HlV" all meet their terms).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

# Letters from Cyrillic, Greek and other scripts that render like Latin ones (after case folding).
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "г": "r", "е": "e", "ё": "e", "з": "3", "и": "u", "й": "u", "к": "k",
    "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x",
    "ц": "u",
    "ч": "4", "ш": "w", "щ": "w", "ь": "b", "ы": "bi", "ѕ": "s", "і": "i", "ї": "i", "ј": "j",
    "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ɪ": "i",
    "ʀ": "r", "ʏ": "y", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o", "ᴘ": "p",
    "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "α": "a", "β": "b", "γ": "y", "δ": "d",
    "ε": "e", "ζ": "z", "η": "n", "θ": "o", "ι": "i", "κ": "k", "λ": "a", "μ": "u", "ν": "v",
    "ξ": "e", "ο": "o", "π": "n", "ρ": "p", "σ": "o", "ς": "c", "τ": "t", "υ": "u", "φ": "o",
    "χ": "x", "ψ": "w", "ω": "w", "ℓ": "l", "ı": "i", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe",
    "đ": "d", "ħ": "h", "ł": "l", "ŧ": "t",
})

# Digits and symbols standing in for letters, and letters that pass for each other.
_LEET = str.maketrans({
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "£": "l", "l": "i",
})

# Inside a word these glue letters together; elsewhere they separate words.
_WORD_CHUNK = re.compile(r"[a-z0-9@$!|+€£]+")
_EDGE_SYMBOLS = "@$!|+€£"
_LETTERS = re.compile(r"[a-z]+")
_DIGIT_SUFFIX = re.compile(r"^([a-z]{3,})[0-9]+$")


def _invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    # Cf: zero-width and bidi controls, soft hyphen; Mn/Me: combining marks (accents, strokes).
    return category in ("Cf", "Mn", "Me") or ch in "\u115f\u1160\u3164\uffa0\u2800"


@cache
def _fold_char(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    kept = "".join(c for c in decomposed if not _invisible(c))
    return unicodedata.normalize("NFC", kept).translate(_CONFUSABLES)


@dataclass(frozen=True, slots=True)
class Folded:
    """Folded text and, for each of its characters, where it came from in the original, so a
    finding can be pointed at in the text the sender wrote."""

    text: str
    origin: tuple[int, ...] | None  # None: the same positions (ASCII in, ASCII out)

    def span(self, start: int, end: int) -> tuple[int, int]:
        if self.origin is None:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1


def fold_text(text: str) -> Folded:
    """NFKC, case-folded, invisible characters and accents removed, other scripts to Latin,
    character by character so that every folded character knows its source."""
    if text.isascii():
        # Nothing to normalise in ASCII, and most subjects are: keep the common case fast.
        return Folded(text.lower(), None)
    parts: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        folded = _fold_char(ch)
        parts.append(folded)
        origin.extend([index] * len(folded))
    return Folded("".join(parts), tuple(origin))


def fold(text: str) -> str:
    return fold_text(text).text


def skeleton(word: str) -> str:
    return fold(word).translate(_LEET)


@dataclass(slots=True)  # not frozen: made for every word, and frozen ones cost 3 times more
class Token:
    """A skeleton word and its span in the folded text."""

    text: str
    start: int
    end: int


def tokens(folded: str) -> list[Token]:
    """Skeleton words, with letters spaced or dotted apart joined back ("h i v" -> "hiv")."""
    found: list[Token] = []
    for chunk_match in _WORD_CHUNK.finditer(folded):
        raw = chunk_match.group()
        if raw.isalpha():  # the common case: a plain word
            found.append(Token(raw.translate(_LEET), chunk_match.start(), chunk_match.end()))
            continue
        # Symbols at the edges are punctuation ("Reminder!"), not letters.
        left = len(raw) - len(raw.lstrip(_EDGE_SYMBOLS))
        chunk = raw.strip(_EDGE_SYMBOLS)
        if not any("a" <= ch <= "z" for ch in chunk):
            continue  # a number: the detectors deal with it, it hides no word
        base = chunk_match.start() + left
        for letters in _LETTERS.finditer(chunk.translate(_LEET)):
            found.append(Token(letters.group(), base + letters.start(), base + letters.end()))
        if (suffix := _DIGIT_SUFFIX.match(chunk)) is not None:
            # "covid19" is also "covid"
            found.append(Token(suffix.group(1).translate(_LEET), base, base + len(chunk)))
    if all(len(token.text) > 1 for token in found):
        return found
    joined: list[Token] = []
    run: list[Token] = []
    for token in [*found, None]:
        # Letters of one word are spaced alike; a wider gap starts the next word
        # ("R e f i l l  r e a d y").
        if token is not None and len(token.text) == 1 and (
                len(run) < 2 or token.start - run[-1].end <= run[1].start - run[0].end):
            run.append(token)
            continue
        if len(run) >= 2:
            joined.append(Token("".join(t.text for t in run), run[0].start, run[-1].end))
        elif run:
            joined.append(run[0])
        run = []
        if token is not None and len(token.text) == 1:
            run.append(token)
        elif token is not None:
            joined.append(token)
    return joined


def word_tokens(folded: str) -> list[str]:
    return [token.text for token in tokens(folded)]


# Single characters spaced or dotted apart, three or more: "1 4 t h", "M R N 4 4 8".
_SPACED = re.compile(r"(?<![a-z0-9])[a-z0-9](?:[ .][a-z0-9](?![a-z0-9])){2,}")
# Letters standing for digits inside a number: "1O:3O" is "10:30", "12OO" is "1200".
_DIGIT_LOOKALIKE = re.compile(r"(?<=[0-9:])[oil]+(?![a-z])|[oil](?=[0-9]*:[0-9])")


_AS_DIGITS = str.maketrans("oil", "011")
# A word with digits or symbols among its letters ("f0urteenth", "f1ve", "Z0l0ft"), but not a
# number with its suffix ("14th", "10am").
_LEET_WORD = re.compile(r"(?<![a-z0-9])(?=[a-z0-9@$]*[a-z][a-z0-9@$]*[a-z])(?=[a-z]*[0-9@$])"
                        r"(?!\d+(?:st|nd|rd|th|am|pm|h|er)\b)[a-z0-9@$]+")
# Leet without the l/i merge of the skeleton alphabet, so "twelve" stays "twelve".
_UNLEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                         "$": "s"})


def decode_words(folded: str) -> str | None:
    """The folded text with digits and symbols inside words read as the letters they stand
    for, same length; None when no word has any."""
    if _LEET_WORD.search(folded) is None:
        return None
    return _LEET_WORD.sub(lambda m: m.group().translate(_UNLEET), folded)


def unreadable_words(text: str) -> list[tuple[int, int]]:
    """The words written wholly in a script other than Latin ("预约提醒", "Напоминание"): the
    vocabulary is Latin-script, so such a word cannot be judged. A Latin word with lookalike
    letters from another script (a Cyrillic a in "Patel") is folded instead."""
    if text.isascii():
        return []
    return [
        (match.start(), match.end()) for match in _LETTER_RUN.finditer(text)
        if not any(ch.isascii() or "LATIN" in unicodedata.name(ch, "") for ch in match.group())
    ]


_LETTER_RUN = re.compile(r"[^\W\d_]{2,}|[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def compact(folded: str) -> tuple[str, list[int]] | None:
    """The folded text with spaced-out characters closed up and lookalike digits read as
    digits, and where each character came from; None when there is nothing to close up."""
    if _SPACED.search(folded) is None and _DIGIT_LOOKALIKE.search(folded) is None:
        return None
    text = _DIGIT_LOOKALIKE.sub(lambda m: m.group().translate(_AS_DIGITS), folded)
    out: list[str] = []
    origin: list[int] = []
    last = 0
    for match in _SPACED.finditer(text):
        out.append(text[last : match.start()])
        origin.extend(range(last, match.start()))
        for offset, ch in enumerate(match.group()):
            if ch not in " .":
                out.append(ch)
                origin.append(match.start() + offset)
        last = match.end()
    out.append(text[last:])
    origin.extend(range(last, len(text)))
    return "".join(out), origin
