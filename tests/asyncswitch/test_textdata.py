"""Stage A's text corpus: skipped lines are counted with line numbers; languages; tokens."""
from __future__ import annotations

import pytest

from espnet_cs_ext.asyncswitch.textdata import (TextEncoder, guess_matrix, parse_source, read_corpus,
                                                script_units)
from espnet_cs_ext.utils.errors import CsExtError


@pytest.fixture(scope="module")
def enc():
    return TextEncoder("whisper_basic")


def test_bad_lines_are_counted_and_skipped(tmp_path, enc):
    p = tmp_path / "ko-en.txt"
    p.write_bytes("제 동생도 bicycle 마음에 들어 했어요.\n\n   \n".encode()
                  + b"bad \xff\xfe bytes\n" + "<|en|> hello world\n".encode()
                  + b"\xc3\x28\n" + "?!\n".encode() + "Please send me the report 내일까지.\n".encode())
    seqs, rep = read_corpus([str(p)], enc, max_len=448)
    f = rep.files[0]
    assert (f.lines, f.used) == (8, 3)
    assert f.skipped == {"empty": [2, 3], "invalid_utf8": [4, 6], "empty_after_cleaning": [7]}
    assert f.languages == {"ko": 1, "en": 2}
    text = rep.format()
    assert "skipped 2 empty lines (lines 2, 3)" in text
    assert "skipped 2 not valid UTF-8 (lines 4, 6)" in text
    assert rep.count("invalid_utf8") == 2 and rep.used == 3 == len(seqs)


def test_too_long_lines_are_counted(tmp_path, enc):
    p = tmp_path / "x.txt"
    p.write_text("short line\n" + "word " * 600 + "\n", encoding="utf-8")
    seqs, rep = read_corpus([f"{p}:en"], enc, max_len=448)
    assert rep.files[0].skipped == {"too_long": [2]} and len(seqs) == 1


def test_sequence_layout_matches_espnet(enc):
    ids = enc.encode("Hello, World!", "ko")
    # <|startoftranscript|> <|ko|> <|transcribe|> <|notimestamps|> ... <|endoftext|>
    assert ids[:4] == [50258, 50264, 50359, 50363] and ids[-1] == 50257
    assert enc.tok.decode(ids[4:-1]).strip() == "hello world"  # whisper_basic cleaner, as ESPnet


@pytest.mark.parametrize("text,pair,lang", [
    ("제 동생도 bicycle 마음에 들어 했어요.", ("ko", "en"), "ko"),
    ("printer에 대해 선생님께 물어봐요.", ("ko", "en"), "ko"),
    ("The camera is a bit 비싸요.", ("ko", "en"), "en"),
    ("teamはどこに置きましたか。", ("ja", "en"), "ja"),
    ("There is a problem with the 傘.", ("ja", "en"), "en"),
    ("Ich habe erst gestern von der camera gehört.", ("de", "en"), "de"),
    ("I am a little tired today.", ("de", "en"), "de"),  # shared script: the pair's first language
    ("카메라는 どこですか", ("ko", "ja"), "ja"),
    ("오늘은 날씨가 좋아요. I would like to go for a long walk.", ("ko", "en"), "ko"),
    ("I would like to go for a walk. 오늘은 날씨가 좋아요.", ("ko", "en"), "en"),
])
def test_matrix_language_guess(text, pair, lang):
    assert guess_matrix(text, pair) == lang


def test_script_units():
    assert script_units("iPhone을 샀어요 今日") == {"latin": 1, "hangul": 2, "han": 2}


@pytest.mark.parametrize("spec,path,lang", [
    ("data/cs_text/ko-en.txt", "data/cs_text/ko-en.txt", None),
    ("data/cs_text/ko-en.txt:ko", "data/cs_text/ko-en.txt", "ko"),
    ("C:/x/ko-en.txt", "C:/x/ko-en.txt", None),
])
def test_parse_source(spec, path, lang):
    s = parse_source(spec)
    assert (s.path, s.lang) == (path, lang)


def test_no_language_is_an_error(tmp_path, enc):
    p = tmp_path / "corpus.txt"
    p.write_text("hello\n", encoding="utf-8")
    with pytest.raises(CsExtError, match=r"corpus.txt:1: no language for this line"):
        read_corpus([str(p)], enc, max_len=448)


def test_bad_tag_and_no_usable_lines(tmp_path, enc):
    p = tmp_path / "a.txt"
    p.write_text("<|xx|> hello\n", encoding="utf-8")
    with pytest.raises(CsExtError, match=r"a.txt:1: language tag <\|xx\|> is not a Whisper language"):
        read_corpus([str(p)], enc, max_len=448)
    q = tmp_path / "b.txt"
    q.write_bytes(b"\n\xff\n")
    with pytest.raises(CsExtError, match="no usable text lines"):
        read_corpus([f"{q}:en"], enc, max_len=448)
