"""Hub corpora on fixtures in their real schema: HiKE end to end against HiKE's own rules,
CS-FLEURS reading only what a subset x pairs needs, ko-ja's parquet export, revision pins.

The Hub calls (`HfApi.dataset_info`, `HfApi.list_repo_files`, `hf_hub_download`) are served
from a local fixture tree, so the download code path runs offline and we can see which
files it asked for.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from cs_data_helpers import read_table, wav_bytes, write_parquet, write_wav
from espnet_cs_ext.utils.errors import CsExtError

pytest.importorskip("pyarrow")

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """Serves a local tree as a dataset repo at COMMIT; records every call."""

    def __init__(self, root: Path, monkeypatch) -> None:
        import huggingface_hub
        self.root, self.calls, self.downloaded = root, [], []
        hub = self

        class Info:
            sha = COMMIT

        def dataset_info(api, repo_id, revision=None, **kw):
            hub.calls.append(("dataset_info", repo_id, revision))
            return Info()

        def list_repo_files(api, repo_id, repo_type=None, revision=None, **kw):
            hub.calls.append(("list_repo_files", repo_id, repo_type, revision))
            return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

        def hf_hub_download(repo_id, filename, repo_type=None, revision=None, **kw):
            assert (repo_type, revision) == ("dataset", COMMIT)  # every file from the one resolved commit
            hub.downloaded.append(filename)
            return str(root / filename)

        monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
        monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", list_repo_files)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)


# ------------------------------------------------------------------ HiKE end to end
# (sample_id, text_normalized, loanwords, hypothesis). HiKE's rules, worked by hand:
# loanwords substituted in hypothesis AND reference, hypothesis normalised (lowercase,
# contractions pattern by pattern, punctuation deleted), one token per Hangul syllable,
# mean of per-utterance MER over all rows (an empty reference scores its insertions).
HIKE = [
    # 버그->bug, 세션->session in the hypothesis: 이 번 bug 는 session 에 있 어 요 = ref -> 0
    ("s1", "이번 bug는 session에 있어요", [["버그", "bug"], ["세션", "session"]], "이번 버그는 세션에 있어요."),
    # no loanwords: ref 오 늘 회 의 취 소 (6), hyp adds 는 -> 1 insertion -> 1/6
    ("s2", "오늘 회의 취소", [], "오늘 회의는 취소."),
    # empty reference: 음 네 = 2 insertions -> 2.0 (HiKE's jiwer 4 wer) in the mean
    ("s3", "", [], "음 네"),
    # you'llet's: let's first -> you'llet us, then 'll -> you willet us = ref -> 0
    ("s4", "you willet us", [], "You'llet's"),
    # the reference's 파이썬 becomes python too: python 코 드 를 봤 어 요 both -> 0
    ("s5", "파이썬 코드를 봤어요", [["파이썬", "python"]], "python 코드를 봤어요"),
]
#: per utterance with loanwords; without: s1 4/9 (bug->버 S, 그 I, session->세 S, 션 I),
#: s5 3/9 (파->python S, 이 D, 썬 D)
HIKE_MER = {"s1": 0.0, "s2": 1 / 6, "s3": 2.0, "s4": 0.0, "s5": 0.0}
HIKE_MER_NO_LOANWORDS = {"s1": 4 / 9, "s2": 1 / 6, "s3": 2.0, "s4": 0.0, "s5": 3 / 9}


def make_hike(root: Path) -> Path:
    rows = [{"audio": {"bytes": wav_bytes(0.5 + 0.1 * i, sr=44100, channels=2), "path": f"{sid}.wav"},
             "text": "RAW " + t, "text_normalized": t, "text_pier_labeled": t, "cs_level": "word",
             "cs_levels_all": "word", "category": "IT & Tech",
             "loanwords": json.dumps([{"Korean": k, "English": e} for k, e in lw], ensure_ascii=False),
             "sample_id": sid}
            for i, (sid, t, lw, _) in enumerate(HIKE)]
    write_parquet(root / "data" / "test-00000-of-00001.parquet", rows)
    (root / "README.md").write_text("HiKE fixture\n")
    return root


def test_hike_end_to_end_equals_hikes_rules(tmp_path: Path):
    from espnet_cs_ext.bin.cs_prepare import main as prepare
    from espnet_cs_ext.bin.cs_score import main as score
    assert prepare(["hike", str(make_hike(tmp_path / "HiKE")), "--out", str(tmp_path / "data")]) == 0
    d = tmp_path / "data" / "test_hike"
    assert read_table(d / "text") == {f"hike-{s}": t for s, t, _, _ in HIKE}  # text_normalized, not text
    lw = read_table(d / "utt2loanwords")
    assert [json.loads(lw[f"hike-{s}"]) for s, *_ in HIKE] == [[{"Korean": k, "English": e} for k, e in x]
                                                                  for _, _, x, _ in HIKE]
    assert sf.info(read_table(d / "wav.scp")["hike-s1"]).samplerate == 16000
    hyp = tmp_path / "hyp_text"
    hyp.write_text("".join(f"hike-{s} {h}\n" for s, _, _, h in HIKE), encoding="utf-8")
    for loanwords, table in ((["--loanwords", str(d / "utt2loanwords")], HIKE_MER), ([], HIKE_MER_NO_LOANWORDS)):
        out = tmp_path / ("score_lw" if loanwords else "score")
        assert score(["--ref", str(d / "text"), "--hyp", str(hyp), "--out", str(out), "--preset", "hike"]
                     + loanwords) == 0
        res = json.loads((out / "result.json").read_text())
        assert res["mer"] == pytest.approx(sum(table.values()) / len(table), abs=1e-4)
        assert res["num_utts_in_mean"] == 5
        per_utt = {r.split("\t")[0]: float(r.split("\t")[9]) for r in (out / "per_utt.tsv").read_text().splitlines()[1:]}
        assert per_utt == pytest.approx({f"hike-{k}": v for k, v in table.items()}, abs=1e-4)
    assert res.get("loanwords") is None and json.loads((tmp_path / "score_lw" / "result.json").read_text())[
        "loanwords"] == {"file": str(d / "utt2loanwords"), "utts_with_loanwords": 2}


def test_hike_raw_text_field_and_info(tmp_path: Path):
    from espnet_cs_ext.bin.cs_prepare import main as prepare
    assert prepare(["hike", str(make_hike(tmp_path / "HiKE")), "--out", str(tmp_path / "data"),
                    "--text-field", "text"]) == 0
    d = tmp_path / "data" / "test_hike"
    assert read_table(d / "text")["hike-s2"] == "RAW 오늘 회의 취소"
    info = json.loads((d / "info.json").read_text())
    assert (info["text_field"], info["commit"], info["revision"]) == ("text", None, None)


def test_hike_from_the_hub_pins_and_records_the_commit(tmp_path: Path, monkeypatch, capsys):
    hub = FakeHub(make_hike(tmp_path / "remote"), monkeypatch)
    from espnet_cs_ext.data.hike import prepare_hike
    d = prepare_hike("hf://thetaone-ai/HiKE", tmp_path / "out")["test_hike"]
    # a branch default is resolved, recorded and the exact pin printed
    assert f"not a commit id; read at commit {COMMIT}. To reproduce this data later, pin it: HIKE_REVISION={COMMIT}" \
        in capsys.readouterr().err
    assert hub.calls[0] == ("dataset_info", "thetaone-ai/HiKE", "main")  # the default pin
    assert hub.downloaded == ["data/test-00000-of-00001.parquet"]  # not README.md
    info = json.loads((d / "info.json").read_text())
    assert (info["repo"], info["revision"], info["commit"]) == ("thetaone-ai/HiKE", "main", COMMIT)
    prepare_hike("hf://thetaone-ai/HiKE", tmp_path / "out2", revision=COMMIT[:7])
    assert hub.calls[-2] == ("dataset_info", "thetaone-ai/HiKE", COMMIT[:7])
    assert "not a commit id" in capsys.readouterr().err  # a short id is not a pin either
    prepare_hike("hf://thetaone-ai/HiKE", tmp_path / "out3", revision=COMMIT)
    assert "not a commit id" not in capsys.readouterr().err


def test_hub_failure_is_one_clear_line(tmp_path: Path, monkeypatch):
    import huggingface_hub

    def offline(api, repo_id, revision=None, **kw):
        raise OSError("We couldn't connect to 'https://huggingface.co'")
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", offline)
    from espnet_cs_ext.data.hike import prepare_hike
    with pytest.raises(CsExtError, match="could not download hf://thetaone-ai/HiKE@main.*pass the local directory"):
        prepare_hike("hf://thetaone-ai/HiKE", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad,match", [("{not json", "loanwords are not JSON"),
                                       ('[{"Korean": "버그"}]', "loanword entry .* is not \\{\"Korean\": str, \"English\": str\\}")])
def test_hike_bad_loanwords_name_the_utterance(tmp_path: Path, bad, match):
    from espnet_cs_ext.data.hike import prepare_hike
    write_parquet(tmp_path / "h" / "data" / "test-0.parquet", [
        {"audio": {"bytes": wav_bytes(), "path": "a.wav"}, "text": "x", "text_normalized": "x",
         "loanwords": bad, "sample_id": "7"}])
    with pytest.raises(CsExtError, match=f"hike: .*test-0.parquet: hike-7: {match}"):
        prepare_hike(tmp_path / "h", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before any audio is decoded


def test_loanwords_ids_must_be_reference_ids(tmp_path: Path):
    from espnet_cs_ext.scoring import score_files
    (tmp_path / "ref").write_text("a 버그\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("a bug\n", encoding="utf-8")
    (tmp_path / "lw").write_text('a []\nb [{"Korean": "버그", "English": "bug"}]\n', encoding="utf-8")
    with pytest.raises(CsExtError, match="lw: 1 utterance id\\(s\\) not in .*ref: b"):
        score_files(tmp_path / "ref", tmp_path / "hyp", tmp_path / "out", "hike", loanwords=tmp_path / "lw")
    assert not (tmp_path / "out").exists()


def test_score_all_passes_the_test_dirs_loanwords(tmp_path: Path):
    from espnet_cs_ext.recipe.score_all import ScoreJob, run_jobs
    d = tmp_path / "test_hike"
    d.mkdir()
    (d / "text").write_text("a 이번 bug\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("a 이번 버그\n", encoding="utf-8")
    job = ScoreJob(str(d / "text"), str(tmp_path / "hyp"), str(tmp_path / "s"), "mer:hike")
    run_jobs([job])
    assert json.loads((tmp_path / "s" / "result.json").read_text())["mer"] > 0
    (d / "utt2loanwords").write_text('a [{"Korean": "버그", "English": "bug"}]\n', encoding="utf-8")
    assert run_jobs([job]) == [job]  # the new table makes the marker stale
    assert json.loads((tmp_path / "s" / "result.json").read_text())["mer"] == 0.0


# ------------------------------------------------------------------ CS-FLEURS
# (subset, split, language, speaker, id, text, sample rate)
CSF = [("read", "test", "deu-eng", "spk_a", 11, "Das meeting beginnt um neun.", 48000),
       ("read", "test", "deu-eng", "spk_b", 12, "Ich habe den report gelesen.", 16000),
       ("read", "test", "cmn-eng", "spk_c", 13, "我们明天有一个 meeting。", 22050),
       ("xtts", "test1", "deu-eng", "xtts", 14, "Wir brauchen ein update.", 24000),
       ("mms", "test", "deu-eng", "mms", 15, "Das ist ein test.", 16000)]


def make_csfleurs(root: Path) -> Path:
    by_meta = {}
    for sub, split, lang, spk, sid, text, sr in CSF:
        rel = f"audio/{lang}/{spk}_{sid}.wav"
        write_wav(root / sub / split / rel, 1.25, sr=sr)
        by_meta.setdefault((sub, split), []).append({"id": sid, "file_name": rel, "text": text, "duration": 1.25,
                                                     "fluency": 4.0, "language": lang, "speaker": spk})
    for (sub, split), rows in by_meta.items():
        with open(root / sub / split / "metadata.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (root / "README.md").write_text("cs-fleurs fixture\n")
    return root


def test_csfleurs_reads_only_the_subset_and_pairs_asked_for(tmp_path: Path, monkeypatch):
    hub = FakeHub(make_csfleurs(tmp_path / "remote"), monkeypatch)
    from espnet_cs_ext.data.csfleurs import prepare_csfleurs
    dirs = prepare_csfleurs("hf://byan/cs-fleurs", tmp_path / "out", subsets=["read"], pairs=["deu-eng"])
    assert hub.downloaded == ["read/test/metadata.jsonl", "read/test/audio/deu-eng/spk_a_11.wav",
                              "read/test/audio/deu-eng/spk_b_12.wav"]
    d = dirs["test_csfleurs_read_de-en"]
    assert list(dirs) == ["test_csfleurs_read_de-en"]
    assert read_table(d / "utt2spk") == {"csfleurs-de-en-spk_a-11-spk_a_11": "csfleurs-de-en-spk_a",
                                         "csfleurs-de-en-spk_b-12-spk_b_12": "csfleurs-de-en-spk_b"}
    assert read_table(d / "utt2orig_sr") == {"csfleurs-de-en-spk_a-11-spk_a_11": "48000",
                                             "csfleurs-de-en-spk_b-12-spk_b_12": "16000"}
    assert read_table(d / "utt2dur") == {"csfleurs-de-en-spk_a-11-spk_a_11": "1.250",
                                         "csfleurs-de-en-spk_b-12-spk_b_12": "1.250"}
    wavs = read_table(d / "wav.scp")
    for u, p in wavs.items():
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.duration == pytest.approx(1.25, abs=1e-3)
    # the 48 kHz file was resampled under OUT; the 16 kHz one is referenced in place
    assert Path(wavs["csfleurs-de-en-spk_a-11-spk_a_11"]).is_relative_to((tmp_path / "out").resolve())
    assert Path(wavs["csfleurs-de-en-spk_b-12-spk_b_12"]).is_relative_to((tmp_path / "remote").resolve())
    info = json.loads((d / "info.json").read_text())
    assert (info["revision"], info["commit"], info["orig_sample_rates"]) == ("main", COMMIT, [16000, 48000])


def test_csfleurs_local_tree_reads_the_same_files(tmp_path: Path):
    from espnet_cs_ext.data import csfleurs
    from espnet_cs_ext.data.hub import LocalFiles
    root = make_csfleurs(tmp_path / "cs-fleurs")
    seen = []
    real = LocalFiles.get_many

    def spy(self, paths):
        paths = list(paths)
        seen.extend(paths)
        return real(self, paths)
    mp = pytest.MonkeyPatch()
    mp.setattr(LocalFiles, "get_many", spy)
    try:
        dirs = csfleurs.prepare_csfleurs(root, tmp_path / "out", subsets=["read"], pairs=["cmn-eng"])
    finally:
        mp.undo()
    assert seen == ["read/test/metadata.jsonl", "read/test/audio/cmn-eng/spk_c_13.wav"]
    assert read_table(dirs["test_csfleurs_read_zh-en"] / "text") == {
        "csfleurs-zh-en-spk_c-13-spk_c_13": "我们明天有一个 meeting。"}


def test_csfleurs_missing_pair_lists_what_the_subset_has(tmp_path: Path, capsys):
    from espnet_cs_ext.bin.cs_prepare import main as prepare
    root = make_csfleurs(tmp_path / "cs-fleurs")
    assert prepare(["csfleurs", str(root), "--out", str(tmp_path / "out"), "--pairs", "kor-eng,deu-eng"]) == 2
    assert capsys.readouterr().err == ("cs-prepare: error: csfleurs: subset 'read' has no pair(s) kor-eng (ko-en); "
                                       "it has: deu-eng (de-en), cmn-eng (zh-en)\n")
    assert not (tmp_path / "out").exists()


def test_csfleurs_missing_pair_message(tmp_path: Path):
    from espnet_cs_ext.data.csfleurs import prepare_csfleurs
    with pytest.raises(CsExtError, match="subset 'xtts' has no pair\\(s\\) cmn-eng \\(zh-en\\); it has: deu-eng \\(de-en\\)$"):
        prepare_csfleurs(make_csfleurs(tmp_path / "c"), tmp_path / "out", subsets=["xtts"], pairs=["cmn-eng"])


# ------------------------------------------------------------------ ko-ja (the Hub's parquet export)
def make_koja_export(root: Path) -> Path:
    rows = [{"audio": {"bytes": wav_bytes(1.0, sr=44100), "path": f"{i}.wav"}, "text": t}
            for i, t in enumerate(["昨日 회의에서 会議の資料を見ました。", "이 ラーメン 진짜 맛있어요."])]
    write_parquet(root / "default" / "train" / "0000.parquet", rows)
    return root


def test_koja_reads_the_parquet_export_at_its_revision(tmp_path: Path, monkeypatch):
    hub = FakeHub(make_koja_export(tmp_path / "remote"), monkeypatch)
    from espnet_cs_ext.data.koja import prepare_koja
    d = prepare_koja("hf://thetaone-ai/Korean-Japanese-Code-Switching-Speech", tmp_path / "out")["test_koja"]
    assert hub.calls[0] == ("dataset_info", "thetaone-ai/Korean-Japanese-Code-Switching-Speech", "refs/convert/parquet")
    assert hub.downloaded == ["default/train/0000.parquet"]
    assert read_table(d / "text") == {"koja-00000": "昨日 회의에서 会議の資料を見ました。", "koja-00001": "이 ラーメン 진짜 맛있어요."}
    assert read_table(d / "utt2lang") == {"koja-00000": "ja", "koja-00001": "ko"}
    info = json.loads((d / "info.json").read_text())
    assert (info["revision"], info["commit"]) == ("refs/convert/parquet", COMMIT)


def test_koja_wrong_columns_lists_found_and_expected(tmp_path: Path):
    from espnet_cs_ext.data.koja import prepare_koja
    write_parquet(tmp_path / "k" / "default" / "train" / "0000.parquet",
                  [{"audio": {"bytes": wav_bytes(), "path": "a.wav"}, "utterance": "x", "gender": "f"}])
    with pytest.raises(CsExtError, match="koja \\(.*default/train\\): no transcript column \\(looked for text, "
                                         "transcription, transcript, sentence, label; found audio, utterance, gender\\)"):
        prepare_koja(tmp_path / "k", tmp_path / "out")


def test_results_environment_names_the_hub_commit(tmp_path: Path, monkeypatch):
    """RESULTS.md's environment lists the commit each hub test set was read at (through pair-sets aliases)."""
    FakeHub(make_hike(tmp_path / "remote"), monkeypatch)
    from espnet_cs_ext.data.hike import prepare_hike
    from espnet_cs_ext.data.pairsets import make_pair_sets
    from espnet_cs_ext.recipe.report import data_revisions
    prepare_hike("hf://thetaone-ai/HiKE", tmp_path / "data")
    make_pair_sets(tmp_path / "data")
    assert data_revisions(tmp_path / "data", ["test_ko-en", "test_hike", "test_none"]) == \
        f"test_ko-en: thetaone-ai/HiKE@{COMMIT}, test_hike: thetaone-ai/HiKE@{COMMIT}"
