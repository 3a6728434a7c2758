"""The LoRS-Merging grid (--lors_grid_langs) through the recipe on a tiny random Whisper.

Per-language ASR and ST fine-tunes, multi-lingual and multi-task pooled training, the
grid's merges (Tables 1-4 of arXiv 2502.17380) and RESULTS_lors.md, all from real
ESPnet training, cs-merge, the batched decoder and cs-score on synthetic speech.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1"


def test_grid_trains_merges_decodes_and_reports(tmp_path, tiny_whisper):
    cmd = ["./cs_unseen.sh", "--whisper_model", str(tiny_whisper), "--train_pairs", "ko-en",
           "--test_pairs", "ko-en", "--train_all", "false", "--utts_per_pair", "10",
           "--nj", "1", "--inference_nj", "1", "--train_jobs", "2", "--lors_grid_langs", "de ja",
           "--asr_config", "conf/tuning/test/train_tiny.yaml", "--st_config", "conf/tuning/test/train_tiny_st.yaml",
           "--merge_config", "conf/tuning/test/merge_none.yaml", "--inference_config", "conf/tuning/test/decode_tiny.yaml",
           "--datadir", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"),
           "--results", str(tmp_path / "RESULTS.md"), "--lors_results", str(tmp_path / "RESULTS_lors.md")]
    proc = subprocess.run(cmd, cwd=RECIPE, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, f"recipe failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    exp = tmp_path / "exp"
    for system in ("asr_de", "asr_ja", "st_de-en", "st_ja-en", "mlasr", "mlst", "mt_de", "mt_ja", "mlmt"):
        assert (exp / f"asr_{system}" / ".done").is_file(), system
    # pooled multi-task data keeps each utterance's own task in its prompt
    prompts = (tmp_path / "data" / "train_mt_de" / "prompt").read_text()
    assert "<|de|> <|transcribe|>" in prompts and "<|de|> <|translate|>" in prompts
    merges = [line.split()[0] for line in (exp / "merge" / "systems.txt").read_text().splitlines()]
    assert len(merges) == 26 and "lg1_lors" in merges and "lg4mltrain_task_arithmetic" in merges
    # grid models are decoded on the grid sets only, and are not rows of the main table
    assert not (exp / "decode" / "lg1_lors" / "test_ko-en").exists()
    assert "lg1_lors" not in (tmp_path / "RESULTS.md").read_text()
    report = (tmp_path / "RESULTS_lors.md").read_text()
    wer = json.loads((exp / "decode" / "lg1_lors" / "test_mono_de" / "score" / "result.json").read_text())["mer"]
    bleu = json.loads((exp / "decode" / "lg2_lors" / "test_st_ja-en" / "score" / "result.json").read_text())["bleu"]
    assert f"{100 * wer:.1f}" in report and f"{bleu:.1f}" in report
    for title in ("Table 1", "Table 2", "Table 3", "Table 4"):
        assert title in report
