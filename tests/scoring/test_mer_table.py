"""MER worked out by hand: (ref, hyp, preset, MER, S, D, I) per row.

Each comment lists the tokens after normalisation (| separates tokens) and the
alignment. Rows are chosen so the minimum-cost alignment fixes S, D and I
(no S+S vs D+I ties), hence the counts are the only right answer.
MER here is per utterance (= corpus MER for one utterance); None = undefined.
"""
import pytest

from espnet_cs_ext.scoring import MerAccumulator

ROWS = [
    # --- ko-en ---------------------------------------------------------------------------
    # ref 나|는|iphone|을|샀|다 (6); hyp 나|는|아|이|폰|을|샀|다 (8)
    # iphone -> one of 아/이/폰 (S), the other two inserted: S1 I2 -> 3/6
    ("ko-en loanword", "나는 iPhone을 샀다", "나는 아이폰을 샀다", "default", 3 / 6, 1, 0, 2),
    # punctuation and a space before a particle do not matter: both 오|늘|meeting|은|cancel|됐|어|요
    ("ko-en spacing", "오늘 meeting은 cancel됐어요", "오늘 Meeting 은 cancel 됐어요.", "default", 0.0, 0, 0, 0),
    # ref python|으|로|코|딩|해|요 (7); hyp 파|이|썬|으|로|코|딩|해|요 (9): S1 I2 -> 3/7
    ("ko-en script swap", "Python으로 코딩해요", "파이썬으로 코딩해요", "default", 3 / 7, 1, 0, 2),
    # --- ja-en ---------------------------------------------------------------------------
    # ref 今|日|は|meeting|が|あ|り|ま|す (9); hyp 今|日|は|ミ|ー|テ|ィ|ン|グ|が|あ|り|ま|す (14)
    # meeting -> one katakana (S), five inserted: S1 I5 -> 6/9
    ("ja-en katakana", "今日はmeetingがあります", "今日はミーティングがあります", "default", 6 / 9, 1, 0, 5),
    # ref i|like|寿|司 (4); hyp i|like|sushi (3): one of 寿/司 -> sushi (S), the other deleted
    ("ja-en kanji", "I like 寿司", "I like sushi", "default", 2 / 4, 1, 1, 0),
    # --- de-en ---------------------------------------------------------------------------
    # das|meeting|ist|heute vs das|meeting|is|today: S2 -> 2/4
    ("de-en", "Das Meeting ist heute", "das meeting is today", "default", 0.5, 2, 0, 0),
    # ich|habe|das|update|installiert vs ich|hab|das|update|installiert: S1 -> 1/5
    ("de-en umlaut-free", "Ich habe das Update installiert.", "Ich hab das Update installiert", "default",
     0.2, 1, 0, 0),
    # casefold: straße -> strasse on both sides, so no error
    ("de-en casefold", "Die Straße ist closed", "die strasse ist closed", "default", 0.0, 0, 0, 0),
    # --- ko-ja ---------------------------------------------------------------------------
    # 저|는|学|生|で|す both sides
    ("ko-ja equal", "저는 学生です", "저는 学生です", "default", 0.0, 0, 0, 0),
    # 韓|国|語|は|어|렵|다 vs 韓|国|語|わ|어|렵|다: S1 -> 1/7
    ("ko-ja particle", "韓国語は 어렵다", "韓国語わ 어렵다", "default", 1 / 7, 1, 0, 0),
    # ref 한|국|어|는|難|し|い (7); hyp 한|국|어|は|難|し|い: S1 (Hangul 는 -> kana は)
    ("ko-ja script swap", "한국어는 難しい", "한국어は 難しい", "default", 1 / 7, 1, 0, 0),
    # --- ko-de ---------------------------------------------------------------------------
    # 나|는|brot|를|먹|었|다 vs 나|는|brot|를|먹|었|어: S1 -> 1/7
    ("ko-de", "나는 Brot를 먹었다", "나는 brot 를 먹었어", "default", 1 / 7, 1, 0, 0),
    # ref 이|건|kühlschrank|야 (4); hyp 이|건|kuhlschrank|야: ü vs u is a real error, S1
    ("ko-de umlaut", "이건 Kühlschrank야", "이건 Kuhlschrank야", "default", 0.25, 1, 0, 0),
    # --- zh-en ---------------------------------------------------------------------------
    # 我|们|今|天|有|个|meeting (7) both sides (the full stop 。 is punctuation)
    ("zh-en equal", "我们今天有个meeting", "我们今天有个 meeting。", "default", 0.0, 0, 0, 0),
    # 这|个|project|很|重|要 vs 这|个|product|很|重|要: S1 -> 1/6
    ("zh-en sub", "这个project很重要", "这个 product 很重要", "default", 1 / 6, 1, 0, 0),
    # --- other per-character scripts --------------------------------------------------------
    # Thai: ส|วั|ส|ดี|hello (5): a vowel mark stays with its consonant; hello -> hallo S1 -> 1/5
    ("th-en", "สวัสดี hello", "สวัสดี hallo", "default", 0.2, 1, 0, 0),
    # --- full-width forms -------------------------------------------------------------------
    # NFKC: ＡＩ -> ai, so ai|는|大|事 both sides
    ("full-width latin", "ＡＩ는 大事", "AI는 大事", "default", 0.0, 0, 0, 0),
    # no normalisation: ＡＩ|는|大|事 vs AI|는|大|事: S1 -> 1/4
    ("full-width latin, none", "ＡＩ는 大事", "AI는 大事", "none", 0.25, 1, 0, 0),
    # half-width katakana -> full-width under NFKC: カ|メ|ラ both sides
    ("half-width katakana", "ｶﾒﾗ", "カメラ", "default", 0.0, 0, 0, 0),
    # without NFKC the half-width characters are still one token each: ｶ|ﾒ|ﾗ vs カ|メ|ラ: S3
    ("half-width katakana, none", "ｶﾒﾗ", "カメラ", "none", 1.0, 3, 0, 0),
    # full-width ！ -> ! -> removed: は|い both sides
    ("full-width punctuation", "はい！", "はい", "default", 0.0, 0, 0, 0),
    # CJK punctuation 「」、・ removed: ア|ニ|メ|と|マ|ン|ガ both sides
    ("CJK punctuation", "「アニメ」、「マンガ」", "アニメ・マンガ", "default", 0.0, 0, 0, 0),
    # --- numbers ---------------------------------------------------------------------------
    # 3|개|샀|어|요 vs 세|개|샀|어|요: digits are not verbalised, S1 -> 1/5
    ("number vs word", "3개 샀어요", "세 개 샀어요", "default", 0.2, 1, 0, 0),
    # a decimal point between digits is kept: 3.5 vs 3,5 differ, S1 -> 1/4
    ("decimal", "It costs 3.5 dollars", "it costs 3,5 dollars", "default", 0.25, 1, 0, 0),
    # 1,000|people vs 1000|people: the separator is kept, S1 -> 1/2
    ("thousands", "1,000 people", "1000 people", "default", 0.5, 1, 0, 0),
    # 2024|年|に both sides (a digit run is one token, split from the ideograph)
    ("digits + kanji", "2024年に", "2024年に", "default", 0.0, 0, 0, 0),
    # --- punctuation-only lines -------------------------------------------------------------
    # ref has no tokens after normalisation: MER undefined, the inserted hello still counted
    ("punct-only ref", "...", "hello", "default", None, 0, 0, 1),
    # hyp is only punctuation: 네|맞|아|요 all deleted -> 4/4
    ("punct-only hyp", "네 맞아요", "。。。", "default", 1.0, 0, 4, 0),
    # --- empty lines -----------------------------------------------------------------------
    ("empty both", "", "", "default", None, 0, 0, 0),
    ("empty hyp", "안녕", "", "default", 1.0, 0, 2, 0),
    ("empty ref", "", "음 um", "default", None, 0, 0, 2),
    # --- Kaldi non-words, contractions -------------------------------------------------------
    ("kaldi non-words", "<unk> 안녕 [noise]", "안녕", "default", 0.0, 0, 0, 0),
    # i|am|here both sides; a typographic apostrophe counts as '
    ("contraction", "I'm here", "I\u2019m here", "default", 0.0, 0, 0, 0),
    # --- hike: reference used as given (HiKE ships it normalised), hypothesis normalised -----
    # hyp lowercased, full stop removed: 나|는|iphone|을|샀|다 both sides
    ("hike ko-en", "나는 iphone을 샀다", "나는 iPhone을 샀다.", "hike", 0.0, 0, 0, 0),
    # HiKE does not split kana/Han: ref 今日は|meeting (2) vs 今日わ|meeting: S1 -> 1/2
    ("hike ja-en whole words", "今日は meeting", "今日わ meeting", "hike", 0.5, 1, 0, 0),
    # hike_script does: 今|日|は|meeting (4) vs 今|日|わ|meeting: S1 -> 1/4
    ("hike_script ja-en", "今日は meeting", "今日わ meeting", "hike_script", 0.25, 1, 0, 0),
    # don't -> do not; o'clock -> oclock (apostrophe deleted)
    ("hike contraction", "그건 do not 해 oclock", "그건 don't 해 o'clock", "hike", 0.0, 0, 0, 0),
    # the hike reference is not normalised: Das|ist vs das|ist -> S1 -> 1/2
    ("hike ref as given", "Das ist", "Das ist", "hike", 0.5, 1, 0, 0),
    # Kaldi non-word deleted from the hypothesis; em dash between words -> space
    ("hike non-word, em dash", "좋아 a b", "좋아 [laughter] a\u2014b", "hike", 0.0, 0, 0, 0),
]


@pytest.mark.parametrize("name,ref,hyp,preset,mer,S,D,I", ROWS, ids=[r[0] for r in ROWS])
def test_mer_table(name, ref, hyp, preset, mer, S, D, I):
    u = MerAccumulator(preset).add(ref, hyp)
    assert (u.sub, u.dele, u.ins) == (S, D, I), (u.ref, u.hyp)
    if mer is None:
        assert u.mer is None
    else:
        assert u.mer == pytest.approx(mer)


def test_corpus_vs_mean_and_headline():
    # utt a: x vs y -> 1 error / 1 token (MER 1.0); utt b: 4 tokens all right (0.0)
    # corpus = 1 / 5 = 0.2; mean = (1.0 + 0.0) / 2 = 0.5; an empty-ref utt with 1 insertion
    # adds 1 to the corpus numerator (2 / 5); default leaves it out of the mean, hike (as
    # HiKE's np.mean over jiwer 4's wer) counts it as MER 1.0: (1 + 0 + 1) / 3.
    refs, hyps = ["x", "a b c d", ""], ["y", "a b c d", "uh"]
    for preset, mean, n_mean, headline in [("default", 0.5, 2, 0.4), ("hike", 2 / 3, 3, 2 / 3)]:
        acc = MerAccumulator(preset)
        acc.add_many(refs, hyps, ["a", "b", "e"])
        s = acc.summary()
        assert s["corpus_mer"] == pytest.approx(0.4)
        assert s["mean_utt_mer"] == pytest.approx(mean)
        assert s["mer"] == pytest.approx(headline)
        assert s["empty_refs"] == {"count": 1, "insertions": 1, "ids": ["e"]}
        assert s["num_utts_in_mean"] == n_mean


def test_all_empty_references_never_divide_by_zero():
    acc = MerAccumulator("default")
    acc.add_many(["", "..."], ["hello", ""])
    s = acc.summary()
    assert s["corpus_mer"] is None and s["mean_utt_mer"] is None and s["mer"] is None
    assert s["ins"] == 1 and s["empty_refs"]["count"] == 2


def test_missing_hypothesis_is_full_deletion():
    acc = MerAccumulator("default")
    u = acc.add("안녕 world", None, "u9")
    assert (u.sub, u.dele, u.ins, u.status) == (0, 3, 0, "missing_hyp")
    assert acc.summary()["missing_hyps"] == {"count": 1, "ids": ["u9"]}


def test_per_script_attribution():
    # ref 나|는|iphone|을|샀|다, hyp 나|는|아|이|폰|을|샀|다: S (iphone, latin ref) + 2 I (hangul hyp)
    # ref 今|日|は|meeting, hyp 今|日|は|미|팅: S (meeting -> 미, latin) + I (팅, hangul)
    acc = MerAccumulator("default")
    acc.add("나는 iPhone을 샀다", "나는 아이폰을 샀다")
    acc.add("今日は meeting", "今日は 미팅")
    ps = acc.summary()["per_script"]
    assert ps["latin"] == {"ref_tokens": 2, "corr": 0, "sub": 2, "del": 0, "ins": 0, "err": 2, "mer": 1.0,
                           "utts": 2, "utts_with_error": 2}
    # Hangul: 5 reference tokens in utt 1; insertions 이, 폰 (utt 1) and 팅 (utt 2), so both count
    assert ps["hangul"]["ref_tokens"] == 5 and ps["hangul"]["ins"] == 3 and ps["hangul"]["utts"] == 2
    assert ps["han"]["ref_tokens"] == 2 and ps["han"]["err"] == 0
    assert ps["kana"]["ref_tokens"] == 1 and ps["kana"]["err"] == 0
    s = acc.summary()
    assert sum(v["err"] for v in ps.values()) == s["err"] == 5
    assert sum(v["ref_tokens"] for v in ps.values()) == s["num_ref_tokens"] == 10


def test_alignment_rendering():
    acc = MerAccumulator("default")
    u = acc.add("a b c d e", "a x c e")
    ops, r, h = u.alignment()
    # a=a, b->x, c=c, -d, e=e: cost 2, and every other alignment costs at least 3
    assert (u.sub, u.dele, u.ins) == (1, 1, 0)
    assert ops == "CSCDC"
    assert r == ["a", "b", "c", "d", "e"] and h == ["a", "x", "c", "***", "e"]


def test_summary_is_repeatable_and_accumulation_continues():
    acc = MerAccumulator("default", keep_utts=False)
    acc.add_many(["가 나 a", "b"], ["가 a", "c"])
    first = acc.summary()
    assert acc.summary() == first
    acc.add("다", "다")
    s = acc.summary()
    assert s["per_script"]["hangul"]["ref_tokens"] == 3 and s["num_ref_tokens"] == 5


def test_per_script_sentence_counts_include_error_only_utterances():
    # the reference has no Latin token, the hypothesis inserts one: that utterance counts for
    # 'latin' in both # Snt and S.Err, so S.Err per script never exceeds 100 %
    acc = MerAccumulator("default")
    acc.add("안녕", "안녕 hello")
    acc.add("hi there", "hi there")
    lat = acc.summary()["per_script"]["latin"]
    assert (lat["utts"], lat["utts_with_error"], lat["ins"], lat["ref_tokens"]) == (2, 1, 1, 2)


def test_alignment_agrees_with_counts_on_random_pairs():
    import random
    rng = random.Random(1)
    acc = MerAccumulator("none")
    for _ in range(300):
        ref = " ".join(rng.choices("abcd", k=rng.randint(0, 8)))
        hyp = " ".join(rng.choices("abcde", k=rng.randint(0, 8)))
        u = acc.add(ref, hyp)
        ops, r, h = u.alignment()
        assert (ops.count("C"), ops.count("S"), ops.count("D"), ops.count("I")) == (u.corr, u.sub, u.dele, u.ins)
        assert [t for t in r if t != "***"] == ref.split() and [t for t in h if t != "***"] == hyp.split()
        assert len(r) == len(h) == len(ops)
