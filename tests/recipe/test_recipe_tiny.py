"""The recipe end to end (stages 1-8) on a tiny random Whisper and a few synthetic utterances.

Real components throughout: the synthetic corpus (offline TTS audio), ESPnet training
through the plugin (fine-tuning and a DG trainer), cs-merge, the batched decoder and cs-score. Checks that
RESULTS.md has every system x test-set cell and that each number is the scorer's.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1"
TRAIN = "ko-en ja-en"
LANGUAGES = "en ko ja de"  # de is in no training pair: de-en, ko-de, ja-de are unseen-language pairs
TEST = "ko-en ja-en de-en ko-ja ko-de ja-de"  # what --languages makes (espnet_cs_ext/recipe/pairs.py)


def recipe(tmp: Path, whisper: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["./cs_unseen.sh", "--whisper_model", str(whisper), "--train_pairs", TRAIN,
           "--languages", LANGUAGES, "--utts_per_pair", "10", "--nj", "1", "--inference_nj", "1", "--train_jobs", "2",
           "--asr_config", "conf/tuning/test/train_tiny.yaml", "--asr_all_config", "conf/tuning/test/train_tiny.yaml",
           "--merge_config", "conf/tuning/test/merge_tiny.yaml", "--inference_config", "conf/tuning/test/decode_tiny.yaml",
           "--dg_algorithms", "fish", "--dg_config_dir", "conf/tuning/test/dg",
           "--st_pairs", "de-en", "--mono_langs", "en ko", "--st_config", "conf/tuning/test/train_tiny_st.yaml",
           "--asyncswitch", "true", "--asyncswitch_conf_dir", "conf/tuning/test/asyncswitch", "--asyncswitch_sweep", "true",
           "--datadir", str(tmp / "data"), "--expdir", str(tmp / "exp"),
           "--results", str(tmp / "RESULTS.md"), *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, f"recipe failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_whisper):
    tmp = tmp_path_factory.mktemp("recipe")
    proc = recipe(tmp, tiny_whisper)
    return tmp, proc


def systems(tmp: Path):
    merges = [line.split()[0] for line in (tmp / "exp" / "merge" / "systems.txt").read_text().splitlines()]
    return (["pretrained", "ft_ko-en", "ft_ja-en", "ft_all", "dg_fish", "st_de-en", "asyncswitch"]
            + [f"asyncswitch_r{r}" for r in ("0.2", "0.6", "0.8")] + merges)


def test_results_table_is_complete_and_read_from_score_files(finished):
    tmp, _ = finished
    text = (tmp / "RESULTS.md").read_text()
    names = systems(tmp)
    assert "ties_ko-en+ja-en" in names and "lors_all" in names and "lors_ja-en+st_de-en" in names
    assert "| Fish |" in text  # the DG system is a row like the paper's lower block
    table = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == ["System", "ko-en", "ja-en", "ko-ja", "de-en", "ko-de", "ja-de", "Seen avg", "Unseen avg",
                      "Unseen-language avg", "mono en", "mono ko", "Mono avg"]
    rows = {r.strip("|").split("|")[0].strip(): [c.strip() for c in r.strip("|").split("|")[1:]]
            for r in table[1:1 + len(names)]}
    assert len(rows) == len(names)
    from espnet_cs_ext.recipe.report import display_name

    for system in names:
        cells = rows[display_name(system)]
        for pair, cell in zip(header[1:7] + ["mono_en", "mono_ko"], cells[:6] + cells[9:11]):
            score = json.loads((tmp / "exp" / "decode" / system / f"test_{pair}" / "score" /
                                "result.json").read_text())
            assert re.fullmatch(r"\d+\.\d{3} \[\d+\.\d{2}, \d+\.\d{2}\]", cell), (system, pair, cell)
            assert cell == f"{score['mer']:.3f} [{score['ci95'][0]:.2f}, {score['ci95'][1]:.2f}]"
        seen = [float(c.split()[0]) for c in cells[:2]]
        avg = float(cells[6].split()[0])
        assert cells[6].startswith(f"{sum(seen) / 2:.3f} [") or abs(avg - sum(seen) / 2) < 1e-3
        new = [float(c.split()[0]) for c in cells[3:6]]
        assert abs(float(cells[8].split()[0]) - sum(new) / 3) < 1e-3  # the unseen-language average
    assert (tmp / "RESULTS_seen_unseen.png").stat().st_size > 1000


def test_translation_table_is_read_from_bleu_score_files(finished):
    tmp, proc = finished
    text = (tmp / "RESULTS.md").read_text()
    section = text.split("## Speech translation (X -> en)")[1].split("\n## ")[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith("| System")]
    from espnet_cs_ext.recipe.report import display_name

    assert len(rows) == len(systems(tmp))
    for system in systems(tmp):
        score = json.loads((tmp / "exp" / "decode" / system / "test_st_de-en" / "score" / "result.json").read_text())
        assert f"| {display_name(system)} | {score['bleu']:.1f} | {score['chrf']:.1f} |" in rows
        assert score["signature"]["bleu"].startswith("nrefs:1")
    assert all(r in proc.stdout for r in rows)  # stage 8 prints the BLEU table too
    # the ST set was decoded with the translate task token, the CS sets with transcribe
    import yaml

    st = yaml.safe_load((tmp / "exp" / "decode" / "st_de-en" / "test_st_de-en" / "split1" / "1" / "decode.yaml").read_text())
    cs = yaml.safe_load((tmp / "exp" / "decode" / "st_de-en" / "test_ko-en" / "split1" / "1" / "decode.yaml").read_text())
    assert st["settings"]["config"]["task"] == "translate" and cs["settings"]["config"]["task"] == "transcribe"
    assert "## AsyncSwitch interpolation ratio sweep" in text


def test_espnet_result_files_and_no_optimizer_state_left(finished):
    """ESPnet's show_asr_result.sh greps `Sum/Avg` in exp/*/*/score_wer/result.txt; trained
    systems keep their weights but not checkpoint.pth (--keep_checkpoints false)."""
    tmp, _ = finished
    for system in systems(tmp):
        for pair in TEST.split() + ["mono_en", "mono_ko"]:
            result = tmp / "exp" / "decode" / system / f"test_{pair}" / "score_wer" / "result.txt"
            assert any(line.startswith("| Sum/Avg") for line in result.read_text().splitlines()), result
    assert not list((tmp / "exp").rglob("checkpoint.pth"))
    for system in ("ft_ko-en", "dg_fish", "asyncswitch"):
        assert (tmp / "exp" / f"asr_{system}" / "latest.pth").is_file()
        assert (tmp / "exp" / f"asr_{system}" / "config.yaml").is_file()


def test_per_pair_shape_files_are_cut_from_the_pooled_stats(finished):
    tmp, proc = finished
    from espnet_cs_ext.utils.kaldi import read_table

    for pair in TRAIN.split():
        assert f"shape files of {tmp / 'data'}/train_{pair} cut from" in proc.stdout
        stats = tmp / "exp" / "stats" / f"train_{pair}_feats"
        assert not (stats / "stats.log").exists()  # no collect_stats run of its own
        for split, data in (("train", f"train_{pair}"), ("valid", f"dev_{pair}")):
            keys = list(read_table(tmp / "data" / data / "text"))
            assert list(read_table(stats / split / "speech_shape")) == keys
    assert (tmp / "exp" / "stats" / "train_all_feats" / "stats.log").is_file()


def test_every_test_utterance_decoded_once(finished):
    tmp, _ = finished
    from espnet_cs_ext.utils.kaldi import read_table

    for system in systems(tmp):
        for pair in TEST.split():
            ref = read_table(tmp / "data" / f"test_{pair}" / "text")
            hyp = read_table(tmp / "exp" / "decode" / system / f"test_{pair}" / "text")
            assert hyp.keys() == ref.keys()


def test_rerun_of_finished_stages_does_nothing(finished, tiny_whisper):
    tmp, _ = finished
    model = tmp / "exp" / "asr_ft_ko-en" / "latest.pth"
    before = model.stat().st_mtime_ns
    results = (tmp / "RESULTS.md").read_text()
    proc = recipe(tmp, tiny_whisper, "--stage", "5", "--stop_stage", "8")
    assert model.stat().st_mtime_ns == before
    assert "up to date" in proc.stdout and "rescored 0 of" in proc.stdout
    assert "asr_train" not in proc.stdout + proc.stderr.replace("asr_train.py", "")
    body = lambda t: [l for l in t.splitlines() if not l.startswith("- date")]  # noqa: E731
    assert body((tmp / "RESULTS.md").read_text()) == body(results)


def test_missing_test_set_stops_with_its_name(finished, tiny_whisper):
    tmp, _ = finished
    proc = subprocess.run(
        ["./cs_unseen.sh", "--stage", "7", "--stop_stage", "7", "--whisper_model", str(tiny_whisper),
         "--train_pairs", TRAIN, "--test_pairs", "ko-en zz-yy", "--datadir", str(tmp / "data"),
         "--expdir", str(tmp / "exp")], cwd=RECIPE, capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"data dir {tmp / 'data'}/test_zz-yy is missing" in proc.stderr


@pytest.mark.parametrize("test_sets, message", [
    # ESPnet's --test_sets names data dirs: test_<pair> is a pair, test_mono_<lang> a language
    ("test_ko-en test_zz-yy", "data dir {data}/test_zz-yy is missing"),
    ("test_ko-en test_mono_zz", "data dir {data}/test_mono_zz is missing"),
    ("test_ko-en dev_ko-en", "--test_sets: 'dev_ko-en' is neither test_<pair> (e.g. test_ko-ja) nor test_mono_<lang>"),
    ("test_st_de-en", "--test_sets test_st_de-en: speech-translation test sets come with --st_pairs de-en"),
])
def test_test_sets_are_mapped_or_refused(finished, tiny_whisper, tmp_path, test_sets, message):
    tmp, _ = finished
    proc = one_stage(7, tmp, tmp_path / "exp", tiny_whisper, "--test_sets", test_sets)
    assert proc.returncode != 0
    assert message.format(data=tmp / "data") in proc.stderr, proc.stderr


def test_stage9_mav_figures_are_linked_from_results(finished):
    tmp, _ = finished
    text = (tmp / "RESULTS.md").read_text()
    mav = tmp / "exp" / "mav"
    rows = (mav / "mav.tsv").read_text().splitlines()
    models = {r.split("\t")[0] for r in rows[1:]}
    assert models == {"ft_ko-en", "ft_ja-en", "ft_all", "dg_fish", "st_de-en", "asyncswitch"}
    links = re.findall(r"\]\(([^)]+\.png)\)", text)
    assert "exp/mav/mav_ft_ko-en.png" in links and "exp/mav/overlap.png" in links
    for link in links:
        assert (tmp / link).stat().st_size > 1000, link
    # the layer-selective merge is a system (blocks chosen by MAV at merge time)
    assert "| TIES all, MAV-selected layers |" in text


def one_stage(stage: int, tmp: Path, exp: Path, whisper: Path, *extra: str) -> subprocess.CompletedProcess:
    """Stage `stage` alone over the finished run's data, on the models copied into `exp`."""
    cmd = ["./cs_unseen.sh", "--stage", str(stage), "--stop_stage", str(stage), "--whisper_model", str(whisper),
           "--train_pairs", TRAIN, "--test_pairs", "ko-en", "--train_all", "false",
           "--merge_config", "conf/tuning/test/merge_tiny.yaml", "--inference_config", "conf/tuning/test/decode_tiny.yaml",
           "--inference_nj", "1", "--datadir", str(tmp / "data"), "--expdir", str(exp), *extra]
    return subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))


def copy_models(tmp: Path, exp: Path) -> None:
    for system in ("ft_ko-en", "ft_ja-en"):
        (exp / f"asr_{system}").mkdir(parents=True)
        shutil.copy(tmp / "exp" / f"asr_{system}" / "latest.pth", exp / f"asr_{system}" / "latest.pth")


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_bad_models_stop_merging_naming_them(finished, tiny_whisper, tmp_path):
    tmp, _ = finished
    exp = tmp_path / "exp"
    copy_models(tmp, exp)
    missing = exp / "asr_ft_ja-en" / "latest.pth"
    missing.unlink()
    proc = one_stage(6, tmp, exp, tiny_whisper)
    assert proc.returncode != 0
    assert f"merge ties_ko-en+ja-en needs {missing}, which does not exist; run stage 5" in proc.stderr
    # a corrupt (truncated) checkpoint: cs-merge refuses it, and the console says which file
    copy_models(tmp, tmp_path / "again")
    exp = tmp_path / "again"
    corrupt = exp / "asr_ft_ja-en" / "latest.pth"
    truncate(corrupt)
    proc = one_stage(6, tmp, exp, tiny_whisper)
    assert proc.returncode != 0
    assert "job(s) failed" in proc.stderr and str(corrupt) in proc.stderr, proc.stderr
    assert not list((exp / "merge").glob("*/model.pt")) and not list((exp / "merge").glob("*/.done"))
    # once the model is whole again, the stage merges (its inputs are in the fingerprint)
    shutil.copy(tmp / "exp" / "asr_ft_ja-en" / "latest.pth", corrupt)
    proc = one_stage(6, tmp, exp, tiny_whisper)
    assert proc.returncode == 0, proc.stderr
    merged = exp / "merge" / "ties_ko-en+ja-en" / "model.pt"
    before = merged.stat().st_mtime_ns
    # retraining an input (a new latest.pth) re-merges; an unchanged rerun does not
    assert "up to date" in one_stage(6, tmp, exp, tiny_whisper).stdout
    assert merged.stat().st_mtime_ns == before
    corrupt.write_bytes((tmp / "exp" / "asr_ft_ja-en" / "latest.pth").read_bytes())
    assert one_stage(6, tmp, exp, tiny_whisper).returncode == 0
    assert merged.stat().st_mtime_ns != before


def test_corrupt_model_stops_decoding_naming_it(finished, tiny_whisper, tmp_path):
    tmp, _ = finished
    exp = tmp_path / "exp"
    copy_models(tmp, exp)
    corrupt = exp / "asr_ft_ko-en" / "latest.pth"
    truncate(corrupt)
    proc = one_stage(7, tmp, exp, tiny_whisper)
    assert proc.returncode != 0
    assert "job(s) failed" in proc.stderr and str(corrupt) in proc.stderr, proc.stderr
    bad = exp / "decode" / "ft_ko-en" / "test_ko-en"
    assert not (bad / "text").exists() and not (bad / ".done").exists()  # nothing half-written
    # with the model whole again the stage finishes every model's hypotheses
    shutil.copy(tmp / "exp" / "asr_ft_ko-en" / "latest.pth", corrupt)
    proc = one_stage(7, tmp, exp, tiny_whisper)
    assert proc.returncode == 0, proc.stderr
    from espnet_cs_ext.utils.kaldi import read_table

    ref = read_table(tmp / "data" / "test_ko-en" / "text")
    for model in ("pretrained", "ft_ko-en", "ft_ja-en"):
        assert read_table(exp / "decode" / model / "test_ko-en" / "text").keys() == ref.keys()


def test_asr_args_reach_espnet_last_and_its_error_reaches_the_console(finished, tiny_whisper, tmp_path):
    tmp, _ = finished
    exp = tmp_path / "exp"
    shutil.copytree(tmp / "exp" / "stats", exp / "stats")  # shape files: up to date, no collect_stats
    proc = one_stage(5, tmp, exp, tiny_whisper, "--train_pairs", "ko-en", "--asr_args", "--no_such_option 1")
    assert proc.returncode != 0
    assert "unrecognized arguments: --no_such_option 1" in proc.stderr, proc.stderr
    command = (exp / "asr_ft_ko-en" / "train.log").read_text().splitlines()[0]
    assert command.endswith("--no_such_option 1")  # after the recipe's own options: it can override them
    assert not (exp / "asr_ft_ko-en" / "latest.pth").exists() and not (exp / "asr_ft_ko-en" / ".done").exists()


def test_parallel_training_finishes_the_others_and_names_the_failed_system(finished, tiny_whisper, tmp_path):
    """--train_jobs 2: ft_all has no config and fails at once; ft_ko-en, trained beside it,
    still finishes, and the stage fails naming ft_all (not a half-done stage that looks fine)."""
    tmp, _ = finished
    exp = tmp_path / "exp"
    shutil.copytree(tmp / "exp" / "stats", exp / "stats")
    proc = one_stage(5, tmp, exp, tiny_whisper, "--train_pairs", "ko-en", "--train_all", "true",
                     "--asr_config", "conf/tuning/test/train_tiny.yaml",
                     "--asr_all_config", str(tmp_path / "missing.yaml"), "--train_jobs", "2")
    assert proc.returncode != 0
    assert "training failed for ft_all" in proc.stderr and "no training config" in proc.stderr, proc.stderr
    assert (exp / "asr_ft_ko-en" / ".done").is_file() and (exp / "asr_ft_ko-en" / "latest.pth").is_file()
    assert not (exp / "asr_ft_all" / ".done").exists()
