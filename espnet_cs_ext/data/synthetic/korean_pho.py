"""Hangul -> MBROLA .pho for the hn1 Korean diphone voice (Debian non-free `mbrola-hn1`).

espeak-ng's Korean is barely intelligible and ships no hn1 voice definition, so this
is a small rule-based front end (REFERENCE.md section 3 measured this approach at
CER ~0.45 with Whisper base, against garbage for espeak-ng):

1. decompose each syllable into initial/medial/final jamo (Unicode arithmetic);
2. within a phrase (the words between punctuation, read as connected speech) apply the standard pronunciation rules that matter most:
   liaison of a final consonant into a following vowel-initial syllable (also the
   second consonant of a double final; ㄷ/ㅌ + 이 -> 지/치), ㅎ-aspiration (ㄱ/ㄷ/ㅂ/ㅈ + ㅎ and ㅎ +
   ㄱ/ㄷ/ㅈ), final-consonant neutralisation to the seven codas, nasalisation of
   obstruent codas before ㄴ/ㅁ, ㄹ -> ㄴ after ㅁ/ㅇ and ㄴ+ㄹ -> ㄹㄹ, tensing of lax
   onsets after obstruent codas, voicing of lax stops/affricates between voiced
   sounds, ㄹ as a tap between vowels and [l] after a coda ㄹ, ㅅ -> [ɕ] before i/y;
3. write hn1's X-SAMPA phonemes with durations and a declining pitch contour
   (rising at the end of a question); commas and sentence ends become pauses.

Non-Hangul characters are skipped (Korean segments of the synthetic corpus are pure
Hangul). `text_to_pho(text, speed, pitch_semitones)` returns the .pho text.
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

# jamo tables in Unicode order
INITIALS = ["ㄱ", "ㄲ", "ㄴ", "ㄷ", "ㄸ", "ㄹ", "ㅁ", "ㅂ", "ㅃ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅉ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ"]
MEDIALS = ["ㅏ", "ㅐ", "ㅑ", "ㅒ", "ㅓ", "ㅔ", "ㅕ", "ㅖ", "ㅗ", "ㅘ", "ㅙ", "ㅚ", "ㅛ", "ㅜ", "ㅝ", "ㅞ", "ㅟ", "ㅠ", "ㅡ", "ㅢ", "ㅣ"]
FINALS = ["", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ", "ㄿ", "ㅀ", "ㅁ", "ㅂ", "ㅄ",
          "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ"]

ONSET = {"ㄱ": "k", "ㄲ": "k_>", "ㄴ": "n", "ㄷ": "t", "ㄸ": "t_>", "ㄹ": "4", "ㅁ": "m", "ㅂ": "p", "ㅃ": "p_>",
         "ㅅ": "s", "ㅆ": "s_>", "ㅇ": "", "ㅈ": "ts\\", "ㅉ": "ts\\_>", "ㅊ": "ts\\_h", "ㅋ": "k_h", "ㅌ": "t_h",
         "ㅍ": "p_h", "ㅎ": "h"}
VOWEL = {"ㅏ": "a", "ㅐ": "E", "ㅑ": "ja", "ㅒ": "jE", "ㅓ": "V", "ㅔ": "e", "ㅕ": "jV", "ㅖ": "je", "ㅗ": "o",
         "ㅘ": "wa", "ㅙ": "wE", "ㅚ": "we", "ㅛ": "jo", "ㅜ": "u", "ㅝ": "wV", "ㅞ": "we", "ㅟ": "wi", "ㅠ": "ju",
         "ㅡ": "M", "ㅢ": "M\\i", "ㅣ": "i"}
# final -> (neutralised coda class, consonant that moves on liaison)
FINAL_INFO = {
    "": (None, None), "ㄱ": ("K", "ㄱ"), "ㄲ": ("K", "ㄲ"), "ㄳ": ("K", "ㅆ"), "ㄴ": ("N", "ㄴ"), "ㄵ": ("N", "ㅈ"),
    "ㄶ": ("N", "ㄴ"), "ㄷ": ("T", "ㄷ"), "ㄹ": ("L", "ㄹ"), "ㄺ": ("K", "ㄱ"), "ㄻ": ("M", "ㅁ"), "ㄼ": ("L", "ㅂ"),
    "ㄽ": ("L", "ㅆ"), "ㄾ": ("L", "ㅌ"), "ㄿ": ("P", "ㅍ"), "ㅀ": ("L", "ㄹ"), "ㅁ": ("M", "ㅁ"), "ㅂ": ("P", "ㅂ"),
    "ㅄ": ("P", "ㅆ"), "ㅅ": ("T", "ㅅ"), "ㅆ": ("T", "ㅆ"), "ㅇ": ("NG", None), "ㅈ": ("T", "ㅈ"), "ㅊ": ("T", "ㅊ"),
    "ㅋ": ("K", "ㅋ"), "ㅌ": ("T", "ㅌ"), "ㅍ": ("P", "ㅍ"), "ㅎ": ("T", None),
}
# remaining first consonant of a double final after liaison of the second
DOUBLE_KEEP = {"ㄳ": "ㄱ", "ㄵ": "ㄴ", "ㄺ": "ㄹ", "ㄻ": "ㄹ", "ㄼ": "ㄹ", "ㄽ": "ㄹ", "ㄾ": "ㄹ", "ㄿ": "ㄹ", "ㅄ": "ㅂ"}
CODA = {"K": "k_}", "N": "n_}", "T": "t_}", "L": "l_}", "M": "m_}", "P": "p_}", "NG": "N"}
ASPIRATE = {"ㄱ": "ㅋ", "ㄷ": "ㅌ", "ㅂ": "ㅍ", "ㅈ": "ㅊ"}
TENSE = {"ㄱ": "ㄲ", "ㄷ": "ㄸ", "ㅂ": "ㅃ", "ㅅ": "ㅆ", "ㅈ": "ㅉ"}
VOICED = {"k": "g", "t": "d", "p": "b", "ts\\": "dz\\"}
NASAL_OF = {"K": "NG", "T": "N", "P": "M"}

_SYL = re.compile(r"[\uac00-\ud7a3]+|[,.!?;:]|\s+")


def decompose(ch: str) -> Tuple[str, str, str]:
    o = ord(ch) - 0xAC00
    return INITIALS[o // 588], MEDIALS[(o % 588) // 28], FINALS[o % 28]


def word_to_phones(word: str) -> List[Tuple[str, str]]:
    """One eojeol (Hangul only) -> [(phone, kind)] with kind in onset/vowel/coda."""
    syl = [list(decompose(c)) for c in word]
    # pass 1: liaison and ㅎ rules between syllables
    for i in range(len(syl) - 1):
        ini, med, fin = syl[i]
        nxt = syl[i + 1]
        if not fin:
            continue
        if nxt[0] == "ㅇ":
            if fin == "ㅇ":
                continue
            if fin in ("ㅎ", "ㄶ", "ㅀ"):          # ㅎ is silent before a vowel
                syl[i][2] = {"ㅎ": "", "ㄶ": "", "ㅀ": ""}[fin]
                nxt[0] = {"ㅎ": "ㅇ", "ㄶ": "ㄴ", "ㅀ": "ㄹ"}[fin]
                continue
            move = FINAL_INFO[fin][1]
            if move in ("ㄷ", "ㅌ") and nxt[1] == "ㅣ":   # palatalisation: 같이 -> 가치
                move = {"ㄷ": "ㅈ", "ㅌ": "ㅊ"}[move]
            syl[i][2] = DOUBLE_KEEP.get(fin, "")
            nxt[0] = move
            continue
        if nxt[0] == "ㅎ" and fin in ("ㄱ", "ㄷ", "ㅂ", "ㅈ", "ㅅ", "ㄺ", "ㄼ"):
            keep = DOUBLE_KEEP.get(fin, "")
            base = {"ㄺ": "ㄱ", "ㄼ": "ㅂ", "ㅅ": "ㄷ"}.get(fin, fin)
            syl[i][2] = keep
            nxt[0] = ASPIRATE[base]
            continue
        if fin in ("ㅎ", "ㄶ", "ㅀ") and nxt[0] in ("ㄱ", "ㄷ", "ㅈ"):
            syl[i][2] = {"ㅎ": "", "ㄶ": "ㄴ", "ㅀ": "ㄹ"}[fin]
            nxt[0] = ASPIRATE[nxt[0]]
    # pass 2: coda classes, then assimilation with the next onset
    codas: List[Optional[str]] = [FINAL_INFO[s[2]][0] for s in syl]
    for i in range(len(syl) - 1):
        c, nxt = codas[i], syl[i + 1]
        if c is None:
            continue
        if c in NASAL_OF and nxt[0] in ("ㄴ", "ㅁ"):
            codas[i] = NASAL_OF[c]
        elif c in ("M", "NG") and nxt[0] == "ㄹ":
            nxt[0] = "ㄴ"
        elif c in ("K", "P") and nxt[0] == "ㄹ":
            nxt[0] = "ㄴ"
            codas[i] = NASAL_OF[c]
        elif c == "N" and nxt[0] == "ㄹ":
            codas[i] = "L"
        elif c == "L" and nxt[0] == "ㄴ":
            nxt[0] = "ㄹ"
        if codas[i] in ("K", "T", "P") and nxt[0] in TENSE:
            nxt[0] = TENSE[nxt[0]]
    # pass 3: phones
    out: List[Tuple[str, str]] = []
    for i, (ini, med, _) in enumerate(syl):
        prev_coda = codas[i - 1] if i > 0 else None
        on = ONSET[ini]
        if ini == "ㄹ":
            on = "l" if prev_coda == "L" else "4"
        voiced_before = i > 0 and (prev_coda is None or prev_coda in ("N", "M", "NG", "L"))
        if on in VOICED and voiced_before:
            on = VOICED[on]
        vowel = VOWEL[med]
        if on == "s" and vowel[0] in ("i", "j"):
            on = "s\\"
        if vowel == "M\\i" and ini != "ㅇ":
            vowel = "i"  # 의 after a consonant is read [i]
        if on:
            out.append((on, "onset"))
        out.append((vowel, "vowel"))
        if codas[i]:
            out.append((CODA[codas[i]], "coda"))
    return out


_DUR = {"onset": 65, "vowel": 95, "coda": 70}
_LONG_ONSET = ("k_>", "t_>", "p_>", "s_>", "ts\\_>", "k_h", "t_h", "p_h", "ts\\_h", "s", "s\\", "h")


def text_to_pho(text: str, speed: float = 1.0, pitch_semitones: float = 0.0, base_hz: float = 125.0) -> str:
    """Korean text -> MBROLA .pho lines (hn1 X-SAMPA) with durations and pitch."""
    # words of a phrase are read together (connected speech: 좋은 아침 -> 조으나침)
    tokens = re.sub(r"(?<=[\uac00-\ud7a3])\s+(?=[\uac00-\ud7a3])", "", text)
    tokens = _SYL.findall(tokens)
    phones: List[Tuple[str, int]] = []   # (phone, duration ms); "_" for pauses
    question = text.strip().endswith("?")
    for tok in tokens:
        if tok.isspace():
            continue
        if tok in ",;:":
            phones.append(("_", 140))
            continue
        if tok in ".!?":
            phones.append(("_", 120))
            continue
        for ph, kind in word_to_phones(tok):
            d = _DUR[kind]
            if kind == "onset" and ph in _LONG_ONSET:
                d += 25
            if kind == "vowel" and len(ph) > 1 and ph[0] in "jw":
                d += 20
            phones.append((ph, d))
    while phones and phones[-1][0] == "_":
        phones.pop()
    if not any(p != "_" for p, _ in phones):
        raise ValueError(f"no Hangul to synthesise in {text!r}")
    scale = 1.0 / max(0.5, min(2.0, speed))
    f0 = base_hz * 2 ** (pitch_semitones / 12)
    n_voc = sum(1 for p, _ in phones if p != "_")
    lines = ["_ 60"]
    k = 0
    for i, (p, d) in enumerate(phones):
        d = int(round(d * scale))
        if p == "_":
            lines.append(f"_ {d}")
            continue
        # declination over the sentence; a question rises on its last syllables
        pos = k / max(1, n_voc - 1)
        hz = f0 * (1.08 - 0.22 * pos)
        if question and pos > 0.8:
            hz = f0 * (0.95 + 0.9 * (pos - 0.8))
        lines.append(f"{p} {d} 50 {int(round(hz))}")
        k += 1
    # the last vowel is lengthened (phrase-final lengthening)
    for j in range(len(lines) - 1, 0, -1):
        parts = lines[j].split()
        if parts[0] != "_" and parts[0] not in CODA.values():
            parts[1] = str(int(int(parts[1]) * 1.4))
            lines[j] = " ".join(parts)
            break
    lines.append("_ 80")
    return "\n".join(lines) + "\n"
