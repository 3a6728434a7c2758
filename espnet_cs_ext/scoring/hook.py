"""MER from inside ESPnet-side code: an inference script or a validation callback.

    from espnet_cs_ext.scoring import MerReporter
    rep = MerReporter("default")
    for batch in loader:
        rep.update(ref_texts, hyp_texts)             # decoded strings
        # or rep.update_ids(ref_ids, hyp_ids, decode) # token ids + your id->text function
    stats = rep.compute()   # {"mer": ..., "corpus_mer": ..., "mean_utt_mer": ..., "sub": ...}
    rep.reset()

With ESPnet's converter and tokenizer (e.g. in an inference script or a
validation hook that has `ys_pad` and predicted ids):

    decode = lambda ids: tokenizer.tokens2text(converter.ids2tokens(ids))
    rep.update_ids(ys_pad, pred_ids, decode)   # -1 padding dropped

`compute()` returns plain floats/ints (rates as fractions), ready for
`reporter.register(...)`, a logger or a JSON line. No torch import here; token
ids may be lists or tensors (anything iterable of ints).
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

from .mer import MerAccumulator
from .presets import Preset

_KEYS = ("mer", "corpus_mer", "mean_utt_mer", "num_utts", "num_ref_tokens", "corr", "sub", "del", "ins",
         "err", "sentence_errors")


class MerReporter:
    """Accumulate MER over batches of decoded texts; `compute()` gives the flat figures."""

    def __init__(self, preset: "str | Preset" = "default") -> None:
        self.preset = preset
        self.reset()

    def reset(self) -> None:
        self._acc = MerAccumulator(self.preset, keep_utts=False)

    def update(self, refs: Sequence[str], hyps: Sequence[str]) -> None:
        self._acc.add_many(list(refs), list(hyps))

    def update_ids(self, ref_ids: Iterable[Iterable[int]], hyp_ids: Iterable[Iterable[int]],
                   decode: Callable[[list], str], ignore_below: Optional[int] = 0) -> None:
        """Decode token id sequences with `decode(ids) -> str`, then score them.

        Ids below `ignore_below` (ESPnet pads targets with -1) are dropped first;
        pass None to keep every id.
        """
        def clean(seq):
            ids = [int(i) for i in seq]
            return ids if ignore_below is None else [i for i in ids if i >= ignore_below]
        self.update([decode(clean(r)) for r in ref_ids], [decode(clean(h)) for h in hyp_ids])

    def compute(self) -> dict:
        s = self._acc.summary()
        out = {k: s[k] for k in _KEYS}
        out["per_script_mer"] = {k: v["mer"] for k, v in s["per_script"].items()}
        return out


def compute_mer(refs: Sequence[str], hyps: Sequence[str], preset: "str | Preset" = "default") -> dict:
    """One-shot `MerReporter(preset).update(refs, hyps).compute()`."""
    rep = MerReporter(preset)
    rep.update(refs, hyps)
    return rep.compute()
