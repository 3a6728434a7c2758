"""Article placeholders in the frames agree with the inserted noun.

A frame writes the article in front of its slot as a placeholder, e.g.
    de  "Hast du {den} {X} gesehen?"        fr  "Où as-tu mis {le} {X}?"
    es  "¿Dónde has puesto {el} {X}?"       it  "Dove hai messo {il} {X}?"
and `fill_articles` picks the form from the noun's gender in the FRAME's language:
the `<lang>_gender` column of words.tsv for that row, whichever language the noun
itself comes from (a French speaker says "la meeting" because it is "la réunion").
A capitalised placeholder ({Der}, {Le}) gives a capitalised article.

Sound-dependent forms (decided on the spelling of the noun that follows, so they are
deterministic):
    fr, it  elision before a vowel or h: l', de l', à l', dell', all' (h is taken as
            mute: "l'hôtel", also for borrowed words "l'Handy"); fr mon/cet before a
            vowel (mon e-mail, cet hôtel).
    it      lo, dello, allo before s + consonant, z, gn, ps, pn, x, y (lo smartphone).
            quest' is optional in Italian and is not used.
    es      none (el before stressed á- feminine nouns, "el agua", is not modelled: no
            Spanish noun of words.tsv needs it).
A noun in another script counts as vowel-initial when its first sound is written as
a vowel: a Hangul syllable with the silent initial ㅇ, a kana vowel; kanji never.

An elided form ends in an apostrophe and joins the noun without a space. Read alone
by a TTS voice, "l'" is spelled out ("elle"), so when a language switch follows
the article the segment is spoken with the full form (`spoken=True`: le/la, lo/la,
du/de la...) while the transcript keeps the written form.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Dict

# lang -> placeholder -> gender -> form before a consonant (the default form)
FORMS: Dict[str, Dict[str, Dict[str, str]]] = {
    "de": {
        "der": {"m": "der", "f": "die", "n": "das"},     # nominative
        "den": {"m": "den", "f": "die", "n": "das"},     # accusative
        "dem": {"m": "dem", "f": "der", "n": "dem"},     # dative
        "mein": {"m": "meinen", "f": "meine", "n": "mein"},  # accusative possessive
    },
    "fr": {
        "le": {"m": "le", "f": "la"},
        "du": {"m": "du", "f": "de la"},     # de + le
        "au": {"m": "au", "f": "à la"},      # à + le
        "mon": {"m": "mon", "f": "ma"},
        "ce": {"m": "ce", "f": "cette"},
    },
    "es": {
        "el": {"m": "el", "f": "la"},
        "del": {"m": "del", "f": "de la"},   # de + el
        "al": {"m": "al", "f": "a la"},      # a + el
        "este": {"m": "este", "f": "esta"},
    },
    "it": {
        "il": {"m": "il", "f": "la"},
        "del": {"m": "del", "f": "della"},   # di + il
        "al": {"m": "al", "f": "alla"},      # a + il
        "mio": {"m": "il mio", "f": "la mia"},
        "questo": {"m": "questo", "f": "questa"},
    },
}
# forms before a vowel sound (only where they differ)
BEFORE_VOWEL: Dict[str, Dict[str, Dict[str, str]]] = {
    "fr": {
        "le": {"m": "l'", "f": "l'"},
        "du": {"m": "de l'", "f": "de l'"},
        "au": {"m": "à l'", "f": "à l'"},
        "mon": {"f": "mon"},
        "ce": {"m": "cet"},
    },
    "it": {
        "il": {"m": "l'", "f": "l'"},
        "del": {"m": "dell'", "f": "dell'"},
        "al": {"m": "all'", "f": "all'"},
    },
}
# Italian masculine before s + consonant, z, gn, ps, pn, x, y; also the full form an
# elided masculine article is spoken as (lo amico -> l'amico)
IT_LO = {"il": "lo", "del": "dello", "al": "allo"}
_IT_LO_ONSET = re.compile(r"^(s[^aeiou]|z|gn|ps|pn|x|y)")

_PLACEHOLDER = re.compile(r"\{([A-Za-z]+)\}( ?)")
_KANA_VOWELS = set("あいうえおアイウエオ")
_HANGUL_BASE, _HANGUL_INITIAL_SPAN, _HANGUL_IEUNG = 0xAC00, 588, 11


def _plain_lower(word: str) -> str:
    """Lower case without accents: 'Hôtel' -> 'hotel' (spelling tests only)."""
    d = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in d if not unicodedata.combining(c))


def starts_with_vowel(word: str, lang: str) -> bool:
    """Does `word` begin with a vowel sound, for the elision rules of `lang`?"""
    if not word:
        return False
    c = word[0]
    if _HANGUL_BASE <= ord(c) <= 0xD7A3:
        return (ord(c) - _HANGUL_BASE) // _HANGUL_INITIAL_SPAN == _HANGUL_IEUNG
    if c in _KANA_VOWELS:
        return True
    first = _plain_lower(c)[:1]
    return first in "aeiou" or (first == "h" and lang in ("fr", "it"))


def article(lang: str, key: str, gender: str, noun: str, spoken: bool = False) -> str:
    """The form of placeholder `key` (lower case) in `lang` before `noun` of `gender`."""
    forms = FORMS[lang][key]
    g = gender if gender in forms else "m"
    form = forms[g]
    if starts_with_vowel(noun, lang):
        form = BEFORE_VOWEL.get(lang, {}).get(key, {}).get(g, form)
    elif lang == "it" and g == "m" and key in IT_LO and _IT_LO_ONSET.match(_plain_lower(noun)):
        form = IT_LO[key]
    if spoken and form.endswith("'"):
        form = IT_LO[key] if lang == "it" and g == "m" else forms[g]
    return form


def fill_articles(frame: str, lang: str, gender: str, noun: str, spoken: bool = False) -> str:
    """Replace the article placeholders of `frame` (language `lang`); other text is kept."""
    table = FORMS.get(lang)
    if not table:
        return frame

    def sub(m: re.Match) -> str:
        key, space = m.group(1), m.group(2)
        if key.lower() not in table:
            return m.group(0)
        form = article(lang, key.lower(), gender, noun, spoken)
        if key[0].isupper():
            form = form[0].upper() + form[1:]
        return form if form.endswith("'") else form + space

    return _PLACEHOLDER.sub(sub, frame)
