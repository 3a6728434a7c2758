"""The generated Findings: each paper claim judged from hand-made per-utterance counts (table tests)."""
from __future__ import annotations

import pytest

from espnet_cs_ext.recipe import findings as F
from espnet_cs_ext.recipe.stats import ReportStats

N = 20  # utterances per set, 5 reference tokens each
LEVEL = {"perfect": 0, "good": 1, "poor": 3}
SEEN, UNSEEN = ["ko-en", "ja-en"], ["ko-ja"]


def stats(table):
    """table: {system: {set: level or list of per-utterance errors}} -> ReportStats on N utterances."""
    counts, points, heads = {}, {}, {}
    for system, sets in table.items():
        for name, level in sets.items():
            err = [LEVEL[level]] * N if isinstance(level, str) else list(level)
            counts.setdefault(system, {})[name] = ([f"{name}_{i}" for i in range(N)], err, [5] * N)
            points.setdefault(system, {})[name] = sum(err) / (5 * N)
            heads.setdefault(system, {})[name] = ("corpus_mer", False)
    return ReportStats(points, counts, heads)


def everywhere(level):
    return {x: level for x in SEEN + UNSEEN}


# (systems -> levels, expected verdict)
FISHR = [
    ({"ft_all": everywhere("poor"), "dg_fishr": everywhere("perfect")}, F.SUPPORTED),
    ({"ft_all": everywhere("perfect"), "dg_fishr": everywhere("poor")}, F.CONTRADICTED),
    ({"ft_all": everywhere("good"), "dg_fishr": everywhere("good")}, F.CANNOT_TELL),
    # better on the seen pairs only: the claim is about the unseen ones
    ({"ft_all": everywhere("poor"), "dg_fishr": {"ko-en": "perfect", "ja-en": "perfect", "ko-ja": "poor"}},
     F.CANNOT_TELL),
    ({"ft_all": everywhere("poor")}, F.CANNOT_TELL),  # no Fishr in the run
    # one flipped utterance out of 20 is noise, not a finding
    ({"ft_all": everywhere("good"), "dg_fishr": {**everywhere("good"), "ko-ja": [0] + [1] * (N - 1)}},
     F.CANNOT_TELL),
]


@pytest.mark.parametrize("table, verdict", FISHR)
def test_fishr_vs_erm_on_unseen(table, verdict):
    f = F.fishr_beats_erm_unseen(stats(table), list(table), UNSEEN)
    assert f.verdict == verdict, f


FT = [
    ({"pretrained": everywhere("poor"), "ft_ko-en": everywhere("perfect")}, F.SUPPORTED),
    ({"pretrained": everywhere("perfect"), "ft_ko-en": everywhere("poor")}, F.CONTRADICTED),
    # helps only its own pair: no help elsewhere
    ({"pretrained": everywhere("good"), "ft_ko-en": {**everywhere("good"), "ko-en": "perfect"}}, F.CANNOT_TELL),
    ({"ft_ko-en": everywhere("perfect")}, F.CANNOT_TELL),  # no Pretrained
]


@pytest.mark.parametrize("table, verdict", FT)
def test_fine_tuning_on_one_pair_helps_others(table, verdict):
    f = F.ft_helps_other_pairs(stats(table), list(table), SEEN + UNSEEN)
    assert f.verdict == verdict, f


TIES = [
    ({"ties_ko-en+ja-en": everywhere("good"), "task_arithmetic_ko-en+ja-en": everywhere("poor")}, F.SUPPORTED),
    ({"ties_ko-en+ja-en": everywhere("poor"), "task_arithmetic_ko-en+ja-en": everywhere("good")}, F.CONTRADICTED),
    # stability is about the worst setting: TIES never collapses, TA does once
    ({"ties_a": everywhere("good"), "ties_b": everywhere("good"),
      "task_arithmetic_a": everywhere("perfect"), "task_arithmetic_b": everywhere("poor")}, F.SUPPORTED),
    # better than one method, worse than another
    ({"ties_a": everywhere("good"), "task_arithmetic_a": everywhere("poor"), "dare_ties_a": everywhere("perfect")},
     F.CONTRADICTED),
    ({"ties_a": everywhere("good"), "task_arithmetic_b": everywhere("poor")}, F.CANNOT_TELL),  # no shared inputs
    ({"ties_a": everywhere("good"), "ties_mavlayers_a": everywhere("poor")}, F.CANNOT_TELL),  # a variant, not a method
]


@pytest.mark.parametrize("table, verdict", TIES)
def test_ties_is_the_most_stable_merge(table, verdict):
    f = F.ties_most_stable(stats(table), list(table), SEEN + UNSEEN)
    assert f.verdict == verdict, f


def _mav(path, trend):
    """4 layers x 2 parts x 3 models; rows_above grows with the layer ('up'), shrinks ('down') or not."""
    lines = ["model\tpart\tlayer\tmatrix\trows\trows_above\tpct_above\tmean_mav"]
    for i, model in enumerate(["ft_a", "ft_b", "ft_c"]):
        for part in ("encoder", "decoder"):
            for layer in range(4):
                above = {"up": 10 * layer, "down": 10 * (3 - layer), "flat": 5,
                         "mixed": 10 * layer if i % 2 else 10 * (3 - layer)}[trend]
                lines.append(f"{model}\t{part}\t{layer}\tfc1\t100\t{above}\t{above}\t0.1")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("trend, verdict", [
    ("up", F.SUPPORTED),        # 6 of 6 cells: sign test p = 0.031
    ("down", F.CONTRADICTED),
    ("flat", F.CANNOT_TELL),    # all ties
    ("mixed", F.CANNOT_TELL),   # 2 up, 4 down
])
def test_mav_concentrated_in_higher_layers(tmp_path, trend, verdict):
    assert F.mav_higher_layers(_mav(tmp_path / "mav.tsv", trend)).verdict == verdict


def test_mav_without_stage_9_cannot_tell(tmp_path):
    f = F.mav_higher_layers(tmp_path / "absent.tsv")
    assert f.verdict == F.CANNOT_TELL and "stage 9" in f.evidence


@pytest.mark.parametrize("up, down, p", [(6, 0, 2 / 64), (5, 0, 2 / 32), (3, 3, 1.0), (0, 0, 1.0), (9, 1, 22 / 1024)])
def test_sign_test(up, down, p):
    assert F.sign_test_p(up, down) == pytest.approx(p)
