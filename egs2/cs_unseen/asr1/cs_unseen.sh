#!/usr/bin/env bash
# Stage script of egs2/cs_unseen/asr1 (called by run.sh). Each stage is one block that
# calls a Python tool; a stage (or each item in it) writes a `.done` marker holding a
# fingerprint of its inputs and is skipped on rerun unless they changed or --force.
#
#   1 data prep (db.sh corpora, else synthetic)     5 fine-tuning through ESPnet
#   2 validate / format (16 kHz, filters)           6 merging (conf merge list)
#   3 Whisper log-mel features (kaldiio)            7 decoding: every model x test set
#   4 text: NFC, language prompts, token checks      8 scoring (MER) and RESULTS.md
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}:${BASH_LINENO[0]}) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# Options (all settable as --name value).
stage=1
stop_stage=8
skip_stages=""
force=false
ngpu=0
nj=2                     # parallel jobs for data/feature stages
inference_nj=2           # decoding shards per model x test set
gpu_inference=false      # decode on cuda
whisper_model=base       # any spec espnet_cs_ext.whisper accepts
train_pairs="ko-en ja-en de-en"
test_pairs="ko-en ja-en de-en ko-ja ko-de"
train_all=true           # also train one model on all seen pairs (ERM)
dg_algorithms=""         # DG systems on all seen pairs, e.g. "fish fishr gga_l" (espnet_cs_ext.dg)
dg_config_dir=conf/dg    # <dir>/train_<algorithm>.yaml per DG system
utts_per_pair=""         # synthetic corpus size (empty: local/data.sh default)
asr_config=conf/demo/train_pair.yaml
asr_all_config=conf/demo/train_all.yaml
inference_config=conf/decode/greedy.yaml
merge_config=conf/demo/merge.yaml
use_feats=true           # train/decode on stage-3 features instead of raw audio
score_preset=default     # cs-score preset: default (corpus MER, both sides normalised) | hike | ...
datadir=data
expdir=exp
results=RESULTS.md       # the report (stage 8); its plot goes beside it

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) sed -n '2,10p' "$0"; grep -E '^[a-z_]+=.*' "$0" | sed 's/^/  --/'; exit 0 ;;
    --*=*) name=${1%%=*}; name=${name#--}; value=${1#*=}; shift ;;
    --*) name=${1#--}; [ $# -ge 2 ] || die "option --${name} needs a value"; value=$2; shift 2 ;;
    *) die "unexpected argument '$1'" ;;
  esac
  name=${name//-/_}
  grep -qE "^${name}=" "$0" || die "unknown option --${name} (see --help)"
  printf -v "${name}" '%s' "${value}"
done

. ./path.sh
. ./cmd.sh
mkdir -p "${expdir}/.done" "${expdir}/log"

run_stage() {  # run_stage N: true if stage N is selected
  [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ] && [[ " ${skip_stages} " != *" $1 "* ]]
}
up_to_date() {  # up_to_date MARKER INPUT...: skip work whose inputs did not change
  [ "${force}" = true ] && return 1
  python -m espnet_cs_ext.bin.stamp check "$@"
}
mark_done() { python -m espnet_cs_ext.bin.stamp done "$@"; }

train_sets=(); dev_sets=(); test_sets=()
for p in ${train_pairs}; do train_sets+=("${datadir}/train_${p}"); dev_sets+=("${datadir}/dev_${p}"); done
for p in ${test_pairs}; do test_sets+=("${datadir}/test_${p}"); done
all_sets=("${train_sets[@]}" "${dev_sets[@]}" "${test_sets[@]}")
systems=(); for p in ${train_pairs}; do systems+=("ft_${p}"); done
[ "${train_all}" = true ] && systems+=("ft_all")
for a in ${dg_algorithms}; do systems+=("dg_${a}"); done
pooled=false; { [ "${train_all}" = true ] || [ -n "${dg_algorithms}" ]; } && pooled=true

if run_stage 1; then
  log "Stage 1: data preparation: db.sh corpora or synthetic -> ${datadir}/"
  if up_to_date "${expdir}/.done/stage1" "${train_pairs}" "${test_pairs}" "${utts_per_pair}" db.sh local/data.sh; then
    log "Stage 1: up to date, skipped"
  else
    all_pairs=$(echo ${train_pairs} ${test_pairs} | tr ' ' '\n' | awk '!seen[$0]++' | paste -sd,)
    unseen=$(for p in ${test_pairs}; do [[ " ${train_pairs} " == *" ${p} "* ]] || echo "${p}"; done | paste -sd,)
    # local/data.sh stages 1-3: real corpora / synthetic corpus, then validate + format.
    local/data.sh --stop_stage 3 --pairs "${all_pairs}" --unseen_pairs "${unseen}" \
      ${utts_per_pair:+--utts_per_pair "${utts_per_pair}"} --datadir "${datadir}" --nj "${nj}"
    mark_done "${expdir}/.done/stage1" "${train_pairs}" "${test_pairs}" "${utts_per_pair}" db.sh local/data.sh
  fi
fi

for d in "${all_sets[@]}"; do
  if [ "${stage}" -gt 1 ] && [ ! -f "${d}/wav.scp" ]; then
    die "data dir ${d} is missing (listed by --train_pairs/--test_pairs); run stage 1"
  fi
done

# Stages 2-4 collect the data dirs whose inputs changed and hand them all to one
# process (one Python start-up per stage, not per dir), then mark each dir done.
pending() {  # pending MARKER_NAME INPUT_FILE...: the dirs of all_sets not up to date
  local name=$1 d f inputs; shift
  for d in "${all_sets[@]}"; do
    inputs=(); for f in "$@"; do inputs+=("${d}/${f}"); done
    up_to_date "${d}/${name}" "${inputs[@]}" || echo "${d}"
  done
}
mark_dirs() {  # mark_dirs MARKER_NAME "DIRS" INPUT_FILE...
  local name=$1 dirs=$2 d f inputs; shift 2
  for d in ${dirs}; do
    inputs=(); for f in "$@"; do inputs+=("${d}/${f}"); done
    mark_done "${d}/${name}" "${inputs[@]}"
  done
}

if run_stage 2; then
  log "Stage 2: validate: ${datadir}/<set> (16 kHz mono, ids, transcripts; local/data.sh formatted them)"
  todo=$(pending .stage2.done wav.scp text)
  if [ -n "${todo}" ]; then
    python -m espnet_cs_ext.bin.recipe_tools validate ${todo}
    mark_dirs .stage2.done "${todo}" wav.scp text
  fi
fi

if run_stage 3 && [ "${use_feats}" = true ]; then
  log "Stage 3: Whisper log-mel features: <dir>/wav.scp -> <dir>/feats.scp (kaldiio)"
  todo=$(pending .stage3.done wav.scp)
  if [ -n "${todo}" ]; then
    ${train_cmd} "${expdir}/log/feats.log" -- python -m espnet_cs_ext.bin.recipe_tools dump-feats ${todo}
    mark_dirs .stage3.done "${todo}" wav.scp
  fi
fi

token_list=${datadir}/token_list/whisper_multilingual/tokens.txt
if run_stage 4; then
  log "Stage 4: text: NFC, language prompts, token checks; pooled sets; ${token_list}"
  todo=$(pending .stage4.done text.orig utt2lang)
  if [ -n "${todo}" ]; then
    python -m espnet_cs_ext.bin.recipe_tools prepare-text ${todo}
    mark_dirs .stage4.done "${todo}" text.orig utt2lang
  fi
  if [ "${pooled}" = true ] && ! up_to_date "${datadir}/train_all/.done" "${train_sets[@]}" "${dev_sets[@]}"; then
    cs-prepare combine "${datadir}/train_all" "${train_sets[@]}"
    cs-prepare combine "${datadir}/dev_all" "${dev_sets[@]}"
    mark_done "${datadir}/train_all/.done" "${train_sets[@]}" "${dev_sets[@]}"
  fi
  if [ ! -s "${token_list}" ]; then
    mkdir -p "$(dirname "${token_list}")"
    python -m espnet2.bin.whisper_export_vocabulary --whisper_model whisper_multilingual \
      --output "${token_list}.tmp" && mv "${token_list}.tmp" "${token_list}"
  fi
fi

# Arguments describing one data dir to ESPnet (features or raw audio, text, prompt).
data_args() {  # data_args train|valid DIR
  local kind=$1 dir=$2
  if [ "${use_feats}" = true ]; then
    echo "--${kind}_data_path_and_name_and_type ${dir}/feats.scp,speech,kaldi_ark"
  else
    echo "--${kind}_data_path_and_name_and_type ${dir}/wav.scp,speech,sound"
  fi
  echo "--${kind}_data_path_and_name_and_type ${dir}/text,text,text"
  echo "--${kind}_data_path_and_name_and_type ${dir}/prompt,prompt,text"
}

if run_stage 5; then
  log "Stage 5: fine-tuning through ESPnet (whisper_cs): ${systems[*]} -> ${expdir}/asr_<system>/"
  input_size=1; [ "${use_feats}" = true ] && input_size=80
  for sys in "${systems[@]}"; do
    # ft_<pair>: one seen pair; ft_all: pooled ERM; dg_<alg>: a DG algorithm on all pairs.
    entry=espnet_cs_ext.bin.asr_train; extra=()
    case "${sys}" in
      ft_all) pair=all; config=${asr_all_config} ;;
      ft_*) pair=${sys#ft_}; config=${asr_config} ;;
      dg_*) pair=all; config=${dg_config_dir}/train_${sys#dg_}.yaml; entry=espnet_cs_ext.bin.asr_train_dg
            extra=(--dg_domains ${train_pairs}) ;;
    esac
    [ -f "${config}" ] || die "no training config ${config} for system ${sys}"
    tr=${datadir}/train_${pair}; dv=${datadir}/dev_${pair}; out=${expdir}/asr_${sys}
    inputs=("${tr}" "${dv}" "${config}" "${whisper_model}" "${use_feats}")
    if up_to_date "${out}/.done" "${inputs[@]}"; then log "  ${sys}: up to date"; continue; fi
    log "  ${sys}: ${tr} -> ${out}"
    common=(--config "${config}" --token_list "${token_list}" --use_preprocessor true
            --ngpu "${ngpu}" --input_size "${input_size}"
            --encoder_conf whisper_model="${whisper_model}" --decoder_conf whisper_model="${whisper_model}"
            $(data_args train "${tr}") $(data_args valid "${dv}"))
    # Shape statistics depend only on the data (Whisper configs use normalize: null), so
    # every system trained on the same train/dev dirs shares one collect_stats run.
    stats=${expdir}/stats/$(basename "${tr}")_$([ "${use_feats}" = true ] && echo feats || echo raw)
    if ! up_to_date "${stats}/.done" "${tr}" "${dv}" "${use_feats}"; then
      ${train_cmd} "${stats}/stats.log" -- python -m espnet_cs_ext.bin.asr_train "${common[@]}" \
        --collect_stats true --output_dir "${stats}" \
        --train_shape_file "${tr}/text" --valid_shape_file "${dv}/text"
      mark_done "${stats}/.done" "${tr}" "${dv}" "${use_feats}"
    fi
    ${train_cmd} "${out}/train.log" -- python -m "${entry}" "${common[@]}" "${extra[@]}" \
      --output_dir "${out}" --resume true \
      --train_shape_file "${stats}/train/speech_shape" \
      --valid_shape_file "${stats}/valid/speech_shape"
    [ -f "${out}/latest.pth" ] || die "training of ${sys} left no ${out}/latest.pth; see ${out}/train.log"
    mark_done "${out}/.done" "${inputs[@]}"
  done
fi

merged_list=${expdir}/merge/systems.txt
if run_stage 6; then
  log "Stage 6: merging: ${merge_config} over ${systems[*]} -> ${expdir}/merge/<name>/"
  python -m espnet_cs_ext.bin.plan_merges --config "${merge_config}" --expdir "${expdir}" \
    --base "${whisper_model}" --train_pairs "${train_pairs}" --out "${expdir}/merge"
  while read -r name cfg; do
    out=${expdir}/merge/${name}/model.pt
    up_to_date "${expdir}/merge/${name}/.done" "${cfg}" && continue
    ${train_cmd} "${expdir}/merge/${name}/merge.log" -- cs-merge "${cfg}" "${out}"
    mark_done "${expdir}/merge/${name}/.done" "${cfg}"
  done < "${merged_list}"
fi

# Every decodable model: "name spec" lines (pretrained, fine-tuned, merged).
model_list() {
  echo "pretrained ${whisper_model}"
  for sys in "${systems[@]}"; do echo "${sys} ${expdir}/asr_${sys}/latest.pth"; done
  if [ -f "${merged_list}" ]; then
    while read -r name _; do echo "${name} ${expdir}/merge/${name}/model.pt"; done < "${merged_list}"
  fi
}

if run_stage 7; then
  log "Stage 7: decoding: every model x {${test_pairs}} with ${inference_config} -> ${expdir}/decode/<model>/<test>/text"
  device=cpu; [ "${gpu_inference}" = true ] && device=cuda
  while read -r name spec; do
    [ "${name}" = pretrained ] || [ -f "${spec}" ] || die "model ${name} has no ${spec}; run stages 5-6"
    todo_data=(); todo_out=()
    for d in "${test_sets[@]}"; do
      out=${expdir}/decode/${name}/$(basename "${d}")
      up_to_date "${out}/.done" "${spec}" "${d}/text" "${inference_config}" && continue
      todo_data+=("${d}"); todo_out+=("${out}")
    done
    [ "${#todo_data[@]}" -gt 0 ] || continue
    log "  ${name}: ${spec} x ${#todo_data[@]} test sets"
    # One job per shard decodes every pending test set, loading the model once.
    ${decode_cmd} JOB=1:"${inference_nj}" "${expdir}/decode/${name}/log/decode.JOB.log" -- \
      python -m espnet_cs_ext.bin.decode --model "${spec}" --whisper-dims-from "${whisper_model}" \
      --data "${todo_data[@]}" --out "${todo_out[@]}" --config "${inference_config}" \
      --nj "${inference_nj}" --job JOB --device "${device}" --no-progress
    python -m espnet_cs_ext.bin.decode --merge-shards "${inference_nj}" --data "${todo_data[@]}" --out "${todo_out[@]}"
    for i in "${!todo_data[@]}"; do
      mark_done "${todo_out[$i]}/.done" "${spec}" "${todo_data[$i]}/text" "${inference_config}"
    done
  done < <(model_list)
fi

if run_stage 8; then
  log "Stage 8: scoring (MER) and report: ${expdir}/decode/*/*/text -> ${results}"
  rescored=false
  while read -r name _; do
    for d in "${test_sets[@]}"; do
      out=${expdir}/decode/${name}/$(basename "${d}")
      [ -f "${out}/text" ] || die "no hypotheses ${out}/text; run stage 7"
      up_to_date "${out}/score/.done" "${out}/text" "${d}/text" "${score_preset}" && continue
      cs-score --ref "${d}/text" --hyp "${out}/text" --out "${out}/score" --preset "${score_preset}" >/dev/null
      mark_done "${out}/score/.done" "${out}/text" "${d}/text" "${score_preset}"
      rescored=true
    done
  done < <(model_list)
  if [ "${rescored}" = false ] && [ -f "${results}" ] && [ "${force}" != true ] \
     && up_to_date "${expdir}/.done/report" "$(model_list)" "${test_pairs}"; then
    log "Stage 8: up to date, ${results} kept"
  else
    python -m espnet_cs_ext.bin.make_report --expdir "${expdir}" --datadir "${datadir}" \
      --train_pairs "${train_pairs}" --test_pairs "${test_pairs}" \
      --whisper_model "${whisper_model}" --models <(model_list) --out "${results}"
    mark_done "${expdir}/.done/report" "$(model_list)" "${test_pairs}"
  fi
  log "Stage 8: wrote ${results}"
fi
log "Finished stages ${stage}-${stop_stage}"
