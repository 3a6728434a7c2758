"""Named scoring presets: which normaliser on each side, which tokenizer, which MER is the headline.

The registry key is the CLI value (`cs-score --preset hike`) and the value stored
in result.json. Add a preset by adding one `Preset` entry to `PRESETS`.

``hike`` reproduces HiKE's scoring (src/utils.py ``normalize_text`` on the
hypothesis, src/metrics/mer.py on both sides, ``np.mean`` of the per-utterance
MER in src/main.py); tests check it against that pipeline rebuilt from jiwer's
transforms, including HiKE's own worked example (41.18 %). Its mean is over
*all* utterances, as HiKE's ``np.mean``: an empty reference scores its
insertion count x 100 % there (what jiwer 4 returns), where the other presets
leave empty references out of the mean (and report them). HiKE's loanword step
(``replace_loanword``: the dataset's ``loanwords`` list substituted in both the
prediction and the reference before normalisation) is not a preset but an input:
``cs-score --preset hike --loanwords data/test_hike/utt2loanwords`` (see
`loanwords`); the recipe's stage 8 passes it when the test dir has one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List

from ..utils.errors import CsExtError
from .fused import pipeline
from .normalize import NORMALIZERS
from .tokenize import TOKENIZERS

HEADLINES = ("corpus", "mean_utt")


@dataclass(frozen=True)
class Preset:
    """One way of scoring. `ref_norm`/`hyp_norm` name `NORMALIZERS`, `tokenizer` names `TOKENIZERS`.

    `headline` says which figure result.txt/JSON calls "MER": ``corpus`` (errors summed
    over utterances / reference tokens) or ``mean_utt`` (mean of per-utterance MER).
    Both are always reported. `empty_refs_in_mean`: the mean includes utterances whose
    reference is empty, each scoring its insertion count (HiKE, jiwer 4); otherwise
    they are left out of it (their MER is undefined).
    """

    name: str
    description: str
    ref_norm: str
    hyp_norm: str
    tokenizer: str
    headline: str
    source: str = ""
    empty_refs_in_mean: bool = False

    def __post_init__(self) -> None:
        for field, value, known in (("ref_norm", self.ref_norm, NORMALIZERS), ("hyp_norm", self.hyp_norm, NORMALIZERS),
                                    ("tokenizer", self.tokenizer, TOKENIZERS), ("headline", self.headline, HEADLINES)):
            if value not in known:
                raise CsExtError(f"preset '{self.name}': {field} '{value}' is not one of {', '.join(known)}")

    @property
    def ref_normalizer(self) -> Callable[[str], str]:
        return NORMALIZERS[self.ref_norm]

    @property
    def hyp_normalizer(self) -> Callable[[str], str]:
        return NORMALIZERS[self.hyp_norm]

    @property
    def ref_pipeline(self) -> Callable[[str], List[str]]:
        """reference text -> tokens (a fused fast path where `fused.PIPELINES` has one)."""
        return pipeline(self.ref_norm, self.tokenizer)

    @property
    def hyp_pipeline(self) -> Callable[[str], List[str]]:
        return pipeline(self.hyp_norm, self.tokenizer)

    @property
    def tokenize(self) -> Callable[[str], List[str]]:
        return TOKENIZERS[self.tokenizer]

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "ref_norm": self.ref_norm,
                "hyp_norm": self.hyp_norm, "tokenizer": self.tokenizer, "headline": self.headline,
                "empty_refs_in_mean": self.empty_refs_in_mean, "source": self.source}


_HIKE_URL = "https://github.com/ThetaOne-AI/HiKE (src/utils.py normalize_text, src/metrics/mer.py)"

PRESETS: Dict[str, Preset] = {p.name: p for p in [
    Preset("default",
           "both sides: NFKC, casefold, contractions, Kaldi non-words, punctuation, whitespace; "
           "script tokens (Hangul/kana/Han/Thai/Lao/Khmer/Myanmar per character); corpus MER",
           ref_norm="default", hyp_norm="default", tokenizer="script", headline="corpus"),
    Preset("hike",
           "HiKE as published: hypothesis normalised (lowercase, contractions, Kaldi non-words, "
           "em dash, punctuation), reference used as given (HiKE ships it normalised); one token "
           "per Hangul syllable, whitespace words otherwise (kana/Han NOT split); mean of "
           "per-utterance MER over all utterances (an empty reference scores its insertions)",
           ref_norm="none", hyp_norm="hike_hyp", tokenizer="hangul", headline="mean_utt",
           source=_HIKE_URL, empty_refs_in_mean=True),
    Preset("hike_script",
           "HiKE's normalisation and mean-of-utterance MER, but script tokens (kana/Han per "
           "character, CS-FLEURS convention): for ja/zh pairs scored the HiKE way",
           ref_norm="none", hyp_norm="hike_hyp", tokenizer="script", headline="mean_utt",
           source=_HIKE_URL, empty_refs_in_mean=True),
    Preset("none",
           "no normalisation on either side; script tokens; corpus MER",
           ref_norm="none", hyp_norm="none", tokenizer="script", headline="corpus"),
]}


def get_preset(preset: "str | Preset") -> Preset:
    """Look a preset up by name (a `Preset` passes through); unknown names list the known ones."""
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise CsExtError(f"unknown scoring preset '{preset}' (known: {', '.join(PRESETS)})") from None
