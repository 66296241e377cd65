"""A small lexicon of profanity and slurs, used only to slice data, never to classify.

Hate without any of these words ("implicit" hate: stereotypes, exclusion,
dehumanising comparisons) is what deployed models miss most, so ``train`` and
``evaluate`` report recall on that slice separately. Matching is on whole words
(with common inflections) after lower-casing, undoing common character swaps
(``@``->a, ``1``->i, ...) and removing masking characters, so simple obfuscations
count as explicit too.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Whole words; a listed word followed by one of SUFFIXES counts too (bitch -> bitches).
PROFANITY = (
    "fuck", "fuk", "fck", "motherfuck", "shit", "shitty", "bullshit", "bitch", "biatch", "cunt", "dick", "cock",
    "pussy", "ass", "asshole", "arse", "arsehole", "bastard", "damn", "crap", "crappy", "piss", "whore", "hoe",
    "slut", "wank", "twat", "prick", "mf", "stfu", "wtf", "douche", "jackass", "dumbass", "skank", "thot",
)  # fmt: skip
SLURS = (
    "nigg", "nigga", "niga", "negro", "coon", "spic", "wetback", "beaner", "chink", "gook", "jap", "kike",
    "raghead", "towelhead", "paki", "wop", "dago", "gypsy", "redskin", "squaw", "cracker", "honky", "whitey",
    "faggot", "fag", "dyke", "tranny", "trannie", "homo", "queer", "lesbo", "retard", "tard", "spaz",
    "mongoloid", "cripple", "midget", "fatass", "fatso", "lardass", "hillbilly", "redneck", "trailer trash",
    "white trash", "mudslime", "muzzie", "camel jockey", "zipperhead", "ching chong", "feminazi", "bimbo",
)  # fmt: skip
SUFFIXES = ("s", "es", "z", "a", "as", "az", "er", "ers", "ed", "ing", "in", "ie", "ies")

_SWAPS = str.maketrans({"@": "a", "4": "a", "1": "i", "!": "i", "3": "e", "0": "o", "$": "s", "5": "s", "7": "t"})


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    words = sorted({*PROFANITY, *SLURS}, key=len, reverse=True)
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    suffixes = "|".join(sorted(SUFFIXES, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alternatives})(?:{suffixes})?(?![a-z])")


def canonical(text: str) -> str:
    """Lower-case, undo character swaps and drop masking characters inside words (f*ck, s.h.i.t)."""
    lowered = text.lower().translate(_SWAPS)
    return re.sub(r"(?<=[a-z])[*._-]+(?=[a-z])", "", lowered)


def is_explicit(text: str) -> bool:
    """True when ``text`` contains a profanity or slur from the lexicon."""
    return bool(_pattern().search(canonical(text)))
