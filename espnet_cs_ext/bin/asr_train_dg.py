"""ESPnet ASR training with a domain-generalisation algorithm (issue 7).

Like `espnet_cs_ext.bin.asr_train`, with `DGASRTask`: every step draws one minibatch
per language pair (utt2category beside the training data) and runs
`--dg_algorithm {erm,fish,fishr,gga,gga_l,mldg}` with `--dg_conf` options.

    python -m espnet_cs_ext.bin.asr_train_dg --config exp/asr_dg_fish/dg_config.yaml \
        --train_data_path_and_name_and_type data/train_all/feats.scp,speech,kaldi_ark ...

`--collect_stats true` runs exactly as in asr_train (no DG checks needed).
"""
from __future__ import annotations

import sys

from espnet_cs_ext.dg.base import DGConfigError
from espnet_cs_ext.dg.task import DGASRTask


def get_parser():
    return DGASRTask.get_parser()


def main(cmd=None):
    from espnet_cs_ext.espnet import atomic_save, resume_repair

    atomic_save.install()  # a kill during a checkpoint write must not break --resume
    resume_repair.install()  # nor a kill between checkpoint.pth and <N>epoch.pth
    try:
        DGASRTask.main(cmd=cmd)
    except DGConfigError as e:
        print(f"asr_train_dg: error: {e}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
