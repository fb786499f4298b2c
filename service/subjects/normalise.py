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

# Letters from Cyrillic, Greek and other scripts that render like Latin ones (after case folding).
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "и": "u", "й": "u", "к": "k", "м": "m",
    "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ц": "u",
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
_LETTERS = re.compile(r"[a-z]+")
_DIGIT_SUFFIX = re.compile(r"^([a-z]{3,})[0-9]+$")


def _invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    # Cf: zero-width and bidi controls, soft hyphen; Mn/Me: combining marks (accents, strokes).
    return category in ("Cf", "Mn", "Me") or ch in "\u115f\u1160\u3164\uffa0\u2800"


def fold(text: str) -> str:
    """NFKC, case-folded, invisible characters and accents removed, other scripts to Latin."""
    if text.isascii():
        # Nothing to normalise in ASCII, and most subjects are: keep the common case fast.
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    stripped = "".join(ch for ch in decomposed if not _invisible(ch))
    return unicodedata.normalize("NFC", stripped).translate(_CONFUSABLES)


def skeleton(word: str) -> str:
    return fold(word).translate(_LEET)


def word_tokens(folded: str) -> list[str]:
    """Skeleton words, with letters spaced or dotted apart joined back ("h i v" -> "hiv")."""
    tokens: list[str] = []
    for raw in _WORD_CHUNK.findall(folded):
        # Symbols at the edges are punctuation ("Reminder!"), not letters.
        chunk = raw.strip("@$!|+€£")
        if not any("a" <= ch <= "z" for ch in chunk):
            continue  # a number: the detectors deal with it, it hides no word
        tokens.extend(_LETTERS.findall(chunk.translate(_LEET)))
        if (suffix := _DIGIT_SUFFIX.match(chunk)) is not None:
            tokens.append(suffix.group(1).translate(_LEET))  # "covid19" is also "covid"
    joined: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        if len(run) >= 2:
            joined.append("".join(run))
        elif run:
            joined.append(run[0])
        run = []
        if token:
            joined.append(token)
    return joined
