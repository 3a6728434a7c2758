#!/usr/bin/env bash
# Issue 22 item 4: do the demo's models (trained on ko-en, ja-en, de-en) recognise
# code-switching in pairs with a language no training pair had (French, Spanish)?
# Needs a finished `make demo` (egs2/cs_unseen/asr1/exp/). Makes 20-utterance test sets
# fr-en es-en fr-de ko-fr (matrix language first), formats them through recipe stages
# 2-4, decodes them with 12 of the demo's models (greedy, the recipe's padding rule) and
# prints the tables of docs/unseen_languages.md (bench/unseen_languages.py).
#   bash bench/unseen_languages.sh [WORK_DIR]        (~12 min on 2 cores)
set -euo pipefail
work=$(realpath -m "${1:-/tmp/unseen_languages}")
sets="fr-en es-en fr-de ko-fr"
bench=$(cd "$(dirname "$0")" && pwd)
cd "${bench}/../egs2/cs_unseen/asr1"
. ./path.sh
[ -f exp/asr_ft_all/.done ] || { echo "$0: no finished demo in $(pwd)/exp (run make demo first)" >&2; exit 1; }
python -m espnet_cs_ext.bin.cs_prepare synthetic --pairs "${sets// /,}" --test-only-pairs "${sets// /,}" \
  --test-only-utts 20 --seed 0 --nj 1 --no-progress --out "${work}/synthetic"
test_sets="test_ko-en test_ja-en test_de-en test_ko-ja test_ko-de"
for p in ${sets}; do
  python -m espnet_cs_ext.bin.cs_prepare validate "${work}/synthetic/test_${p}" --out "data/test_${p}"
  test_sets+=" test_${p}"
done
# stages 2-4 (validate, features, text prompts) on the new dirs; markers of this run in WORK_DIR
./run.sh --stage 2 --stop_stage 4 --expdir "${work}/exp_prep" --test_sets "${test_sets}"
decode() {  # decode NAME SPEC PAD: all new sets with one model load (stage 7's options)
  local name=$1 spec=$2 pad=$3 data=() out=() p
  [ -f "${work}/decode/${name}/.done" ] && return 0
  for p in ${sets}; do data+=("data/test_${p}"); out+=("${work}/decode/${name}/test_${p}"); done
  python -m espnet_cs_ext.bin.decode --model "${spec}" --config conf/tuning/decode/greedy.yaml \
    --whisper-dims-from base --pad-to-30s "${pad}" --data "${data[@]}" --out "${out[@]}" --no-progress
  touch "${work}/decode/${name}/.done"
}
decode pretrained base auto
for s in ft_ko-en ft_ja-en ft_de-en ft_all dg_fish dg_fishr dg_gga_l; do decode "${s}" "exp/asr_${s}/latest.pth" auto; done
decode asyncswitch exp/asr_asyncswitch/latest.pth true   # padded, as stage 7 decodes it (padded_models)
for m in task_arithmetic_ko-en+ja-en+de-en ties_ko-en+ja-en+de-en lors_all; do decode "${m}" "exp/merge/${m}/model.pt" auto; done
python "${bench}/unseen_languages.py" --recipe . --work "${work}"
