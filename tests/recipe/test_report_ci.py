"""RESULTS.md from hand-made score files: intervals in every MER cell, marks, Findings, Environments."""
from __future__ import annotations

import json
import re

import pytest

from espnet_cs_ext.recipe.report import write_report
from espnet_cs_ext.scoring import score_files
from espnet_cs_ext.utils.errors import CsExtError

SEEN, UNSEEN = ["ko-en", "ja-en"], ["ko-ja"]
N = 12
# per system: how many of each set's N utterances get one of their 4 words wrong
WRONG = {"pretrained": N, "ft_ko-en": 6, "ft_all": 6, "dg_fishr": 0,
         "ties_ko-en+ja-en": 3, "task_arithmetic_ko-en+ja-en": 9}


def _scored(tmp_path, pairs, wrong_by_system):
    """data/test_<pair>/text (N utterances of 4 words) and each system's scored hypotheses,
    the first `wrong` utterances with their last word wrong."""
    data, expdir = tmp_path / "data", tmp_path / "exp"
    for pair in pairs:
        (data / f"test_{pair}").mkdir(parents=True)
        refs = [f"{pair}_{i:02d} w{i} x{i} y{i} z{i}" for i in range(N)]
        (data / f"test_{pair}" / "text").write_text("\n".join(refs) + "\n")
        for system, wrong in wrong_by_system.items():
            d = expdir / "decode" / system / f"test_{pair}"
            d.mkdir(parents=True)
            hyps = [r if i >= wrong else r.rsplit(" ", 1)[0] + " bad" for i, r in enumerate(refs)]
            (d / "text").write_text("\n".join(hyps) + "\n")
            score_files(data / f"test_{pair}" / "text", d / "text", d / "score")
    return data, expdir


@pytest.fixture
def exp(tmp_path):
    data, expdir = _scored(tmp_path, SEEN + UNSEEN, WRONG)
    return tmp_path, data, expdir


def _report(tmp_path, data, expdir):
    out = write_report(expdir, data, list(WRONG), SEEN, SEEN + UNSEEN, tmp_path / "RESULTS.md", "tiny")
    return out.read_text()


def _rows(text):
    table = text.split("## Mixed Error Rate")[1].split("\n\n![")[0]
    rows = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| System")]
    return {r.strip("|").split("|")[0].strip(): [c.strip() for c in r.strip("|").split("|")[1:]] for r in rows}


def test_cells_show_the_score_files_interval(exp):
    tmp, data, expdir = exp
    rows = _rows(_report(tmp, data, expdir))
    from espnet_cs_ext.recipe.report import display_name

    cell_re = re.compile(r"(\d\.\d{3}) \[(\d\.\d{2}), (\d\.\d{2})\]( ([↓↑][EP])+)?")
    for system in WRONG:
        cells = rows[display_name(system)]
        for pair, cell in zip(SEEN + UNSEEN, cells):
            res = json.loads((expdir / "decode" / system / f"test_{pair}" / "score" / "result.json").read_text())
            assert cell == f"{res['mer']:.3f} [{res['ci95'][0]:.2f}, {res['ci95'][1]:.2f}]"
        for cell in cells[3:5]:
            m = cell_re.fullmatch(cell)
            assert m, cell
            assert float(m[2]) <= float(m[1]) + 0.005 and float(m[1]) <= float(m[3]) + 0.005


def test_averages_carry_marks_against_pretrained_and_erm(exp):
    tmp, data, expdir = exp
    text = _report(tmp, data, expdir)
    rows = _rows(text)
    fishr_seen, fishr_unseen = rows["Fishr"][3:5]
    assert fishr_seen.endswith("↓P↓E") and fishr_unseen.endswith("↓P↓E")  # MER 0 vs 0.25 and 0.125
    assert "P" not in rows["Pretrained"][3]  # no mark against itself
    assert rows["Pretrained"][3].endswith("↑E")
    assert rows["FT ko-en"][4].endswith("] ↓P")  # same errors as ERM (no E mark), better than Pretrained
    assert "`↓X` MER lower" in text and "`P`: Pretrained" in text and "`E`: FT all seen pairs (ERM)" in text


def test_findings_environments_and_plot(exp):
    tmp, data, expdir = exp
    text = _report(tmp, data, expdir)
    section = text.split("## Findings")[1].split("\n## ")[0]
    verdicts = dict(re.findall(r"^\| (.+?) \| \*\*(.+?)\*\* \|", section, re.M))
    assert len(verdicts) == 4
    assert verdicts["Fishr improves the unseen pairs over ERM (FT all seen pairs)"] == "supported"
    assert verdicts["Fine-tuning on one pair also helps the other code-switched pairs (vs Pretrained)"] == "supported"
    assert verdicts[next(k for k in verdicts if k.startswith("TIES"))] == "supported"
    assert verdicts[next(k for k in verdicts if k.startswith("Parameter change"))] == "cannot tell"  # no stage 9
    env = text.split("## Environments")[1].split("\n## ")[0]
    for key in ("- date: `", "- python version: `3.", "- pytorch version: `torch ", "- espnet version: `espnet ",
                "- whisper version: `openai-whisper ", "- ctranslate2 version: `ctranslate2 ", "- Git hash: `"):
        assert key in env, key
    assert (tmp / "RESULTS_seen_unseen.png").stat().st_size > 1000
    again = _report(tmp, data, expdir)
    body = lambda t: [l for l in t.splitlines() if not l.startswith("- date")]  # noqa: E731
    assert body(again) == body(text)  # same score files, same report


def test_score_files_without_intervals_are_refused(exp):
    tmp, data, expdir = exp
    f = expdir / "decode" / "ft_all" / "test_ko-ja" / "score" / "result.json"
    res = json.loads(f.read_text())
    del res["ci95"]
    f.write_text(json.dumps(res))
    with pytest.raises(CsExtError, match="ft_all/test_ko-ja/score/result.json has no 'ci95'"):
        _report(tmp, data, expdir)
    assert not (tmp / "RESULTS.md").exists()


def test_systems_scored_on_other_utterances_are_refused(exp):
    tmp, data, expdir = exp
    tsv = expdir / "decode" / "dg_fishr" / "test_ko-en" / "score" / "per_utt.tsv"
    tsv.write_text(tsv.read_text().replace("ko-en_03", "ko-en_99"))
    with pytest.raises(CsExtError, match="test_ko-en: dg_fishr was scored on other utterances"):
        _report(tmp, data, expdir)


def test_pairs_with_an_unseen_language_get_their_own_columns_and_average(tmp_path):
    """de is in no training pair: de-en and ko-de form the third group, ko-ja stays 'unseen'."""
    wrong = {"pretrained": 8, "ft_all": 2}
    pairs = SEEN + ["ko-ja", "de-en", "ko-de"]
    data, expdir = _scored(tmp_path, pairs, wrong)
    text = write_report(expdir, data, list(wrong), SEEN, pairs, tmp_path / "RESULTS.md", "tiny").read_text()
    header = next(r for r in text.splitlines() if r.startswith("| System"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "System", "ko-en", "ja-en", "ko-ja", "de-en", "ko-de", "Seen avg", "Unseen avg", "Unseen-language avg"]
    cells = _rows(text)["FT all seen pairs (ERM)"]
    # 2 of 12 utterances with 1 of their 4 words wrong: 0.042 everywhere; Pretrained 8 of 12: 0.167
    assert all(c.startswith("0.042 [") for c in cells[:8]), cells
    assert cells[7].endswith("↓P") and _rows(text)["Pretrained"][7].startswith("0.167 [")
    assert "with a language no training pair has: de-en, ko-de" in text
    assert "### test_ko-de" in text


@pytest.mark.parametrize("languages, train, want", [
    ("en ko ja de", "ko-en ja-en", "ko-en ja-en de-en ko-ja ko-de ja-de"),
    ("", "ko-en ja-en de-en", "ko-en ja-en de-en ko-ja ko-de ja-de"),
    ("fr es en de", "ko-en", "ko-en fr-es fr-en fr-de es-en es-de de-en"),
    ("en ko", "en-ko", "en-ko"),                      # a training pair keeps its given name
    ("zz en aa", "", "zz-en aa-zz aa-en"),           # unknown codes: alphabetical, before en
])
def test_all_pairs_names_and_order(languages, train, want):
    from espnet_cs_ext.recipe.pairs import all_pairs, pair_groups

    got = all_pairs(languages.split(), train.split())
    assert got == want.split()
    seen, unseen, newlang = pair_groups(got, train.split())
    assert seen + unseen + newlang == sorted(got, key=(seen + unseen + newlang).index)
    assert set(seen) == set(train.split())


def test_pair_groups_keep_names_that_are_not_language_pairs_with_the_unseen_ones():
    from espnet_cs_ext.recipe.pairs import pair_groups

    assert pair_groups(["ko-en", "csfleurs_read_de-en", "fr-en", "ko-ja"], ["ko-en", "ja-en"]) == (
        ["ko-en"], ["csfleurs_read_de-en", "ko-ja"], ["fr-en"])


def test_all_pairs_refuses_bad_pairs_and_one_language():
    from espnet_cs_ext.recipe.pairs import all_pairs

    with pytest.raises(CsExtError, match="two different language codes"):
        all_pairs([], ["koen"])
    with pytest.raises(CsExtError, match="at least two languages"):
        all_pairs(["en"], [])
