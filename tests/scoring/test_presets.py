"""The preset registry: names, custom presets, bad definitions."""
import pytest

from espnet_cs_ext.scoring import PRESETS, MerAccumulator, Preset, get_preset
from espnet_cs_ext.utils.errors import CsExtError


def test_registry_names_match_keys():
    assert set(PRESETS) == {"default", "hike", "hike_script", "none"}
    for name, p in PRESETS.items():
        assert p.name == name and p.description


def test_unknown_preset_lists_known_ones():
    with pytest.raises(CsExtError, match="known: default, hike"):
        get_preset("sclite")


def test_custom_preset_object():
    # default normalisation on both sides but HiKE's tokens and headline
    p = Preset("mine", "test", ref_norm="default", hyp_norm="default", tokenizer="hangul", headline="mean_utt")
    acc = MerAccumulator(p)
    acc.add("今日は 좋아", "今日は 좋아!")   # 今日は|좋|아 both sides
    s = acc.summary()
    assert s["mer"] == 0.0 and s["mer_is"] == "mean_utt_mer" and s["preset"]["name"] == "mine"


@pytest.mark.parametrize("field,value", [("ref_norm", "nfc"), ("tokenizer", "char"), ("headline", "median")])
def test_bad_preset_definition(field, value):
    kw = dict(ref_norm="default", hyp_norm="default", tokenizer="script", headline="corpus")
    kw[field] = value
    with pytest.raises(CsExtError, match=field):
        Preset("bad", "x", **kw)
