"""Hangul -> hn1 phones: the pronunciation rules as a table, and .pho well-formedness."""
from __future__ import annotations

import shutil

import pytest

from espnet_cs_ext.data.synthetic.korean_pho import text_to_pho, word_to_phones


@pytest.mark.parametrize("word, phones", [
    ("사람", "s a 4 a m_}"),                 # ㄹ tap between vowels, coda ㅁ
    ("맛있어요", "m a s\\ i s_> V jo"),       # liaison twice, ㅅ -> [ɕ] before i
    ("읽어요", "i l_} g V jo"),               # double final: second consonant moves, voiced
    ("없어요", "V p_} s_> V jo"),
    ("국물", "k u N m u l_}"),                # nasalisation
    ("먹고", "m V k_} k_> o"),                # tensing after an obstruent coda
    ("좋다", "ts\\ o t_h a"),                 # ㅎ + ㄷ -> ㅌ
    ("축하", "ts\\_h u k_h a"),               # ㄱ + ㅎ -> ㅋ
    ("같이", "k a ts\\_h i"),                 # palatalisation
    ("신라", "s\\ i l_} l a"),                # ㄴ + ㄹ -> ㄹㄹ
    ("심리", "s\\ i m_} n i"),                # ㄹ -> ㄴ after ㅁ
    ("시간", "s\\ i g a n_}"),                # lax stop voiced between vowels
    ("의사", "M\\i s a"),
])
def test_word_rules(word, phones):
    assert " ".join(p for p, _ in word_to_phones(word)) == phones


def test_pho_lines_pauses_and_contour():
    pho = text_to_pho("여러분, 좋은 아침이에요.", speed=1.0)
    lines = pho.strip().splitlines()
    assert lines[0].startswith("_ ") and lines[-1].startswith("_ ")
    assert "_ 140" in lines                                   # the comma
    assert "n a" in " ".join(l.split()[0] for l in lines)    # 좋은 아침: liaison across words
    hz = [int(l.split()[3]) for l in lines if len(l.split()) == 4]
    assert hz[0] > hz[-1]                                     # declination
    slow = text_to_pho("여러분", speed=0.5)
    fast = text_to_pho("여러분", speed=1.0)
    total = lambda p: sum(int(l.split()[1]) for l in p.splitlines())  # noqa: E731
    assert total(slow) > total(fast)
    with pytest.raises(ValueError, match="no Hangul"):
        text_to_pho("hello")


@pytest.mark.skipif(shutil.which("mbrola") is None, reason="mbrola + mbrola-hn1 (Debian non-free) not installed")
def test_mbrola_hn1_speaks():
    from espnet_cs_ext.data.synthetic import tts
    if not tts.backend_available("mbrola_ko", "hn1"):
        pytest.skip("mbrola-hn1 voice not installed")
    x = tts.synthesize(tts.Voice("ko", "mbrola_ko", "hn1"), "여러분, 좋은 아침이에요.")
    assert 1.0 < len(x) / 16000 < 4.0
