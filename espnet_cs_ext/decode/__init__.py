"""Fast batched Whisper decoding (greedy and beam search, KV cache) of Kaldi data dirs.

    from espnet_cs_ext.decode import load_config, load_decode_model, Decoder, decode_data_dir
    cfg = load_config("egs2/cs_unseen/asr1/conf/tuning/decode/beam5.yaml", batch_size=16)
    decode_data_dir("exp/asr_ko-en/valid.acc.best.pth", "data/test_ko-en", "exp/decode_x", cfg,
                    nj=4, job=1)                      # -> exp/decode_x/split4/1/text
    merge_shards("data/test_ko-en", "exp/decode_x", nj=4)   # -> exp/decode_x/text

Command line: `python -m espnet_cs_ext.bin.decode --help`.

Modules: config (YAML keys and policies), model (specs -> Whisper), features (data dir
-> log-mels, length batches, 30 s padding), search (encoder with masks, cached decoder,
greedy, beam, language id), runner (prompts, shards, resume, merge).
"""
from .config import DecodeConfig, config_from_dict, load_config
from .model import LoadedModel, is_pretrained, load_decode_model
from .runner import Decoder, decode_data_dir, merge_shards, resolve_padding, shard_utts

__all__ = ["DecodeConfig", "config_from_dict", "load_config", "LoadedModel", "is_pretrained",
           "load_decode_model", "Decoder", "decode_data_dir", "merge_shards", "resolve_padding", "shard_utts"]
