#!/usr/bin/env bash
# Stage script of egs2/cs_unseen/asr1 (called by run.sh). Each stage is one block that
# calls a Python tool; a stage (or each item in it) writes a `.done` marker holding a
# fingerprint of its inputs and is skipped on rerun unless they changed or --force.
#
#   1 data prep (db.sh corpora, else synthetic)     5 fine-tuning through ESPnet
#   2 validate / format (16 kHz, filters)           6 merging (conf merge list)
#   3 Whisper log-mel features (kaldiio)            7 decoding: every model x test set
#   4 text: NFC, language prompts, token checks      8 scoring (MER, BLEU) and RESULTS.md
#                                                   9 MAV analysis of the fine-tuned models
#                                                  10 pack models for espnet_model_zoo (opt-in)
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}:${BASH_LINENO[0]}) $*"; }
die() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}:${BASH_LINENO[0]}) ERROR: $*" >&2; exit 1; }  # the caller's line

# Options (all settable as --name value).
stage=1
stop_stage=9
skip_stages=""
force=false
ngpu=0                   # GPUs per training job; > 1: ESPnet's DDP, one process per GPU (NCCL)
num_procs=1              # CPU training processes per model (> 1: DDP through torchrun, gloo backend)
nj=2                     # parallel jobs for data/feature stages
inference_nj=2           # decoding shards per model x test set
gpu_inference=false      # decode on cuda
whisper_model=base       # any spec espnet_cs_ext.whisper accepts
train_pairs="ko-en ja-en de-en"
test_pairs="ko-en ja-en de-en ko-ja ko-de"
test_sets=""             # ESPnet's name: data dirs to evaluate, "test_<pair> ... test_mono_<lang> ...";
                         # when given, it replaces --test_pairs and --mono_langs
train_all=true           # also train one model on all seen pairs (ERM)
dg_algorithms=""         # DG systems on all seen pairs, e.g. "fish fishr gga_l" (espnet_cs_ext.dg)
dg_config_dir=conf/dg    # <dir>/train_<algorithm>.yaml per DG system
asyncswitch=false        # AsyncSwitch system (arXiv 2506.14190): text-only decoder LM -> cross-attn -> all -> interpolate
asyncswitch_conf_dir=conf/asyncswitch/demo  # stage_{a,b,c}.yaml
asyncswitch_sweep=false  # also decode interpolation ratios 0.2 0.4 0.6 0.8 (asyncswitch_r<ratio> rows)
st_pairs=""              # X->en speech translation pairs, e.g. "de-en": system st_<pair>, BLEU on test_st_<pair>
mono_langs=""            # monolingual test sets test_mono_<lang> (forgetting check), e.g. "en de ja ko"
utts_per_pair=""         # synthetic corpus size (empty: local/data.sh default)
asr_config=conf/demo/train_pair.yaml
asr_all_config=conf/demo/train_all.yaml
asr_args=""              # extra ESPnet training options for every stage-5 run, last on the command line,
                         # e.g. "--use_amp true" (GPU mixed precision: bf16 where the GPU has it, else fp16)
st_config=conf/st/demo_train_st.yaml   # training config of the st_<pair> systems
lors_grid_langs=""       # LoRS-Merging grid (arXiv 2502.17380 Tables 1-4) over these X->en languages, e.g. "de ja"
lors_grid_methods=conf/lors_grid/methods.yaml  # merge settings of the grid (WA, TA, MP, SVP, LoRS)
lors_results=RESULTS_lors.md                   # the grid's report (stage 8)
inference_config=conf/decode/greedy.yaml
# Models decoded with Whisper's 30 s padding although they are not pretrained: those that
# keep much of the original Whisper (AsyncSwitch's interpolation at r=0.4, merges that copy
# blocks from base). Stage-5 training is unpadded (do_pad_trim: false), the original is not:
# unpadded, such models hallucinate (measured: AsyncSwitch mono ja MER 5.0 vs 0.03 padded).
padded_models="asyncswitch asyncswitch_r* *mavlayers*"
merge_config=conf/demo/merge.yaml
use_feats=true           # train/decode on stage-3 features instead of raw audio
score_preset=default     # cs-score preset: default (corpus MER, both sides normalised) | hike | ...
datadir=data
expdir=exp
results=RESULTS.md       # the report (stage 8); its plot goes beside it
mav_threshold=5e-5       # stage 9: a row counts as updated when its mean |delta| exceeds this
pack_model=""            # stage 10: systems to pack (ft_ko-en, ties_ko-en+ja-en, pretrained, ...) or "all"
bundle_whisper=false     # stage 10: also pack the Whisper checkpoint a name like "base" resolves to

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) sed -n '2,11p' "$0"; grep -E '^[a-z_]+=.*' "$0" | sed 's/^/  --/'; exit 0 ;;
    --*=*) name=${1%%=*}; name=${name#--}; value=${1#*=}; shift ;;
    --*) name=${1#--}; [ $# -ge 2 ] || die "option --${name} needs a value"; value=$2; shift 2 ;;
    *) die "unexpected argument '$1'" ;;
  esac
  name=${name//-/_}
  grep -qE "^${name}=" "$0" || die "unknown option --${name} (see --help)"
  printf -v "${name}" '%s' "${value}"
done

if [ -n "${test_sets}" ]; then  # the data-dir names ESPnet recipes take, mapped onto pairs and languages
  test_pairs=""; mono_langs=""
  for s in ${test_sets}; do
    case "${s}" in
      test_mono_*) mono_langs="${mono_langs} ${s#test_mono_}" ;;
      test_st_*) die "--test_sets ${s}: speech-translation test sets come with --st_pairs ${s#test_st_} (which also trains st_${s#test_st_})" ;;
      test_?*-?*) test_pairs="${test_pairs} ${s#test_}" ;;
      *) die "--test_sets: '${s}' is neither test_<pair> (e.g. test_ko-ja) nor test_mono_<lang> (e.g. test_mono_en)" ;;
    esac
  done
  test_pairs=${test_pairs# }; mono_langs=${mono_langs# }
fi

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
st_sets=(); for p in ${st_pairs}; do st_sets+=("${datadir}/train_st_${p}" "${datadir}/dev_st_${p}"); done
for p in ${st_pairs}; do test_sets+=("${datadir}/test_st_${p}"); done
for l in ${mono_langs}; do test_sets+=("${datadir}/test_mono_${l}"); done
systems=(); for p in ${train_pairs}; do systems+=("ft_${p}"); done
[ "${train_all}" = true ] && systems+=("ft_all")
for a in ${dg_algorithms}; do systems+=("dg_${a}"); done
for p in ${st_pairs}; do systems+=("st_${p}"); done
[ "${asyncswitch}" = true ] && systems+=("asyncswitch")
# LoRS grid: per-language ASR/ST fine-tunes, multi-lingual / multi-task pooled training
# (espnet_cs_ext.recipe.lors_grid names them), their test sets, and the dirs they need.
declare -A grid_kind=() grid_pair=()
grid_dirs=()
if [ -n "${lors_grid_langs}" ]; then
  while read -r name kind trs dvs; do
    grid_kind[${name}]=${kind}
    if [[ "${trs}" == *,* ]]; then grid_pair[${name}]=${name}; else grid_pair[${name}]=${trs#train_}; fi
    [[ " ${systems[*]} " == *" ${name} "* ]] || systems+=("${name}")
    for d in ${trs//,/ } ${dvs//,/ }; do grid_dirs+=("${datadir}/${d}"); done
  done < <(python -m espnet_cs_ext.bin.lors_grid systems --langs "${lors_grid_langs}")
  [ "${#grid_kind[@]}" -gt 0 ] || die "lors_grid systems --langs '${lors_grid_langs}' printed nothing"
  while read -r set _; do
    [[ " ${test_sets[*]} " == *" ${datadir}/${set} "* ]] || test_sets+=("${datadir}/${set}")
  done < <(python -m espnet_cs_ext.bin.lors_grid test-sets --langs "${lors_grid_langs}")
fi
# Grid-only models (grid systems and merges not also in the main systems) are decoded on
# the grid's test sets only and reported in ${lors_results}, not in ${results}.
declare -A grid_only=()
grid_sets=()
if [ -n "${lors_grid_langs}" ]; then
  for sys in "${!grid_kind[@]}"; do
    [[ " ${st_pairs} " == *" ${sys#st_} "* ]] || grid_only[${sys}]=1
  done
  while read -r m; do case "${m}" in lg[0-9]*) grid_only[${m}]=1 ;; esac; done \
    < <(python -m espnet_cs_ext.bin.lors_grid models --langs "${lors_grid_langs}")
  while read -r set _; do grid_sets+=("${datadir}/${set}"); done \
    < <(python -m espnet_cs_ext.bin.lors_grid test-sets --langs "${lors_grid_langs}")
fi
sets_of() {  # sets_of MODEL: the test sets this model is decoded and scored on
  if [ -n "${grid_only[$1]:-}" ]; then printf '%s\n' "${grid_sets[@]}"; else printf '%s\n' "${test_sets[@]}"; fi
}
report_models() { model_list | while read -r name spec; do [ -n "${grid_only[${name}]:-}" ] || echo "${name} ${spec}"; done; }
# pooled dirs (several train dirs of a grid system) are made in stage 4, not stage 1
mapfile -t all_sets < <(printf '%s\n' "${train_sets[@]}" "${dev_sets[@]}" "${st_sets[@]}" "${grid_dirs[@]}" \
                          "${test_sets[@]}" | awk 'NF && !seen[$0]++')
pooled=false; { [ "${train_all}" = true ] || [ -n "${dg_algorithms}" ] || [ "${asyncswitch}" = true ]; } && pooled=true

if run_stage 1; then
  log "Stage 1: data preparation: db.sh corpora or synthetic -> ${datadir}/"
  if up_to_date "${expdir}/.done/stage1" "${train_pairs}" "${test_pairs}" "${st_pairs}" "${mono_langs}" "${lors_grid_langs}" "${utts_per_pair}" db.sh local/data.sh; then
    log "Stage 1: up to date, skipped"
  else
    all_pairs=$(echo ${train_pairs} ${test_pairs} | tr ' ' '\n' | awk '!seen[$0]++' | paste -sd,)
    unseen=$(for p in ${test_pairs}; do [[ " ${train_pairs} " == *" ${p} "* ]] || echo "${p}"; done | paste -sd,)
    # local/data.sh stages 1-3: real corpora / synthetic corpus, then validate + format.
    st_langs=$( { for p in ${st_pairs}; do echo "${p%-en}"; done; for l in ${lors_grid_langs}; do echo "${l}"; done; } \
                | awk '!seen[$0]++' | paste -sd,)
    local/data.sh --stop_stage 3 --pairs "${all_pairs}" --unseen_pairs "${unseen}" \
      --st_langs "${st_langs}" --mono_langs "$(echo ${mono_langs} | tr ' ' ,)" \
      ${utts_per_pair:+--utts_per_pair "${utts_per_pair}"} --datadir "${datadir}" --nj "${nj}"
    if [ -n "${lors_grid_langs}" ]; then  # the grid trains on monolingual ASR sets too
      cs-prepare synthetic-mono --langs "$(echo ${lors_grid_langs} | tr ' ' ,)" --splits train,dev,test \
        --utts-per-lang "${utts_per_pair:-200}" --nj "${nj}" --no-progress --out "${datadir}/synthetic_mono_grid"
      for d in "${datadir}"/synthetic_mono_grid/*_mono_*/; do
        d=${d%/}; cs-prepare validate "${d}" --out "${datadir}/$(basename "${d}")"
      done
    fi
    mark_done "${expdir}/.done/stage1" "${train_pairs}" "${test_pairs}" "${st_pairs}" "${mono_langs}" "${lors_grid_langs}" "${utts_per_pair}" db.sh local/data.sh
  fi
fi

for d in "${all_sets[@]}"; do
  if [ "${stage}" -gt 1 ] && [ ! -f "${d}/wav.scp" ]; then
    die "data dir ${d} is missing (listed by --train_pairs/--test_pairs/--test_sets); run stage 1"
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
    ${train_cmd} "${expdir}/log/feats.log" python -m espnet_cs_ext.bin.recipe_tools dump-feats ${todo}
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
  if [ -n "${lors_grid_langs}" ]; then  # pooled after prepare-text: each utterance keeps its prompt
    while read -r name _ trs dvs; do
      [[ "${trs}" == *,* ]] || continue
      IFS=, read -ra t <<< "${trs}"; IFS=, read -ra v <<< "${dvs}"
      t=("${t[@]/#/${datadir}/}"); v=("${v[@]/#/${datadir}/}")
      up_to_date "${datadir}/train_${name}/.done" "${t[@]}" "${v[@]}" && continue
      cs-prepare combine "${datadir}/train_${name}" "${t[@]}"
      cs-prepare combine "${datadir}/dev_${name}" "${v[@]}"
      mark_done "${datadir}/train_${name}/.done" "${t[@]}" "${v[@]}"
    done < <(python -m espnet_cs_ext.bin.lors_grid systems --langs "${lors_grid_langs}")
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

stats_dir() { echo "${expdir}/stats/$(basename "$1")_$([ "${use_feats}" = true ] && echo feats || echo raw)"; }
espnet_args_for() {  # espnet_args_for TRAIN DEV: the ESPnet options every stage-5 run shares
  echo --token_list "${token_list}" --use_preprocessor true --ngpu "${ngpu}" --input_size "${input_size}" \
    --encoder_conf whisper_model="${whisper_model}" --decoder_conf whisper_model="${whisper_model}" \
    $(data_args train "$1") $(data_args valid "$2")
}
# Shape statistics depend only on the data (Whisper configs use normalize: null), so every
# system trained on the same train/dev dirs shares one collect_stats run, and a per-pair
# dir whose entries are verbatim those of train_all gets its shape files cut from the
# pooled run (recipe_tools subset-stats) instead of another ~25 s espnet2 start-up.
ensure_stats() {  # ensure_stats TRAIN DEV CONFIG
  local tr=$1 dv=$2 config=$3 stats pooled
  stats=$(stats_dir "${tr}"); pooled=$(stats_dir "${datadir}/train_all")
  up_to_date "${stats}/.done" "${tr}" "${dv}" "${use_feats}" && return 0
  if [ "${tr}" != "${datadir}/train_all" ] \
     && up_to_date "${pooled}/.done" "${datadir}/train_all" "${datadir}/dev_all" "${use_feats}" \
     && python -m espnet_cs_ext.bin.recipe_tools subset-stats --pooled-stats "${pooled}" \
          --train "${tr}" "${datadir}/train_all" --valid "${dv}" "${datadir}/dev_all" --out "${stats}"; then
    log "  shape files of ${tr} cut from ${pooled}"
  else
    ${train_cmd} "${stats}/stats.log" python -m espnet_cs_ext.bin.asr_train --config "${config}" \
      $(espnet_args_for "${tr}" "${dv}") --collect_stats true --output_dir "${stats}" \
      --train_shape_file "${tr}/text" --valid_shape_file "${dv}/text"
  fi
  mark_done "${stats}/.done" "${tr}" "${dv}" "${use_feats}"
}

if run_stage 5; then
  log "Stage 5: fine-tuning through ESPnet (whisper_cs): ${systems[*]} -> ${expdir}/asr_<system>/"
  input_size=1; [ "${use_feats}" = true ] && input_size=80
  # the pooled data's statistics first: the per-pair systems' shape files are cut from them
  for sys in "${systems[@]}"; do
    [ "${sys}" = ft_all ] && [ -d "${datadir}/train_all" ] \
      && ensure_stats "${datadir}/train_all" "${datadir}/dev_all" "${asr_all_config}"
  done
  for sys in "${systems[@]}"; do
    # ft_<pair>: one seen pair; ft_all: pooled ERM; dg_<alg>: a DG algorithm on all pairs;
    # st_<pair>: X->en speech translation; asyncswitch: the three-stage AsyncSwitch driver.
    entry=espnet_cs_ext.bin.asr_train; extra=()
    if [ -n "${grid_kind[${sys}]:-}" ]; then   # LoRS grid: asr_<l> st_<l>-en mlasr mlst mt_<l> mlmt
      pair=${grid_pair[${sys}]}
      case "${grid_kind[${sys}]}" in asr) config=${asr_config} ;; *) config=${st_config} ;; esac
    else
    case "${sys}" in
      asyncswitch) pair=all; config=${asyncswitch_conf_dir}/stage_b.yaml ;;
      ft_all) pair=all; config=${asr_all_config} ;;
      ft_*) pair=${sys#ft_}; config=${asr_config} ;;
      st_*) pair=st_${sys#st_}; config=${st_config} ;;   # X->en ST: prompt <|x|> <|translate|>
      dg_*) pair=all; config=${dg_config_dir}/train_${sys#dg_}.yaml; entry=espnet_cs_ext.bin.asr_train_dg
            extra=(--dg_domains ${train_pairs}) ;;
    esac
    fi
    [ -f "${config}" ] || die "no training config ${config} for system ${sys}"
    tr=${datadir}/train_${pair}; dv=${datadir}/dev_${pair}; out=${expdir}/asr_${sys}
    inputs=("${tr}" "${dv}" "${config}" "${whisper_model}" "${use_feats}" "${asr_args}")
    texts=()
    if [ "${sys}" = asyncswitch ]; then  # stage A's code-switched text (local/data.sh writes it)
      for p in ${train_pairs}; do texts+=("${datadir}/synthetic/cs_text/${p}.txt"); done
      inputs+=("${asyncswitch_conf_dir}" "${asyncswitch_sweep}" "${texts[@]}")
    fi
    if up_to_date "${out}/.done" "${inputs[@]}"; then log "  ${sys}: up to date"; continue; fi
    log "  ${sys}: ${tr} -> ${out}"
    espnet_args=($(espnet_args_for "${tr}" "${dv}"))
    common=(--config "${config}" "${espnet_args[@]}")
    ensure_stats "${tr}" "${dv}" "${config}"
    stats=$(stats_dir "${tr}")
    if [ "${sys}" = asyncswitch ]; then
      # A: decoder LM on text only (zero encoder output) -> B: cross-attention on speech ->
      # C: everything -> I: interpolation with the original Whisper (ratio 0.4; the sweep
      # adds 0.2 0.6 0.8). The driver keeps per-stage markers and resumes by itself.
      for t in "${texts[@]}"; do [ -s "${t}" ] || die "asyncswitch: no code-switched text ${t} (local/data.sh writes it for synthetic pairs)"; done
      ${train_cmd} "${out}/asyncswitch.log" python -m espnet_cs_ext.bin.asyncswitch run \
        --out "${out}" --conf-dir "${asyncswitch_conf_dir}" --whisper-model "${whisper_model}" \
        $(printf -- '--text %s ' "${texts[@]}") --stats-dir "${stats}" --ratios 0.4 \
        $([ "${asyncswitch_sweep}" = true ] && echo --sweep) --no-progress -- "${espnet_args[@]}" ${asr_args}
      [ -f "${out}/latest.pth" ] || die "asyncswitch left no ${out}/latest.pth; see ${out}/asyncswitch.log"
      mark_done "${out}/.done" "${inputs[@]}"
      continue
    fi
    # Distributed training: ESPnet spawns one process per GPU itself (--ngpu N); on CPU
    # torchrun starts --num_procs ranks that ESPnet joins through the env (gloo). ESPnet's
    # batch_size is the global batch, split over ranks. On a Slurm cluster with several
    # nodes: CS_SLURM_OPTS="--nodes=2 --ntasks-per-node=1" and --dist_launcher slurm.
    run=(python -m "${entry}"); dist=(); cmd=${train_cmd}
    if [ "${ngpu}" -gt 1 ]; then
      dist=(--multiprocessing_distributed true)
    elif [ "${num_procs}" -gt 1 ]; then
      run=(torchrun --standalone --nproc_per_node "${num_procs}" -m "${entry}")
      dist=(--multiprocessing_distributed false --dist_backend gloo)
      cmd="${cmd} --num-threads ${num_procs}"
    fi
    [ "${ngpu}" -gt 0 ] && cmd="${cuda_cmd} --gpu ${ngpu}"
    ${cmd} "${out}/train.log" "${run[@]}" "${common[@]}" "${extra[@]}" "${dist[@]}" \
      --output_dir "${out}" --resume true \
      --train_shape_file "${stats}/train/speech_shape" \
      --valid_shape_file "${stats}/valid/speech_shape" ${asr_args}
    [ -f "${out}/latest.pth" ] || die "training of ${sys} left no ${out}/latest.pth; see ${out}/train.log"
    mark_done "${out}/.done" "${inputs[@]}"
  done
fi

merged_list=${expdir}/merge/systems.txt
if run_stage 6; then
  log "Stage 6: merging: ${merge_config} over ${systems[*]} -> ${expdir}/merge/<name>/"
  merge_list=${merge_config}
  if [ -n "${lors_grid_langs}" ]; then  # the grid's merges (Tables 1-4) join the main list
    merge_list=${expdir}/lors_grid/merge.yaml
    python -m espnet_cs_ext.bin.lors_grid merges --langs "${lors_grid_langs}" --methods "${lors_grid_methods}" \
      --include "${merge_config}" --out "${merge_list}"
  fi
  python -m espnet_cs_ext.bin.plan_merges --config "${merge_list}" --expdir "${expdir}" \
    --base "${whisper_model}" --train_pairs "${train_pairs}" --systems "${systems[*]}" --out "${expdir}/merge"
  # "name config base model..." lines: a merge reruns when its config or an input model changed
  while read -r name cfg inputs; do
    out=${expdir}/merge/${name}/model.pt
    for m in ${inputs}; do
      [ -f "${m}" ] || die "merge ${name} needs ${m}, which does not exist; run stage 5 (or drop it from ${merge_config})"
    done
    if up_to_date "${expdir}/merge/${name}/.done" "${cfg}" ${inputs}; then log "  ${name}: up to date"; continue; fi
    ${train_cmd} "${expdir}/merge/${name}/merge.log" cs-merge "${cfg}" "${out}"
    mark_done "${expdir}/merge/${name}/.done" "${cfg}" ${inputs}
  done < "${merged_list}"
fi

# Every decodable model: "name spec" lines (pretrained, fine-tuned, merged).
model_list() {
  echo "pretrained ${whisper_model}"
  for sys in "${systems[@]}"; do echo "${sys} ${expdir}/asr_${sys}/latest.pth"; done
  if [ "${asyncswitch}" = true ] && [ "${asyncswitch_sweep}" = true ]; then
    for r in 0.2 0.6 0.8; do echo "asyncswitch_r${r} ${expdir}/asr_asyncswitch/interp_${r}/model.pt"; done
  fi
  if [ -f "${merged_list}" ]; then
    while read -r name _; do echo "${name} ${expdir}/merge/${name}/model.pt"; done < "${merged_list}"
  fi
}

if run_stage 7; then
  log "Stage 7: decoding: every model x {${test_pairs}${st_pairs:+ st_${st_pairs// / st_}}${mono_langs:+ mono}} with ${inference_config} -> ${expdir}/decode/<model>/<test>/text"
  device=cpu; [ "${gpu_inference}" = true ] && device=cuda
  # One array job over every (model, shard) with work left: a cluster runs them all at
  # once. Each job decodes all pending test sets of its model, loading the model once.
  # The table's name carries a hash of its content, so --skip-done never reuses a log of
  # another table's job under the same index.
  jobs=(); pending=()
  while read -r name spec; do
    [ "${name}" = pretrained ] || [ -f "${spec}" ] || die "model ${name} has no ${spec}; run stages 5-6"
    todo_data=(); todo_out=()
    for d in $(sets_of "${name}"); do
      out=${expdir}/decode/${name}/$(basename "${d}")
      up_to_date "${out}/.done" "${spec}" "${d}/text" "${inference_config}" "${padded_models}" && continue
      todo_data+=("${d}"); todo_out+=("${out}")
    done
    [ "${#todo_data[@]}" -gt 0 ] || continue
    log "  ${name}: ${spec} x ${#todo_data[@]} test sets"
    pad=""
    set -f  # the patterns are matched against model names, not expanded as file globs
    for g in ${padded_models}; do if [[ "${name}" == ${g} ]]; then pad=" --pad-to-30s true"; fi; done
    set +f
    for j in $(seq 1 "${inference_nj}"); do
      jobs+=("--model ${spec} --data ${todo_data[*]} --out ${todo_out[*]} --nj ${inference_nj} --job ${j}${pad}")
    done
    pending+=("${spec}|${todo_data[*]}|${todo_out[*]}")
  done < <(model_list)
  if [ "${#jobs[@]}" -gt 0 ]; then
    mkdir -p "${expdir}/decode/log"
    table=${expdir}/decode/log/jobs.$(printf '%s\n' "${jobs[@]}" | sha1sum | cut -c1-10).txt
    printf '%s\n' "${jobs[@]}" > "${table}.tmp" && mv "${table}.tmp" "${table}"
    log "  ${#jobs[@]} decoding jobs (${table})"
    ${decode_cmd} JOB=1:"${#jobs[@]}" "${expdir}/decode/log/decode.JOB.log" \
      python -m espnet_cs_ext.bin.decode --job-table "${table}" --job-index JOB \
      --whisper-dims-from "${whisper_model}" --config "${inference_config}" --device "${device}" --no-progress
    all_data=(); all_out=()
    for p in "${pending[@]}"; do
      IFS='|' read -r spec data outs <<< "${p}"; all_data+=(${data}); all_out+=(${outs})
    done
    # every utterance exactly once per test set, checked while concatenating the shards
    python -m espnet_cs_ext.bin.decode --merge-shards "${inference_nj}" --data "${all_data[@]}" --out "${all_out[@]}"
    for p in "${pending[@]}"; do
      IFS='|' read -r spec data outs <<< "${p}"
      read -ra todo_data <<< "${data}"; read -ra todo_out <<< "${outs}"
      for i in "${!todo_data[@]}"; do
        mark_done "${todo_out[$i]}/.done" "${spec}" "${todo_data[$i]}/text" "${inference_config}" "${padded_models}"
      done
    done
  fi
fi

mav_dir=${expdir}/mav
write_results() {  # RESULTS.md from the score files (+ stage 9's MAV summary when it exists)
  local extra=()
  [ -f "${mav_dir}/summary.md" ] && extra=(--extra "${mav_dir}/summary.md")
  python -m espnet_cs_ext.bin.make_report --expdir "${expdir}" --datadir "${datadir}" \
    --train_pairs "${train_pairs}" --test_pairs "${test_pairs}" \
    --st_pairs "${st_pairs}" --mono_langs "${mono_langs}" "${extra[@]}" \
    --whisper_model "${whisper_model}" --models <(report_models) --out "${results}"
}
report_inputs() { report_models; echo "${test_pairs}|${st_pairs}|${mono_langs}"; cat "${mav_dir}/summary.md" 2>/dev/null || true; }

if run_stage 8; then
  log "Stage 8: scoring (MER) and report: ${expdir}/decode/*/*/text -> ${results}"
  # one process scores every (model, set) pair whose .done is stale: REF HYP OUT METRIC
  score_jobs=${expdir}/decode/log/score_jobs.txt; mkdir -p "${expdir}/decode/log"
  while read -r name _; do
    for d in $(sets_of "${name}"); do
      out=${expdir}/decode/${name}/$(basename "${d}")
      [ -f "${out}/text" ] || die "no hypotheses ${out}/text; run stage 7"
      case "$(basename "${d}")" in  # ST sets: BLEU/chrF (sacrebleu); everything else: MER
        test_st_*) echo "${d}/text ${out}/text ${out}/score bleu" ;;
        *) echo "${d}/text ${out}/text ${out}/score mer:${score_preset}" ;;
      esac
    done
  done < <(model_list) > "${score_jobs}.tmp"
  mv "${score_jobs}.tmp" "${score_jobs}"
  score_force=(); [ "${force}" = true ] && score_force=(--force)
  scored=$(python -m espnet_cs_ext.bin.recipe_tools score "${score_jobs}" "${score_force[@]}" | tail -n 1)
  log "Stage 8: ${scored} (${score_jobs})"
  rescored=true; [ "${scored#rescored 0 }" != "${scored}" ] && rescored=false
  if [ "${rescored}" = false ] && [ -f "${results}" ] && [ "${force}" != true ] \
     && up_to_date "${expdir}/.done/report" "$(report_inputs)"; then
    log "Stage 8: up to date, ${results} kept"
  else
    write_results
    mark_done "${expdir}/.done/report" "$(report_inputs)"
  fi
  log "Stage 8: wrote ${results}"
  if [ -n "${lors_grid_langs}" ]; then
    python -m espnet_cs_ext.bin.lors_grid report --expdir "${expdir}" --langs "${lors_grid_langs}" \
      --methods "${lors_grid_methods}" --out "${lors_results}"
    log "Stage 8: wrote ${lors_results}"
  fi
fi
if run_stage 9; then
  # Layer-wise parameter change (arXiv 2606.05846 section 4, figures 1-3): per block and
  # projection matrix, the % of rows whose mean |W_ft - W_base| exceeds ${mav_threshold},
  # for every trained system, their overlap, and heatmaps linked from RESULTS.md.
  log "Stage 9: MAV analysis: ${systems[*]} vs ${whisper_model} -> ${mav_dir}/ (linked from ${results})"
  mav_models=(); mav_inputs=()
  for sys in "${systems[@]}"; do
    [ -n "${grid_only[${sys}]:-}" ] && continue
    f=${expdir}/asr_${sys}/latest.pth
    [ -f "${f}" ] || die "stage 9: ${sys} has no ${f}; run stage 5"
    mav_models+=("${sys}=${f}"); mav_inputs+=("${f}")
  done
  if up_to_date "${mav_dir}/.done" "${mav_inputs[@]}" "${whisper_model}" "${mav_threshold}"; then
    log "Stage 9: up to date"
  else
    ${train_cmd} "${mav_dir}/mav.log" cs-mav --base "${whisper_model}" --finetuned "${mav_models[@]}" \
      --out "${mav_dir}" --threshold "${mav_threshold}" --link-root "$(dirname "${results}")" -q
    mark_done "${mav_dir}/.done" "${mav_inputs[@]}" "${whisper_model}" "${mav_threshold}"
  fi
  if [ -f "${results}" ] && ! up_to_date "${expdir}/.done/report" "$(report_inputs)"; then
    write_results
    mark_done "${expdir}/.done/report" "$(report_inputs)"
    log "Stage 9: ${results} now links ${mav_dir}/summary.md's figures"
  fi
fi

if run_stage 10; then
  log "Stage 10: pack: --pack_model <system> -> ${expdir}/packed/<system>.zip (espnet_model_zoo layout)"
  [ -n "${pack_model}" ] || die "stage 10 needs --pack_model \"<system> ...\" or all (systems: $(model_list | cut -d' ' -f1 | paste -sd' '))"
  names=${pack_model}; [ "${names}" = all ] && names=$(model_list | cut -d' ' -f1)
  for name in ${names}; do
    spec=$(model_list | awk -v n="${name}" '$1 == n {print $2}')
    [ -n "${spec}" ] || die "unknown system ${name} for --pack_model (systems: $(model_list | cut -d' ' -f1 | paste -sd' '))"
    # Stage-5 systems carry their config; merged ones find it via model.pt.merge.yaml;
    # pretrained Whisper borrows a fine-tuned system's config and is decoded padded (as in stage 7).
    opts=(--tag "${name}"); [ -f "${results}" ] && opts+=(--results "${results}")
    [ "${bundle_whisper}" = true ] && opts+=(--bundle_whisper)
    case "${name}" in
      pretrained) opts+=(--asr_train_config "${expdir}/asr_${systems[0]}/config.yaml" --do_pad_trim true) ;;
      *) if [ -f "${expdir}/asr_${name}/config.yaml" ]; then opts+=(--asr_train_config "${expdir}/asr_${name}/config.yaml"); fi ;;
    esac
    out=${expdir}/packed/${name}.zip
    if up_to_date "${expdir}/packed/.${name}.done" "${spec}" "${opts[@]}"; then log "  ${name}: up to date"; continue; fi
    python -m espnet_cs_ext.bin.pack_model --asr_model_file "${spec}" "${opts[@]}" --out "${out}"
    mark_done "${expdir}/packed/.${name}.done" "${spec}" "${opts[@]}"
  done
  # Upload stays opt-in and by hand:
  #   python -m espnet_cs_ext.bin.pack_model ... --upload_dir exp/packed/<system>
  #   hf upload <user>/<repo> exp/packed/<system> . --repo-type model
fi
log "Finished stages ${stage}-${stop_stage}"
