"""CoVoST 2 preparation on a fake layout with real mp3 clips: tables, audio, bad rows, CLI."""
from __future__ import annotations

import json

import pytest
import soundfile as sf

from espnet_cs_ext.bin.cs_prepare import main as cs_prepare
from espnet_cs_ext.data.covost2 import prepare_covost2, sox_formats
from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.utils.kaldi import read_table
from st_helpers import ROWS, write_clip, write_tsv

SPK_A = "covost2-de-en-" + "a1" * 8
UTT = f"{SPK_A}-common_voice_de_101"


def test_st_dirs_from_mp3(covost, tmp_path):
    out = tmp_path / "data"
    dirs = prepare_covost2(covost, out, ["de"], progress=False)
    assert sorted(dirs) == ["dev_st_de-en", "test_st_de-en", "train_st_de-en"]
    tr = out / "train_st_de-en"
    text, src = read_table(tr / "text"), read_table(tr / "text.src")
    assert text[UTT] == "Good morning, everyone." and src[UTT] == "Guten Morgen zusammen."
    assert read_table(tr / "utt2spk") == {UTT: SPK_A, f"{SPK_A}-common_voice_de_102": SPK_A,
                                          "covost2-de-en-" + "b2" * 8 + "-common_voice_de_103": "covost2-de-en-" + "b2" * 8}
    assert set(read_table(tr / "utt2lang").values()) == {"de"}
    assert set(read_table(tr / "utt2task").values()) == {"translate"}
    assert (tr / "task").read_text() == "translate\n"
    assert set(read_table(tr / "utt2category").values()) == {"de-en"}
    # quotes in the unquoted tsv survive verbatim
    assert 'Where is the "station"?' in read_table(out / "test_st_de-en" / "text").values()
    wav = read_table(tr / "wav.scp")[UTT]
    info = sf.info(wav)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
    src_dur = sf.info(covost / "clips" / "common_voice_de_101.mp3").duration
    assert abs(info.duration - src_dur) < 0.06  # resampled, not cut (mp3 codec delay aside)
    assert float(read_table(tr / "utt2dur")[UTT]) == pytest.approx(info.duration, abs=1e-3)
    assert not (out / "covost2_report.txt").exists()
    meta = json.loads((tr / "info.json").read_text())
    assert meta["task"] == "translate" and meta["dropped"] == 0


def test_resume_keeps_converted_audio_and_asr_view(covost, tmp_path):
    out = tmp_path / "data"
    prepare_covost2(covost, out, ["de"], splits=["test"], progress=False)
    wav = out / "audio" / "covost2_de" / "common_voice_de_301.wav"
    before = wav.stat().st_mtime_ns
    dirs = prepare_covost2(covost, out, ["de"], splits=["test"], tasks=["st", "asr"], progress=False)
    assert wav.stat().st_mtime_ns == before  # not converted again
    assert sorted(dirs) == ["test_mono_de", "test_st_de-en"]
    asr = out / "test_mono_de"
    assert sorted(read_table(asr / "text").values()) == ["Der Kaffee ist kalt.", "Wo ist der Bahnhof?"]
    assert set(read_table(asr / "utt2task").values()) == {"transcribe"}
    # same recordings, ids that do not clash when ASR and ST sets are pooled
    assert set(read_table(asr / "wav.scp").values()) == set(read_table(out / "test_st_de-en" / "wav.scp").values())
    assert not set(read_table(asr / "text")) & set(read_table(out / "test_st_de-en" / "text"))


def _break(covost):
    """Two missing clips and one empty translation in train; one more missing clip in test."""
    rows = list(ROWS["train"]) + [("common_voice_de_104", "Hallo.", "Hello.", "e5" * 32),
                                  ("common_voice_de_105", "Tschüss.", "Bye.", "e5" * 32),
                                  ("common_voice_de_106", "Ja.", "  ", "e5" * 32)]
    write_clip(covost / "clips" / "common_voice_de_106.mp3", "Ja.")
    write_tsv(covost / "covost_v2.de_en.train.tsv", rows)
    write_tsv(covost / "covost_v2.de_en.test.tsv", ROWS["test"] + [("common_voice_de_399", "Nein.", "No.", "f6" * 32)])


def test_bad_rows_are_an_error_naming_every_kind_and_id(covost, tmp_path):
    _break(covost)
    out = tmp_path / "data"
    with pytest.raises(CsExtError) as e:
        prepare_covost2(covost, out, ["de"], progress=False)
    msg = str(e.value)
    assert "4 bad row(s)" in msg
    assert "missing-audio 3 (common_voice_de_104, common_voice_de_105, common_voice_de_399)" in msg
    assert "empty-translation 1 (common_voice_de_106)" in msg and "--drop-bad" in msg
    assert not (out / "train_st_de-en").exists()  # nothing half-written
    report = (out / "covost2_report.txt").read_text().splitlines()
    assert report[2:] == ["missing-audio\tcommon_voice_de_104\tcovost_v2.de_en.train.tsv:5",
                          "missing-audio\tcommon_voice_de_105\tcovost_v2.de_en.train.tsv:6",
                          "empty-translation\tcommon_voice_de_106\tcovost_v2.de_en.train.tsv:7",
                          "missing-audio\tcommon_voice_de_399\tcovost_v2.de_en.test.tsv:4"]


def test_drop_bad_drops_and_reports(covost, tmp_path, capsys):
    _break(covost)
    out = tmp_path / "data"
    rc = cs_prepare(["covost2", str(covost), "--src-langs", "de", "--out", str(out), "--drop-bad", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "dropped (--drop-bad): missing-audio 3 (" in printed and "empty-translation 1 (common_voice_de_106)" in printed
    assert len(read_table(out / "train_st_de-en" / "text")) == 3
    assert len(read_table(out / "test_st_de-en" / "text")) == 2
    meta = json.loads((out / "train_st_de-en" / "info.json").read_text())
    assert meta["dropped"] == 3 and meta["dropped_ids"] == ["common_voice_de_104", "common_voice_de_105",
                                                            "common_voice_de_106"]
    assert (out / "covost2_report.txt").read_text().startswith("# 4 problem(s); dropped")


def test_undecodable_clip_is_reported_by_id(covost, tmp_path):
    (covost / "clips" / "common_voice_de_201.mp3").write_bytes(b"not an mp3 at all" * 10)
    with pytest.raises(CsExtError, match=r"1 clip\(s\) do not decode: unreadable 1 \(common_voice_de_201\)"):
        prepare_covost2(covost, tmp_path / "data", ["de"], progress=False)


@pytest.mark.parametrize("argv, message", [
    (["--src-langs", "en"], "'en' as a source language"),
    (["--src-langs", "fr"], "no .*covost_v2.fr_en.train.tsv"),
    (["--src-langs", "de", "--tasks", "mt"], "tasks among st,asr"),
])
def test_cli_errors_are_one_line(covost, tmp_path, capsys, argv, message):
    rc = cs_prepare(["covost2", str(covost), "--out", str(tmp_path / "o"), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    import re
    assert re.search(message, err), err


def test_missing_column_names_the_file(covost, tmp_path):
    (covost / "covost_v2.de_en.dev.tsv").write_text("path\tsentence\nx.mp3\tHallo\n", encoding="utf-8")
    with pytest.raises(CsExtError, match=r"covost_v2.de_en.dev.tsv: no column\(s\) translation"):
        prepare_covost2(covost, tmp_path / "data", ["de"], progress=False)


def test_release_tsv_with_split_column_wav_clips_and_pipes(tmp_path):
    """The combined release tsv (split column), per-language clips dir, wav clips, sox pipes."""
    cv = tmp_path / "cv"
    rows = [(s, a, b, c, split) for split, rs in ROWS.items() for s, a, b, c in rs]
    for stem, s, *_ in rows:
        write_clip(cv / "de" / "clips" / f"{stem}.wav", s, fmt="wav")
    with open(cv / "covost_v2.de_en.tsv", "w", encoding="utf-8") as f:
        f.write("path\tsentence\ttranslation\tsplit\n")
        for stem, s, t, _, split in rows:
            f.write(f"{stem}.wav\t{s}\t{t}\t{split}\n")
    out = tmp_path / "data"
    assert "wav" in sox_formats()
    prepare_covost2(cv, out, ["de"], splits=["dev", "test"], audio="pipe", progress=False)
    scp = read_table(out / "test_st_de-en" / "wav.scp")
    assert len(scp) == 2 and all(v.startswith("sox ") and v.endswith("-t wav -r 16000 -c 1 -b 16 - |")
                                 for v in scp.values())
    from espnet_cs_ext.data.audio import read_audio
    x, sr = read_audio(next(iter(scp.values())))
    assert sr == 16000 and x.shape[1] == 1 and len(x) > 8000
    # no client_id column: each utterance is its own speaker
    u2s = read_table(out / "dev_st_de-en" / "utt2spk")
    assert u2s == {"covost2-de-en-common_voice_de_201": "covost2-de-en-common_voice_de_201"}


def test_max_utts_is_a_seeded_subset(covost, tmp_path):
    a = prepare_covost2(covost, tmp_path / "a", ["de"], splits=["train"], max_utts=2, seed=5, progress=False)
    b = prepare_covost2(covost, tmp_path / "b", ["de"], splits=["train"], max_utts=2, seed=5, progress=False)
    ta, tb = read_table(a["train_st_de-en"] / "text"), read_table(b["train_st_de-en"] / "text")
    assert len(ta) == 2 and ta == tb


def test_validate_copy_keeps_the_st_tables(covost, tmp_path):
    """The recipe validates every raw dir into a formatted copy: text.src and task must survive it."""
    prepare_covost2(covost, tmp_path / "raw", ["de"], splits=["test"], progress=False)
    from espnet_cs_ext.data.validate import format_data_dir
    format_data_dir(tmp_path / "raw" / "test_st_de-en", tmp_path / "test_st_de-en")
    for name in ("text", "text.src", "utt2task", "utt2lang", "task"):
        assert (tmp_path / "test_st_de-en" / name).read_text() == (tmp_path / "raw" / "test_st_de-en" / name).read_text()
