"""Every real-corpus preparer against a fixture in the corpus' (documented) layout:
ids, transcripts (scripts kept, NFC), pairs, matrix languages, durations, splits."""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import soundfile as sf

from cs_data_helpers import nfd, read_table, wav_bytes, write_parquet, write_wav
from espnet_cs_ext.utils.errors import CsExtError


def check_dir(d: Path, texts: dict, pair: str, langs: dict = None, durs: dict = None):
    """Tables agree, ids sorted, transcripts exactly `texts` (NFC), utt2category = pair."""
    text = read_table(d / "text")
    assert text == texts
    ids = list(text)
    assert ids == sorted(ids)
    for f in ("wav.scp", "utt2spk", "utt2category", "utt2lang", "utt2dur"):
        assert list(read_table(d / f)) == ids, f
    assert set(read_table(d / "utt2category").values()) == {pair}
    for u, t in text.items():
        assert unicodedata.is_normalized("NFC", t)
    for u, spk in read_table(d / "utt2spk").items():
        assert u.startswith(spk)
    if langs:
        assert read_table(d / "utt2lang") == langs
    if durs:
        got = {u: float(v) for u, v in read_table(d / "utt2dur").items()}
        assert got == pytest.approx(durs, abs=0.01)
    for u, p in read_table(d / "wav.scp").items():
        assert sf.info(p).frames > 0


# ------------------------------------------------------------------ HiKE
HIKE_ROWS = [("hike_0001", "오늘 meeting에서 발표했어요.", "word"), ("hike_0002", "이번 project는 deadline이 너무 빨라요.", "phrase"),
             ("hike_0003", "I think 그게 맞는 것 같아.", "sentence")]


def make_hike(root: Path) -> Path:
    rows = [{"audio": {"bytes": wav_bytes(1.0 + i, sr=24000), "path": f"{sid}.wav"}, "text": nfd(t),
             "text_normalized": t.lower(), "text_pier_labeled": t, "cs_level": lvl, "cs_levels_all": lvl,
             "category": "IT & Tech", "loanwords": "[]", "sample_id": sid}
            for i, (sid, t, lvl) in enumerate(HIKE_ROWS)]
    write_parquet(root / "data" / "test-00000-of-00001.parquet", rows)
    (root / "README.md").write_text("HiKE fixture\n")
    return root


def test_hike(tmp_path: Path):
    from espnet_cs_ext.data.hike import prepare_hike
    dirs = prepare_hike(make_hike(tmp_path / "HiKE"), tmp_path / "out")
    assert list(dirs) == ["test_hike"]
    d = dirs["test_hike"]
    check_dir(d, {f"hike-{s}": t.lower() for s, t, _ in HIKE_ROWS}, "ko-en",
              langs={"hike-hike_0001": "ko", "hike-hike_0002": "ko", "hike-hike_0003": "ko"},
              durs={"hike-hike_0001": 1.0, "hike-hike_0002": 2.0, "hike-hike_0003": 3.0})
    assert read_table(d / "utt2cs_level") == {f"hike-{s}": lvl for s, _, lvl in HIKE_ROWS}
    assert set(read_table(d / "utt2topic").values()) == {"IT_Tech"}
    info = sf.info(read_table(d / "wav.scp")["hike-hike_0001"])
    assert (info.samplerate, info.channels) == (16000, 1)


def test_hike_empty_reference_reaches_the_formatted_test_set(tmp_path: Path):
    """HiKE's mean counts empty references: preparation marks the set so validate keeps them."""
    from espnet_cs_ext.data.hike import prepare_hike
    from espnet_cs_ext.data.validate import format_data_dir
    root = make_hike(tmp_path / "HiKE")
    import pyarrow.parquet as pq
    f = root / "data" / "test-00000-of-00001.parquet"
    rows = pq.read_table(f).to_pylist()
    rows[1]["text_normalized"] = ""
    write_parquet(f, rows)
    d = prepare_hike(root, tmp_path / "out")["test_hike"]
    assert json.loads((d / "info.json").read_text())["empty_refs_scored"] is True
    rep = format_data_dir(d, tmp_path / "fmt")
    assert not rep.errors and read_table(tmp_path / "fmt" / "text")["hike-hike_0002"] == ""


def test_hike_wrong_layout_names_what_was_expected(tmp_path: Path):
    from espnet_cs_ext.data.hike import prepare_hike
    write_parquet(tmp_path / "h" / "data" / "test-0.parquet", [{"audio": {"bytes": wav_bytes(), "path": "a.wav"},
                                                                 "sentence": "x", "sample_id": "1"}])
    with pytest.raises(CsExtError, match="no 'text_normalized' column \\(found audio, sentence, sample_id"):
        prepare_hike(tmp_path / "h", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CsExtError, match="no parquet files under .*expected data/test-\\*.parquet"):
        prepare_hike(tmp_path / "empty", tmp_path / "out2")


# ------------------------------------------------------------------ ko-ja
KOJA = [("spk1", "0001", "昨日 회의에서 会議の資料を見ました。"), ("spk1", "0002", "이 ラーメン 진짜 맛있어요."),
        ("spk2", "0003", "週末に 친구랑 映画を見に行きました。")]


def test_koja_parquet(tmp_path: Path):
    from espnet_cs_ext.data.koja import prepare_koja
    rows = [{"audio": {"bytes": wav_bytes(1.5, sr=48000, channels=2), "path": f"{i}.wav"}, "transcription": nfd(t),
             "speaker_id": s, "id": i} for s, i, t in KOJA]
    write_parquet(tmp_path / "koja" / "data" / "test-00000-of-00001.parquet", rows)
    d = prepare_koja(tmp_path / "koja", tmp_path / "out")["test_koja"]
    check_dir(d, {f"koja-{s}-{i}": t for s, i, t in KOJA}, "ko-ja",
              langs={"koja-spk1-0001": "ja", "koja-spk1-0002": "ko", "koja-spk2-0003": "ja"},
              durs={u: 1.5 for u in (f"koja-{s}-{i}" for s, i, _ in KOJA)})
    assert read_table(d / "spk2utt") == {"koja-spk1": "koja-spk1-0001 koja-spk1-0002", "koja-spk2": "koja-spk2-0003"}


def test_koja_audiofolder(tmp_path: Path):
    from espnet_cs_ext.data.koja import prepare_koja
    root = tmp_path / "koja"
    lines = ["file_name,text"]
    for s, i, t in KOJA:
        write_wav(root / "audio" / f"{s}_{i}.wav", 1.0)
        lines.append(f"audio/{s}_{i}.wav,{t}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = prepare_koja(root, tmp_path / "out")["test_koja"]
    check_dir(d, {f"koja-{s}_{i}": t for s, i, t in KOJA}, "ko-ja")


def test_koja_unknown_columns(tmp_path: Path):
    from espnet_cs_ext.data.koja import prepare_koja
    write_parquet(tmp_path / "k" / "x.parquet", [{"audio": {"bytes": wav_bytes(), "path": "a"}, "utterance": "x"}])
    with pytest.raises(CsExtError, match="no transcript column \\(looked for text, transcription.*found audio, utterance"):
        prepare_koja(tmp_path / "k", tmp_path / "out")


# ------------------------------------------------------------------ ko-de
def test_kode(tmp_path: Path):
    from espnet_cs_ext.data.kode import prepare_kode
    root = tmp_path / "kode"
    items = [("spk1", "0001", "오늘 Besprechung 있어요."), ("spk2", "0002", "이 Kuchen 진짜 맛있어요.")]
    root.mkdir()
    with open(root / "metadata.jsonl", "w", encoding="utf-8") as f:
        for s, i, t in items:
            write_wav(root / "audio" / f"{s}_{i}.flac", 2.0, sr=44100)
            f.write(json.dumps({"file_name": f"audio/{s}_{i}.flac", "text": nfd(t), "speaker": s, "id": i},
                               ensure_ascii=False) + "\n")
    d = prepare_kode(root, tmp_path / "out")["test_kode"]
    check_dir(d, {f"kode-{s}-{i}": t for s, i, t in items}, "ko-de",
              langs={"kode-spk1-0001": "ko", "kode-spk2-0002": "ko"}, durs={"kode-spk1-0001": 2.0, "kode-spk2-0002": 2.0})
    with pytest.raises(CsExtError, match="kode: no parquet files and no metadata.jsonl"):
        prepare_kode(tmp_path / "out" / "test_kode", tmp_path / "o2")


# ------------------------------------------------------------------ CS-FLEURS
CSF = [("read", "test", "deu-eng", "spk_a", 11, "Das meeting beginnt um neun."),
       ("read", "test", "deu-eng", "spk_b", 11, "Das meeting beginnt um neun."),
       ("read", "test", "cmn-eng", "spk_c", 12, "我们明天有一个 meeting。"),
       ("xtts", "test1", "deu-eng", "xtts", 13, "Ich habe den report gelesen.")]


def make_csfleurs(root: Path) -> Path:
    by_meta = {}
    for sub, split, lang, spk, sid, text in CSF:
        rel = f"audio/{lang}/{spk}_{sid}.wav"
        write_wav(root / sub / split / rel, 1.25)
        by_meta.setdefault((sub, split), []).append({"id": sid, "file_name": rel, "text": text, "duration": 1.25,
                                                     "language": lang, "speaker": spk})
    for (sub, split), rows in by_meta.items():
        with open(root / sub / split / "metadata.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return root


def test_csfleurs_read_all_pairs_and_filter(tmp_path: Path):
    from espnet_cs_ext.data.csfleurs import prepare_csfleurs
    root = make_csfleurs(tmp_path / "cs-fleurs")
    dirs = prepare_csfleurs(root, tmp_path / "out")
    assert sorted(dirs) == ["test_csfleurs_read_de-en", "test_csfleurs_read_zh-en"]
    de = dirs["test_csfleurs_read_de-en"]
    check_dir(de, {"csfleurs-de-en-spk_a-11-spk_a_11": "Das meeting beginnt um neun.",
                   "csfleurs-de-en-spk_b-11-spk_b_11": "Das meeting beginnt um neun."}, "de-en",
              durs={"csfleurs-de-en-spk_a-11-spk_a_11": 1.25, "csfleurs-de-en-spk_b-11-spk_b_11": 1.25})
    assert set(read_table(de / "utt2lang").values()) == {"de"}
    check_dir(dirs["test_csfleurs_read_zh-en"], {"csfleurs-zh-en-spk_c-12-spk_c_12": "我们明天有一个 meeting。"}, "zh-en")
    only = prepare_csfleurs(root, tmp_path / "out2", subsets=["read", "xtts"], pairs=["deu-eng"])
    assert sorted(only) == ["test1_csfleurs_xtts_de-en", "test_csfleurs_read_de-en"]
    with pytest.raises(CsExtError, match="subset 'read' has no pair\\(s\\) kor-eng \\(ko-en\\); it has: "
                                         "deu-eng \\(de-en\\), cmn-eng \\(zh-en\\)"):
        prepare_csfleurs(root, tmp_path / "out3", pairs=["kor-eng"])
    with pytest.raises(CsExtError, match="no mms/\\*\\*/metadata.jsonl"):
        prepare_csfleurs(root, tmp_path / "out4", subsets=["mms"])


# ------------------------------------------------------------------ AI-Hub ko-en
def make_aihub(root: Path, n_spk: int = 6, per_spk: int = 3) -> dict:
    texts = {}
    for part, split_dir in (("1.Training", "TS"), ("2.Validation", "VS")):
        for s in range(n_spk if part == "1.Training" else 2):
            spk = f"{'T' if part == '1.Training' else 'V'}{s:03d}"
            for k in range(per_spk):
                name = f"KOEN_{spk}_{k:04d}"
                write_wav(root / part / "01.원천데이터" / f"{split_dir}_01" / f"{name}.wav", 1.0)
                text = f"{k}번째 meeting 자료를 update 했어요."
                label = {"파일정보": {"FileName": f"{name}.wav"}, "화자정보": {"SpeakerId": spk},
                         "전사정보": {"LabelText": nfd(text)}}
                lab = root / part / "02.라벨링데이터" / f"{split_dir.replace('S', 'L')}_01" / f"{name}.json"
                lab.parent.mkdir(parents=True, exist_ok=True)
                lab.write_text(json.dumps(label, ensure_ascii=False), encoding="utf-8")
                texts[f"aihub-{spk}-{name}"] = text
    return texts


def test_aihub_keeps_validation_as_test_and_splits_training_by_speaker(tmp_path: Path):
    from espnet_cs_ext.data.aihub_koen import prepare_aihub_koen
    texts = make_aihub(tmp_path / "aihub")
    dirs = prepare_aihub_koen(tmp_path / "aihub", tmp_path / "out", seed=1)
    assert sorted(dirs) == ["dev_aihub_koen", "test_aihub_koen", "train_aihub_koen"]
    test = read_table(dirs["test_aihub_koen"] / "text")
    assert all("-V" in u for u in test) and len(test) == 6
    spk = {name: set(read_table(d / "utt2spk").values()) for name, d in dirs.items()}
    assert not (spk["train_aihub_koen"] & spk["dev_aihub_koen"])          # speaker-disjoint
    merged = {}
    for d in dirs.values():
        merged.update(read_table(d / "text"))
        check_dir(d, {u: texts[u] for u in read_table(d / "text")}, "ko-en")
    assert merged == texts
    again = prepare_aihub_koen(tmp_path / "aihub", tmp_path / "out2", seed=1)
    assert {n: read_table(d / "text") for n, d in again.items()} == {n: read_table(d / "text") for n, d in dirs.items()}


def test_aihub_without_pairs_explains_the_layout(tmp_path: Path):
    from espnet_cs_ext.data.aihub_koen import prepare_aihub_koen
    write_wav(tmp_path / "a" / "x.wav")
    (tmp_path / "a" / "y.json").write_text("{}")
    with pytest.raises(CsExtError, match="found 1 .json and 1 audio files .* no label/audio pair with the same name"):
        prepare_aihub_koen(tmp_path / "a", tmp_path / "out")


# ------------------------------------------------------------------ JECS
def test_jecs_jsut_style_transcript(tmp_path: Path):
    from espnet_cs_ext.data.jecs import prepare_jecs
    root = tmp_path / "jecs"
    texts = {f"JECS_{i:04d}": t for i, t in enumerate(["今日は meeting があります。", "この project の deadline は明日です。",
                                                       "週末に camping に行きました。", "新しい laptop を買いました。",
                                                       "その presentation はとても良かったです。"] * 2)}
    for k in texts:
        write_wav(root / "wav" / f"{k}.wav", 0.5, sr=48000)
    write_wav(root / "wav" / "JECS_9999.wav", 0.5)  # audio without transcript: reported, not used
    (root / "transcript_utf8.txt").write_text("".join(f"{k}:{nfd(t)}\n" for k, t in texts.items()), encoding="utf-8")
    (root / "README.txt").write_text("JECS fixture: not a transcript\n")
    dirs = prepare_jecs(root, tmp_path / "out", seed=0)
    assert sorted(dirs) == ["dev_jecs", "test_jecs", "train_jecs"]
    assert [len(read_table(d / "text")) for _, d in sorted(dirs.items())] == [1, 1, 8]
    merged = {}
    for d in dirs.values():
        t = read_table(d / "text")
        merged.update(t)
        check_dir(d, t, "ja-en")
        assert set(read_table(d / "utt2lang").values()) == {"ja"}
    assert merged == {f"jecs-spk-{k}": t for k, t in texts.items()}
    info = json.loads((dirs["train_jecs"] / "info.json").read_text())
    assert info["audio_without_transcript"] == ["JECS_9999"]


def test_jecs_without_transcript(tmp_path: Path):
    from espnet_cs_ext.data.jecs import prepare_jecs
    write_wav(tmp_path / "j" / "a.wav")
    with pytest.raises(CsExtError, match="no transcript file .* names any of its 1 audio files"):
        prepare_jecs(tmp_path / "j", tmp_path / "out")


# ------------------------------------------------------------------ UniCoM de-en
def test_unicom_manifest_with_split(tmp_path: Path):
    from espnet_cs_ext.data.unicom import prepare_unicom
    root = tmp_path / "unicom" / "de-en"
    rows = [("u1", "train", "Ich habe das meeting verpasst."), ("u2", "train", "Der deadline ist morgen."),
            ("u3", "validation", "Wir brauchen mehr budget."), ("u4", "test", "Das war ein guter talk.")]
    root.mkdir(parents=True)
    with open(root / "metadata.jsonl", "w", encoding="utf-8") as f:
        for u, sp, t in rows:
            write_wav(root / "audio" / f"{u}.wav", 0.75)
            f.write(json.dumps({"file_name": f"audio/{u}.wav", "text": t, "speaker": "s1", "split": sp}) + "\n")
    dirs = prepare_unicom(root, tmp_path / "out")
    assert {n: list(read_table(d / "text")) for n, d in dirs.items()} == {
        "train_unicom": ["unicom-s1-u1", "unicom-s1-u2"], "dev_unicom": ["unicom-s1-u3"], "test_unicom": ["unicom-s1-u4"]}
    check_dir(dirs["train_unicom"], {"unicom-s1-u1": rows[0][2], "unicom-s1-u2": rows[1][2]}, "de-en",
              durs={"unicom-s1-u1": 0.75, "unicom-s1-u2": 0.75})


# ------------------------------------------------------------------ CLI
def test_cli_corpus_subcommand(tmp_path: Path, capsys):
    from espnet_cs_ext.bin.cs_prepare import main
    make_hike(tmp_path / "HiKE")
    assert main(["hike", str(tmp_path / "HiKE"), "--out", str(tmp_path / "out")]) == 0
    assert "test_hike" in capsys.readouterr().out
    assert main(["koja", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "koja: corpus directory" in capsys.readouterr().err
