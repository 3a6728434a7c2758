"""ESPnet ASR decoding with the plugin registered (mirrors espnet2.bin.asr_inference).

    python -m espnet_cs_ext.bin.asr_inference --asr_train_config ... --asr_model_file ...
"""
from __future__ import annotations

import espnet_cs_ext.plugin  # noqa: F401  (registers whisper_cs)
from espnet2.bin import asr_inference


def main(cmd=None):
    asr_inference.main(cmd)


if __name__ == "__main__":
    main()
