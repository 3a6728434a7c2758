#!/usr/bin/env bash
# Code-switching ASR with Whisper: seen pairs -> unseen pairs (arXiv 2606.05846).
# Default: synthetic corpus + offline Whisper base on CPU (conf/tuning/demo): fine-tunes per seen
# pair and pooled (ERM), DG systems, AsyncSwitch, one X->en speech translation pair, merges,
# decoding of every model on code-switched, monolingual and ST test sets, MAV analysis.
# For the paper's protocol on a GPU with the real corpora, fill db.sh and run e.g.
#   ./run.sh --whisper_model medium --ngpu 1 --asr_config conf/tuning/paper/train_pair.yaml \
#            --asr_all_config conf/tuning/paper/train_all.yaml --asyncswitch_conf_dir conf/tuning/asyncswitch/paper
set -euo pipefail

train_pairs="ko-en ja-en de-en"          # seen pairs (one fine-tune each + pooled ERM)
test_pairs="ko-en ja-en de-en ko-ja ko-de"  # evaluated pairs (unseen ones included)
dg_algorithms="fish fishr gga_l"         # domain-generalisation systems (paper's lower block)
st_pairs="de-en"                         # X->en speech translation (LoRS paper's ST task), BLEU
mono_langs="en de ja ko"                 # monolingual test sets: the forgetting check
# MAV threshold (stage 9): the paper's 5e-5 suits its fine-tunes; ours (AdamW 5e-5, ~32 steps)
# move every row more than that (100 % everywhere), so the demo uses 2e-4, about the median
# row MAV, which makes the heatmaps discriminate.
mav_threshold=2e-4
# One decoding job per model: 26 models already keep both cores busy (the launcher runs
# CS_MAX_PARALLEL=2 jobs at once), and every extra shard pays another model load.
inference_nj=1

./cs_unseen.sh \
    --whisper_model base \
    --train_pairs "${train_pairs}" \
    --test_pairs "${test_pairs}" \
    --dg_algorithms "${dg_algorithms}" \
    --asyncswitch true \
    --st_pairs "${st_pairs}" \
    --mono_langs "${mono_langs}" \
    --utts_per_pair 100 \
    --asr_config conf/tuning/demo/train_pair.yaml \
    --asr_all_config conf/tuning/demo/train_all.yaml \
    --inference_config conf/tuning/decode/greedy.yaml \
    --merge_config conf/tuning/demo/merge.yaml \
    --mav_threshold "${mav_threshold}" \
    --inference_nj "${inference_nj}" \
    "$@"
