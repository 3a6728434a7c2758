"""Articles in French, Spanish and Italian frames agree with the inserted noun: gender
from the noun's own translation in the frame's language (words.tsv `<lang>_gender`),
elision and Italian lo decided on the spelling of the noun that follows."""
from __future__ import annotations

import pytest

from espnet_cs_ext.data.synthetic.articles import starts_with_vowel
from espnet_cs_ext.data.synthetic.compose import fill_frame, load_inventory, noun_gender

INV = load_inventory()
WORDS = {w["id"]: w for w in INV.words}


def _fill(lang: str, frame: str, word_id: str, filler_lang: str, spoken: bool = False) -> str:
    w = WORDS[word_id]
    return fill_frame(frame, lang, w[filler_lang], noun_gender(w, lang), spoken=spoken)


# (frame language, frame, words.tsv id, language of the inserted noun) -> sentence
ROWS = [
    # French: gender of the French translation (réunion f, e-mail m, équipe f, entretien m)
    ("fr", "Où as-tu mis {le} {X}?", "w02", "en", "Où as-tu mis la meeting?"),
    ("fr", "Où as-tu mis {le} {X}?", "w13", "en", "Où as-tu mis le train?"),
    ("fr", "Où as-tu mis {le} {X}?", "w05", "en", "Où as-tu mis l'email?"),
    ("fr", "{Le} {X} est sur la table.", "w36", "en", "L'interview est sur la table."),
    ("fr", "{Le} {X} est sur la table.", "w15", "fr", "L'hôtel est sur la table."),
    ("fr", "On a parlé {du} {X} pendant une heure.", "w39", "de", "On a parlé de la Rechnung pendant une heure."),
    ("fr", "On a parlé {du} {X} pendant une heure.", "w14", "en", "On a parlé de l'airport pendant une heure."),
    ("fr", "J'ai pensé {au} {X} toute la journée.", "w26", "en", "J'ai pensé à l'exam toute la journée."),
    ("fr", "J'ai pensé {au} {X} toute la journée.", "w44", "de", "J'ai pensé au Zeitung toute la journée."),
    ("fr", "J'ai oublié {mon} {X} à la maison.", "w45", "en", "J'ai oublié ma guitar à la maison."),
    ("fr", "J'ai oublié {mon} {X} à la maison.", "w34", "fr", "J'ai oublié mon équipe à la maison."),
    ("fr", "J'aime vraiment {ce} {X}.", "w41", "en", "J'aime vraiment cet umbrella."),
    ("fr", "J'aime vraiment {ce} {X}.", "w32", "ko", "J'aime vraiment cette 프린터."),
    ("fr", "{Le} {X} est sur la table.", "w05", "ko", "L'이메일 est sur la table."),     # ㅇ: vowel onset
    # Spanish: no elision; gender of the Spanish translation (película f, correo m)
    ("es", "¿Dónde has puesto {el} {X}?", "w23", "en", "¿Dónde has puesto la movie?"),
    ("es", "¿Dónde has puesto {el} {X}?", "w05", "de", "¿Dónde has puesto el E-Mail?"),
    ("es", "{El} {X} está en la mesa.", "w42", "en", "La bicycle está en la mesa."),
    ("es", "Hablamos {del} {X} durante una hora.", "w02", "ja", "Hablamos de la 会議 durante una hora."),
    ("es", "Nos vemos delante {del} {X} a las seis.", "w47", "es", "Nos vemos delante de la estación a las seis."),
    ("es", "Me gusta mucho {este} {X}.", "w33", "en", "Me gusta mucho esta office."),
    # Italian: il / lo / l' / la, with di- and a- contractions, il mio / la mia
    ("it", "Dove hai messo {il} {X}?", "w13", "en", "Dove hai messo il train?"),
    ("it", "Dove hai messo {il} {X}?", "w07", "en", "Dove hai messo lo schedule?"),
    ("it", "Dove hai messo {il} {X}?", "w14", "en", "Dove hai messo l'airport?"),
    ("it", "Dove hai messo {il} {X}?", "w05", "en", "Dove hai messo l'email?"),
    ("it", "{Il} {X} è sul tavolo.", "w07", "de", "Lo Zeitplan è sul tavolo."),
    ("it", "{Il} {X} è sul tavolo.", "w30", "en", "La camera è sul tavolo."),
    ("it", "Domani dobbiamo parlare {del} {X}.", "w06", "it", "Domani dobbiamo parlare dello smartphone."),
    ("it", "Domani dobbiamo parlare {del} {X}.", "w15", "en", "Domani dobbiamo parlare dell'hotel."),
    ("it", "Domani dobbiamo parlare {del} {X}.", "w47", "en", "Domani dobbiamo parlare della station."),
    ("it", "Ci vediamo davanti {al} {X} alle sei.", "w48", "en", "Ci vediamo davanti al museum alle sei."),
    ("it", "Ci vediamo davanti {al} {X} alle sei.", "w33", "en", "Ci vediamo davanti all'office alle sei."),
    ("it", "Ho lasciato {mio} {X} a casa.", "w42", "en", "Ho lasciato la mia bicycle a casa."),
    ("it", "Ho lasciato {mio} {X} a casa.", "w06", "en", "Ho lasciato il mio smartphone a casa."),
    ("it", "Mi piace molto {questo} {X}.", "w40", "ko", "Mi piace molto questa 레시피."),
    # German is unchanged: its own gender column, no sound rules
    ("de", "Hast du {den} {X} gesehen?", "w05", "fr", "Hast du die e-mail gesehen?"),
]


@pytest.mark.parametrize("lang, frame, word_id, filler_lang, expected", ROWS)
def test_article_agrees_with_the_nouns_translation(lang, frame, word_id, filler_lang, expected):
    assert _fill(lang, frame, word_id, filler_lang) == expected


# before a language switch the TTS reads the full form of an elided article
@pytest.mark.parametrize("lang, frame, word_id, spoken", [
    ("fr", "Où as-tu mis {le} {X}?", "w05", "Où as-tu mis le email?"),
    ("fr", "{Le} {X} est sur la table.", "w36", "Le interview est sur la table."),
    ("fr", "On a parlé {du} {X} pendant une heure.", "w14", "On a parlé du airport pendant une heure."),
    ("it", "Domani dobbiamo parlare {del} {X}.", "w15", "Domani dobbiamo parlare dello hotel."),
    ("it", "Dove hai messo {il} {X}?", "w05", "Dove hai messo la email?"),
    ("it", "Dove hai messo {il} {X}?", "w07", "Dove hai messo lo schedule?"),   # not elided: unchanged
])
def test_spoken_form_undoes_elision(lang, frame, word_id, spoken):
    assert _fill(lang, frame, word_id, "en", spoken=True) == spoken


@pytest.mark.parametrize("word, lang, vowel", [
    ("email", "fr", True), ("Hôtel", "fr", True), ("hotel", "es", False), ("Ärger", "de", True),
    ("train", "fr", False), ("이메일", "fr", True), ("컴퓨터", "fr", False), ("オフィス", "it", True),
    ("会議", "fr", False), ("", "fr", False),
])
def test_vowel_onset(word, lang, vowel):
    assert starts_with_vowel(word, lang) is vowel


@pytest.mark.parametrize("lang", ["fr", "es", "it"])
def test_every_word_has_a_gender_in_each_romance_language(lang):
    assert {w[f"{lang}_gender"] for w in INV.words} == {"m", "f"}


@pytest.mark.parametrize("lang", ["de", "fr", "es", "it"])
def test_frames_use_only_known_placeholders(lang):
    import re
    from espnet_cs_ext.data.synthetic.articles import FORMS
    for fr in INV.frames:
        keys = {k.lower() for k in re.findall(r"\{([A-Za-z]+)\}", fr[lang])} - {"x"}
        assert keys <= set(FORMS[lang]), (fr["id"], fr[lang])


def test_a_switch_after_an_elided_article_is_spoken_in_full():
    import random
    from espnet_cs_ext.data.synthetic.compose import Composer
    comp = Composer(INV, "fr-en", "train", p_intra=1.0, p_matrix_first=1.0)
    rng, said = random.Random(0), []
    for _ in range(300):
        seg = comp.draw(rng).segments[0]
        assert (seg.say is not None) == seg.text.endswith("'"), seg
        if seg.say:
            said.append(seg.say)
    assert said and all(s.endswith((" le", " la", " du", " de la", " au", " à la")) or s in ("Le", "La")
                        for s in said), said
