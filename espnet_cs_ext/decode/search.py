"""Batched Whisper search with a key/value cache: encoder with padding masks, greedy, beam.

Runs on the modules of an openai-whisper `Whisper` (its weights, its layer norms and
linears) with attention written out here, because two things the stock forward lacks
are needed for batched decoding:

- padding masks. Fine-tuned models see unpadded log-mels (as ESPnet's `whisper_cs`
  encoder feeds them: conv -> positional_embedding[:T] -> blocks -> ln_post), so a batch
  of different lengths is zero-padded and the padding is masked out of the encoder's
  self-attention and the decoder's cross-attention; the conv1 output is zeroed past each
  length so conv2 sees exactly what a lone utterance sees. A batch decodes to the same
  tokens as its utterances one by one.
- an explicit cache that can be reordered. openai-whisper's `install_kv_cache_hooks`
  keeps keys/values in a dict filled by forward hooks and re-concatenates them each step;
  here each decoder layer has preallocated (rows, heads, positions, head_dim) buffers,
  written in place and gathered by row for beam search. Cross-attention keys/values are
  computed once per utterance (not per beam): the K beams of an utterance are attended as
  K query positions of one row.

Shapes: B utterances, K beams, N = B*K decoder rows (utterance-major), T mel frames,
T' = (T+1)//2 encoder frames, D model width, H heads, d = D/H, V vocabulary.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

NEG_INF = float("-inf")


def _heads(x: Tensor, n_head: int) -> Tensor:
    """(B, T, D) -> (B, H, T, d)"""
    b, t, d = x.shape
    return x.view(b, t, n_head, d // n_head).transpose(1, 2)


def _merge(x: Tensor) -> Tensor:
    """(B, H, T, d) -> (B, T, D)"""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def _key_mask(valid: Optional[Tensor]) -> Optional[Tensor]:
    return None if valid is None else valid[:, None, None, :]


@torch.no_grad()
def encode(model, mels: Tensor, lengths: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
    """mels (B, n_mels, T), lengths (B,) in frames -> (xa (B, T', D), valid (B, T') or None).

    `valid` is None when no utterance is padded (every length == T).
    """
    enc = model.encoder
    n_head = enc.blocks[0].attn.n_head
    t = mels.shape[-1]
    padded = bool((lengths < t).any())
    x = F.gelu(enc.conv1(mels))
    if padded:  # conv2 must see zeros past each utterance, as its own padding would be
        x = x * (torch.arange(t, device=x.device)[None, :] < lengths[:, None])[:, None, :].to(x.dtype)
    x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
    t2 = x.shape[1]
    if t2 > enc.positional_embedding.shape[0]:
        raise ValueError(f"{t} mel frames exceed the encoder's {2 * enc.positional_embedding.shape[0]}")
    x = x + enc.positional_embedding[:t2].to(x.dtype)
    valid = None
    if padded:
        valid = torch.arange(t2, device=x.device)[None, :] < ((lengths + 1) // 2)[:, None]
    mask = _key_mask(valid)
    for block in enc.blocks:
        h = block.attn_ln(x)
        q, k, v = (_heads(m(h), n_head) for m in (block.attn.query, block.attn.key, block.attn.value))
        x = x + block.attn.out(_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)))
        x = x + block.mlp(block.mlp_ln(x))
    return enc.ln_post(x), valid


@dataclasses.dataclass
class DecoderState:
    """Key/value cache of the text decoder for N = B*K rows (K rows per utterance)."""

    self_k: List[Tensor]          # per layer (N, H, L_max, d)
    self_v: List[Tensor]
    cross_k: List[Tensor]         # per layer (B, H, T', d)
    cross_v: List[Tensor]
    cross_valid: Optional[Tensor]  # (B, T') or None
    rows_per_utt: int
    length: int = 0

    @classmethod
    def start(cls, model, xa: Tensor, valid: Optional[Tensor], rows_per_utt: int, max_len: int) -> "DecoderState":
        dec = model.decoder
        n_head = dec.blocks[0].attn.n_head
        b, _, d_model = xa.shape
        n = b * rows_per_utt
        shape = (n, n_head, max_len, d_model // n_head)
        cross_k = [_heads(blk.cross_attn.key(xa), n_head) for blk in dec.blocks]
        cross_v = [_heads(blk.cross_attn.value(xa), n_head) for blk in dec.blocks]
        return cls([xa.new_zeros(shape) for _ in dec.blocks], [xa.new_zeros(shape) for _ in dec.blocks],
                   cross_k, cross_v, valid, rows_per_utt)

    def reorder(self, rows: Tensor) -> None:
        """Keep/duplicate decoder rows (beam search): row i becomes old row rows[i]."""
        if rows.numel() == self.self_k[0].shape[0]:  # same rows: gather the used positions in place
            used = self.length
            for buf in self.self_k + self.self_v:
                buf[:, :, :used] = buf[rows, :, :used]
            return
        self.self_k = [k.index_select(0, rows) for k in self.self_k]
        self.self_v = [v.index_select(0, rows) for v in self.self_v]

    def keep_utts(self, utts: Tensor) -> None:
        """Drop finished utterances: keep utterances `utts` (indices into the current batch)."""
        k = self.rows_per_utt
        rows = (utts[:, None] * k + torch.arange(k, device=utts.device)[None, :]).reshape(-1)
        self.reorder(rows)
        self.cross_k = [c.index_select(0, utts) for c in self.cross_k]
        self.cross_v = [c.index_select(0, utts) for c in self.cross_v]
        if self.cross_valid is not None:
            self.cross_valid = self.cross_valid.index_select(0, utts)


@torch.no_grad()
def decoder_step(model, state: DecoderState, tokens: Tensor) -> Tensor:
    """Feed tokens (N, L) after the cached positions; return logits of the last one (N, V)."""
    dec = model.decoder
    n_head = dec.blocks[0].attn.n_head
    n, length = tokens.shape
    off = state.length
    if off + length > state.self_k[0].shape[2]:
        raise ValueError(f"decoder cache holds {state.self_k[0].shape[2]} positions, asked for {off + length}")
    x = dec.token_embedding(tokens) + dec.positional_embedding[off:off + length]
    causal = None
    if length > 1:  # query j sits at position off + j and sees keys 0 .. off + j
        causal = (torch.arange(off + length, device=x.device)[None, :]
                  <= (off + torch.arange(length, device=x.device))[:, None])
    b, k = n // state.rows_per_utt, state.rows_per_utt
    cross_mask = _key_mask(state.cross_valid)
    for i, block in enumerate(dec.blocks):
        h = block.attn_ln(x)
        q = _heads(block.attn.query(h), n_head)
        state.self_k[i][:, :, off:off + length] = _heads(block.attn.key(h), n_head)
        state.self_v[i][:, :, off:off + length] = _heads(block.attn.value(h), n_head)
        a = F.scaled_dot_product_attention(q, state.self_k[i][:, :, :off + length],
                                           state.self_v[i][:, :, :off + length], attn_mask=causal)
        x = x + block.attn.out(_merge(a))
        # the K beams of an utterance are K*L query positions of one row over its audio
        h = block.cross_attn.query(block.cross_attn_ln(x)).reshape(b, k * length, -1)
        a = F.scaled_dot_product_attention(_heads(h, n_head), state.cross_k[i], state.cross_v[i],
                                           attn_mask=cross_mask)
        x = x + block.cross_attn.out(_merge(a).reshape(n, length, -1))
        x = x + block.mlp(block.mlp_ln(x))
    state.length = off + length
    x = dec.ln(x[:, -1])
    return (x @ dec.token_embedding.weight.T.to(x.dtype)).float()


@dataclasses.dataclass
class SearchRules:
    """What the search may emit; ids from the model's tokenizer."""

    eot: int
    suppress: Tuple[int, ...]        # never emitted
    suppress_first: Tuple[int, ...]  # not emitted as the first token (blank, eot)
    max_new_tokens: int
    length_penalty: Optional[float] = None

    def filter(self, logits: Tensor, first: bool) -> Tensor:
        """Set the forbidden tokens' logits to -inf, in place; returns `logits`."""
        if getattr(self, "_mask", None) is None or self._mask.device != logits.device:
            self._mask = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            self._mask[list(self.suppress)] = True
            self._first = self._mask.clone()
            self._first[list(self.suppress_first)] = True
        return logits.masked_fill_(self._first if first else self._mask, NEG_INF)

    def rank_score(self, sum_logprob: float, length: int) -> float:
        """Length-normalised score: Whisper's MaximumLikelihoodRanker."""
        if self.length_penalty is None:
            return sum_logprob / max(length, 1)
        return sum_logprob / (((5 + length) / 6) ** self.length_penalty)


@torch.no_grad()
def detect_language(model, xa: Tensor, valid: Optional[Tensor], sot: int,
                    language_tokens: Sequence[int]) -> List[int]:
    """Whisper's language id: one decoder step on <|startoftranscript|>, argmax over languages."""
    state = DecoderState.start(model, xa, valid, 1, 1)
    logits = decoder_step(model, state, torch.full((xa.shape[0], 1), sot, dtype=torch.long, device=xa.device))
    allowed = torch.full_like(logits, NEG_INF)
    ids = torch.tensor(list(language_tokens), device=logits.device)
    allowed[:, ids] = logits[:, ids]
    return allowed.argmax(-1).tolist()


@torch.no_grad()
def greedy_search(model, xa: Tensor, valid: Optional[Tensor], prompts: Tensor, rules: SearchRules,
                  caps: Optional[Sequence[int]] = None) -> List[List[int]]:
    """Argmax decoding of a batch; prompts (B, P). Returns the text tokens (no eot) per utterance.

    `caps` (optional, per utterance) stops an utterance after that many tokens.
    """
    b, p = prompts.shape
    max_new = _max_new(model, p, rules)
    caps = [min(c, max_new) for c in caps] if caps is not None else [max_new] * b
    state = DecoderState.start(model, xa, valid, 1, p + max_new)
    out: List[List[int]] = [[] for _ in range(b)]
    alive = list(range(b))  # original index of each current row
    logits = decoder_step(model, state, prompts)
    for step in range(max_new):
        nxt = rules.filter(logits, first=step == 0).argmax(-1)
        keep = []
        for row, tok in enumerate(nxt.tolist()):
            if tok != rules.eot:
                out[alive[row]].append(tok)
                if len(out[alive[row]]) < caps[alive[row]]:
                    keep.append(row)
        if not keep or step == max_new - 1:
            break
        if len(keep) < len(alive):
            idx = torch.tensor(keep, device=xa.device)
            state.keep_utts(idx)
            nxt = nxt.index_select(0, idx)
            alive = [alive[r] for r in keep]
        logits = decoder_step(model, state, nxt[:, None])
    return out


def trim_repetition(tokens: List[int], max_repeat: int, max_ngram: int = 8) -> List[int]:
    """Cut a tail loop: if `tokens` ends with >= max_repeat copies of one n-gram (n <= max_ngram),
    keep a single copy. The shortest looping n-gram wins; anything else is returned unchanged."""
    for n in range(1, max_ngram + 1):
        if len(tokens) < n * max_repeat:
            break
        gram = tokens[-n:]
        copies, end = 1, len(tokens) - n
        while end - n >= 0 and tokens[end - n:end] == gram:
            copies += 1
            end -= n
        if copies >= max_repeat:
            return tokens[:end + n]
    return tokens


def _max_new(model, prompt_len: int, rules: SearchRules) -> int:
    """Tokens that fit: the prompt and every fed token need a position (eot is never fed)."""
    room = model.dims.n_text_ctx - prompt_len
    if room < 1:
        raise ValueError(f"a {prompt_len}-token prompt leaves no room in {model.dims.n_text_ctx} positions")
    return min(rules.max_new_tokens, room)


@torch.no_grad()
def beam_search(model, xa: Tensor, valid: Optional[Tensor], prompts: Tensor, rules: SearchRules,
                beam_size: int, caps: Optional[Sequence[int]] = None) -> List[List[int]]:
    """Beam search over a batch, beams of all utterances flattened into one decoder batch.

    Per step each utterance's K live beams propose their top tokens; candidates are taken
    best-first until K live (non-eot) ones are found, eot candidates met on the way become
    finished hypotheses (as openai-whisper's BeamSearchDecoder). An utterance stops with K
    finished hypotheses; at the length cap its live beams are finished as they are. The
    answer is the finished hypothesis with the best `rules.rank_score` (sum of log-probs,
    eot included, over the text length). `caps` as in `greedy_search`.
    """
    kk = beam_size
    b, p = prompts.shape
    max_new = _max_new(model, p, rules)
    caps = [min(c, max_new) for c in caps] if caps is not None else [max_new] * b
    state = DecoderState.start(model, xa, valid, kk, p + max_new)
    dev = xa.device
    finished: List[List[Tuple[List[int], float]]] = [[] for _ in range(b)]
    alive = list(range(b))
    seqs: List[List[int]] = [[] for _ in range(b * kk)]
    sum_lp = torch.zeros(b, kk, device=dev)
    sum_lp[:, 1:] = NEG_INF  # all beams start identical: expand only the first
    logits = decoder_step(model, state, prompts.repeat_interleave(kk, dim=0))
    for step in range(max_new):
        lp = F.log_softmax(rules.filter(logits, first=step == 0), dim=-1)
        vocab = lp.shape[-1]
        scores = (sum_lp.reshape(-1, 1) + lp).reshape(len(alive), kk * vocab)
        top_s, top_i = scores.topk(2 * kk, dim=-1)
        top_s, top_i = top_s.tolist(), top_i.tolist()
        rows, toks, new_lp, new_seqs, keep_utts = [], [], [], [], []
        for u in range(len(alive)):
            fin = finished[alive[u]]
            live: List[Tuple[int, int, float]] = []
            for s, flat in zip(top_s[u], top_i[u]):
                if s == NEG_INF:
                    break
                row, tok = u * kk + flat // vocab, flat % vocab
                if tok == rules.eot:
                    if len(fin) < kk:
                        fin.append((seqs[row], s))
                else:
                    live.append((row, tok, s))
                    if len(live) == kk:
                        break
            if len(fin) >= kk or not live:
                continue
            if step >= caps[alive[u]] - 1:  # length cap: the live beams end here
                fin.extend((seqs[r] + [t], s) for r, t, s in live[:kk - len(fin)])
                continue
            while len(live) < kk:  # only with nearly everything suppressed
                live.append((live[-1][0], live[-1][1], NEG_INF))
            keep_utts.append(u)
            for r, t, s in live:
                rows.append(r)
                toks.append(t)
                new_lp.append(s)
                new_seqs.append(seqs[r] + [t])
        if not keep_utts:
            break
        state.reorder(torch.tensor(rows, device=dev))
        if len(keep_utts) < len(alive):  # rows are already those of kept utterances
            idx = torch.tensor(keep_utts, device=dev)
            state.cross_k = [c.index_select(0, idx) for c in state.cross_k]
            state.cross_v = [c.index_select(0, idx) for c in state.cross_v]
            if state.cross_valid is not None:
                state.cross_valid = state.cross_valid.index_select(0, idx)
            alive = [alive[u] for u in keep_utts]
        seqs = new_seqs
        sum_lp = torch.tensor(new_lp, device=dev).reshape(len(alive), kk)
        logits = decoder_step(model, state, torch.tensor(toks, device=dev)[:, None])
    return [max(fin, key=lambda h: rules.rank_score(h[1], len(h[0])))[0] if fin else [] for fin in finished]
