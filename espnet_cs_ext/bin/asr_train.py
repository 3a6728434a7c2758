"""ESPnet ASR training with the plugin registered (mirrors espnet2.bin.asr_train).

    python -m espnet_cs_ext.bin.asr_train --config conf/train.yaml ...
"""
from __future__ import annotations

import espnet_cs_ext.plugin  # noqa: F401  (registers whisper_cs)
from espnet2.tasks.asr import ASRTask


def get_parser():
    return ASRTask.get_parser()


def main(cmd=None):
    from espnet_cs_ext.espnet import atomic_save, resume_repair

    atomic_save.install()  # a kill during a checkpoint write must not break --resume
    resume_repair.install()  # nor a kill between checkpoint.pth and <N>epoch.pth
    from espnet_cs_ext.espnet.rank_check import RankCheckedASRTask

    RankCheckedASRTask.main(cmd=cmd)  # ASRTask + a check that DDP ranks end with equal weights


if __name__ == "__main__":
    main()
