"""ESPnet ASR training with the plugin registered (mirrors espnet2.bin.asr_train).

    python -m espnet_cs_ext.bin.asr_train --config conf/train.yaml ...
"""
from __future__ import annotations

import espnet_cs_ext.plugin  # noqa: F401  (registers whisper_cs)
from espnet2.tasks.asr import ASRTask


def get_parser():
    return ASRTask.get_parser()


def main(cmd=None):
    ASRTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
