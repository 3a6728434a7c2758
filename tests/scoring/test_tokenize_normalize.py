"""Tables for the tokenizers, script labels and normalisers (rules in their module docstrings)."""
import pytest

from espnet_cs_ext.scoring import NORMALIZERS
from espnet_cs_ext.scoring.normalize import Compose, casefold, collapse_whitespace, expand_contractions
from espnet_cs_ext.scoring.tokenize import hangul_tokens, script_of, script_tokens

TOKENS = [
    ("iPhone을 샀다", ["iPhone", "을", "샀", "다"]),
    ("Python으로", ["Python", "으", "로"]),
    ("3개", ["3", "개"]),
    ("mp3 привет", ["mp3", "привет"]),
    ("今日はgood天気", ["今", "日", "は", "good", "天", "気"]),
    ("ｶﾀｶﾅ", ["ｶ", "ﾀ", "ｶ", "ﾅ"]),                     # half-width katakana, per character
    ("ラーメン", ["ラ", "ー", "メ", "ン"]),                 # the long-vowel mark is a token
    ("2024年", ["2024", "年"]),
    ("我们的app", ["我", "们", "的", "app"]),
    ("สวัสดี", ["ส", "วั", "ส", "ดี"]),                     # marks stay with their consonant
    ("ສະບາຍດີ", ["ສ", "ະ", "ບ", "າ", "ຍ", "ດີ"]),          # Lao: 'ະ' and 'າ' are letters (Lo), 'ີ' a mark
    ("a\u3000b\tc", ["a", "b", "c"]),                       # any Unicode whitespace separates
    ("𠀀𠀁x", ["𠀀", "𠀁", "x"]),                             # CJK extension B (supplementary plane)
    ("", []),
]


@pytest.mark.parametrize("text,tokens", TOKENS)
def test_script_tokens(text, tokens):
    assert script_tokens(text) == tokens


@pytest.mark.parametrize("text,tokens", [
    ("iPhone을 샀다", ["iPhone", "을", "샀", "다"]),
    ("今日はgood天気", ["今日はgood天気"]),                 # HiKE splits Hangul syllables only
    ("3개", ["3", "개"]),
])
def test_hangul_tokens(text, tokens):
    assert hangul_tokens(text) == tokens


@pytest.mark.parametrize("token,label", [
    ("을", "hangul"), ("ㅋ", "hangul"), ("は", "kana"), ("ア", "kana"), ("ｱ", "kana"), ("ー", "kana"),
    ("日", "han"), ("々", "han"), ("ㄅ", "bopomofo"), ("วั", "thai"), ("iphone", "latin"), ("straße", "latin"),
    ("ＡＢ", "latin"), ("привет", "cyrillic"), ("γεια", "greek"), ("مرحبا", "arabic"), ("mp3", "latin"),
    ("3.5", "number"), ("%", "other"),
])
def test_script_of(token, label):
    assert script_of(token) == label


DEFAULT = [
    ("Hello, World!", "hello world"),
    ("It's 3.5 o'clock", "it is 3.5 oclock"),
    ("I\u2019ll go", "i will go"),
    ("don`t", "do not"),                                    # ASCII backtick used as an apostrophe
    ("1,000 and 2,5", "1,000 and 2,5"),
    ("end. 5, 6", "end 5 6"),                               # separators only between digits
    ("「アニメ」、マンガ。", "アニメ マンガ"),
    ("ＡＢＣ　１２３！", "abc 123"),                        # full-width forms, ideographic space
    ("ｶﾒﾗ", "カメラ"),
    ("\u1100\u1161\u11a8", "각"),                            # conjoining jamo compose to a syllable
    ("<unk> 좋아 [noise]", "좋아"),
    ("e-mail — ok", "e mail ok"),
    ("Straße", "strasse"),
    ("$5 + 좋아 ♪", "$5 + 좋아 ♪"),                        # symbols (S*) are kept
    ("50% 좋아", "50 좋아"),                                # but % is punctuation (Po)
    ("...", ""),
    ("a \U00010100 b", "a b"),                              # supplementary-plane punctuation
]


@pytest.mark.parametrize("text,expected", DEFAULT)
def test_default_normalizer(text, expected):
    assert NORMALIZERS["default"](text) == expected


HIKE = [
    ("Hello, World! I'm a student.", "hello world i am a student"),
    ("It's o'clock", "it is oclock"),                       # apostrophe deleted, not a space
    ("a—b", "a b"),
    ("e-mail", "email"),                                    # punctuation deleted, not a space
    ("x<unk>y", "xy"),
    ("ＡＢＣ", "ａｂｃ"),                                    # no NFKC in HiKE
    ("Straße", "straße"),                                   # lower, not casefold
]


@pytest.mark.parametrize("text,expected", HIKE)
def test_hike_normalizer(text, expected):
    assert NORMALIZERS["hike_hyp"](text) == expected


def test_compose_is_left_to_right():
    assert Compose(casefold, expand_contractions, collapse_whitespace)("  DON'T  go ") == "do not go"
    assert Compose()("x") == "x"


# --- HiKE as published, rebuilt from jiwer's transforms (HiKE src/utils.py normalize_text and
# src/metrics/mer.py): our `hike` preset must give the same counts on messy input. -------------
MESSY = [
    ("실험 결과 제안한 algorithm 은 기존 방법 대비 accuracy 가 향상되었으며",
     "실험 결과 제한화 Algorithm은 기존 방법 대비 r curacy가 향상되었으며."),
    ("나는 iphone을 샀다", "나는 iPhone을 샀다!!"),
    ("오늘 meeting 은 cancel 됐어요", "[noise] 오늘 Meeting—은 cancel됐어요 <unk>"),
    ("i am here", "I'm   here,\tyou're there"),
    ("今日は meeting", "今日わ ミーティング。"),
    ("ａｂ 가", "ＡＢ 가 “quoted” 'single'"),
    ("won't can't", "won't can't let's isn't we'd they'll ain't I've"),
    ("가 나", "가\u3000나\u00a0다"),
]


def _hike_reference_counts(ref, hyp):
    import re

    import jiwer
    from jiwer.transforms import (Compose as JC, ExpandCommonEnglishContractions, ReduceToListOfListOfWords,
                                  ReduceToSingleSentence, RemoveKaldiNonWords, RemoveMultipleSpaces,
                                  RemovePunctuation, RemoveWhiteSpace, Strip, SubstituteWords, ToLowerCase)
    norm = JC([ToLowerCase(), ExpandCommonEnglishContractions(), RemoveKaldiNonWords(),
               SubstituteWords({"\u2014": " "}), RemovePunctuation(), RemoveWhiteSpace(replace_by_space=True),
               RemoveMultipleSpaces(), Strip(), ReduceToSingleSentence(), ReduceToListOfListOfWords()])
    hyp = " ".join(norm(hyp)[0])

    def space_korean(s):
        s = re.sub("([\uac00-\ud7a3])", r" \1 ", s)
        return re.sub(r"\s+", " ", s).strip()

    r, h = space_korean(ref), space_korean(hyp)
    out = jiwer.process_words(r, h)
    return out.substitutions, out.deletions, out.insertions, len(r.split())


@pytest.mark.parametrize("ref,hyp", MESSY)
def test_hike_preset_matches_published_pipeline(ref, hyp):
    from espnet_cs_ext.scoring import MerAccumulator
    u = MerAccumulator("hike").add(ref, hyp)
    assert (u.sub, u.dele, u.ins, u.n_ref) == _hike_reference_counts(ref, hyp)


def test_hike_readme_example():
    # HiKE's mer.py example: 30 Hangul syllables + 4 English words = 34 tokens, S5 I9 -> 41.18 %
    from espnet_cs_ext.scoring import MerAccumulator
    ref = ("실험 결과 제안한 algorithm 은 기존 방법 대비 accuracy 가 향상되었으며 computational "
           "efficiency 또한 크게 개선되었다")
    hyp = ("실험 결과 제한화 algorithm 은 기존 방법 대비 r curacy 가 향상되었으며 환비테이션을 "
           "이펙션 시 또한 크게 개선되었다")
    u = MerAccumulator("hike").add(ref, hyp)
    assert (u.n_ref, u.sub, u.dele, u.ins) == (34, 5, 0, 9)
    assert round(100 * u.mer, 2) == 41.18


@pytest.mark.parametrize("text", [t for t, _ in DEFAULT] + [t for t, _ in HIKE] + [h for _, h in MESSY])
def test_fused_default_equals_its_steps(text):
    from espnet_cs_ext.scoring.normalize import DEFAULT_STEPS, default_normalize
    assert default_normalize(text) == DEFAULT_STEPS(text)


@pytest.mark.parametrize("text", [t for t, _ in DEFAULT] + [h for _, h in MESSY] + ["a  b\t\u3000c", " x "])
def test_fused_pipelines_give_the_same_tokens(text):
    from espnet_cs_ext.scoring.fused import PIPELINES
    from espnet_cs_ext.scoring.tokenize import TOKENIZERS
    for (norm, tok), fast in PIPELINES.items():
        assert fast(text) == TOKENIZERS[tok](NORMALIZERS[norm](text))


def test_punctuation_table_covers_every_plane():
    import sys
    import unicodedata

    from espnet_cs_ext.scoring.normalize import punctuation_chars
    bmp, astral = punctuation_chars()
    beyond = [c for c in range(0x20000, sys.maxunicode + 1) if unicodedata.category(chr(c))[0] == "P"]
    assert beyond == [] and len(bmp) > 600 and "\U00010100" in astral


def test_fast_paths_equal_the_plain_pipeline_on_random_text():
    # Property test: the fused/short-cut code paths exist only for speed, so on any text they
    # must agree with the step-by-step pipeline. The pool mixes every case they special-case.
    import random

    from espnet_cs_ext.scoring.fused import default_script_tokens
    from espnet_cs_ext.scoring.normalize import DEFAULT_STEPS, default_normalize
    from espnet_cs_ext.scoring.tokenize import _SCRIPT_RE
    pool = list("abcXYZ019 '`\u2019\u2018\u00b4.,-!?<>[]\u2014\u3000\t") + [
        "가", "は", "カ", "ｶ", "日", "ก", "\u0e31", "\u0301", "\U00020000", "\U00010100", "😀", "Ａ", "１",
        "ß", "İ", "n't", "'s", "<unk>", "[noise]", "3.5", "1,000", "・", "๏", "។", "၊", "゠", "\ufdd0"]
    rng = random.Random(0)
    for _ in range(2000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        assert default_normalize(text) == DEFAULT_STEPS(text), repr(text)
        assert default_script_tokens(text) == script_tokens(DEFAULT_STEPS(text)), repr(text)
        assert script_tokens(text) == _SCRIPT_RE.findall(text), repr(text)
