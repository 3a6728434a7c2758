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
# The systems come from one table (espnet_cs_ext/recipe/systems.py); stage helpers live in
# local/stage_lib.sh, stage 5's in local/train_lib.sh, stage 7's in local/decode_lib.sh,
# and the LoRS grid (--lors_grid_langs) in local/lors_grid.sh. Jobs go through cmd.sh's
# ${train_cmd} / ${decode_cmd} ([JOB=1:N] LOG CMD..., as ESPnet's run.pl takes them).
set -euo pipefail

# the caller's file and line (cs_unseen.sh or one of the stage libraries in local/)
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*"; }
die() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) ERROR: $*" >&2; exit 1; }

# Options (all settable as --name value).
stage=1
stop_stage=9
skip_stages=""
force=false
ngpu=0                   # GPUs per training job; > 1: ESPnet's DDP, one process per GPU (NCCL)
num_procs=1              # CPU training processes per model (> 1: DDP through torchrun, gloo backend)
train_jobs=1             # stage 5: systems trained at once (locally each gets cores/N threads;
                         # on Slurm, N jobs in flight)
nj=2                     # parallel jobs for data/feature stages
inference_nj=2           # decoding shards per model x test set
gpu_inference=false      # decode on cuda
whisper_model=base       # any spec espnet_cs_ext.whisper accepts
train_pairs="ko-en ja-en de-en"
test_pairs="ko-en ja-en de-en ko-ja ko-de"
languages=""             # every pair of these languages is a test pair, e.g. "en de ja ko fr es it"
                         # (replaces --test_pairs; "--test_pairs all": every pair of the train languages)
test_sets=""             # ESPnet's name: data dirs to evaluate, "test_<pair> ... test_mono_<lang> ...";
                         # when given, it replaces --test_pairs and --mono_langs
train_all=true           # also train one model on all seen pairs (ERM)
dg_algorithms=""         # DG systems on all seen pairs, e.g. "fish fishr gga_l" (espnet_cs_ext.dg)
dg_config_dir=conf/tuning/dg    # <dir>/base.yaml + optional <dir>/<algorithm>.yaml overrides per DG system
asyncswitch=false        # AsyncSwitch system (arXiv 2506.14190): text-only decoder LM -> cross-attn -> all -> interpolate
asyncswitch_conf_dir=conf/tuning/asyncswitch/demo  # stage_{a,b,c}.yaml
asyncswitch_sweep=false  # also decode interpolation ratios 0.2 0.4 0.6 0.8 (asyncswitch_r<ratio> rows)
st_pairs=""              # X->en speech translation pairs, e.g. "de-en": system st_<pair>, BLEU on test_st_<pair>
mono_langs=""            # monolingual test sets test_mono_<lang> (forgetting check), e.g. "en de ja ko"
utts_per_pair=""         # synthetic corpus size (empty: local/data.sh default)
asr_config=conf/train_asr.yaml       # ESPnet default name: a symlink to conf/tuning/demo/train_pair.yaml
asr_all_config=conf/tuning/demo/train_all.yaml
asr_args=""              # extra ESPnet training options for every stage-5 run, last on the command line,
                         # e.g. "--use_amp true" (GPU mixed precision: bf16 where the GPU has it, else fp16)
st_config=conf/tuning/st/demo_train_st.yaml   # training config of the st_<pair> systems
lors_grid_langs=""       # LoRS-Merging grid (arXiv 2502.17380 Tables 1-4) over these X->en languages, e.g. "de ja"
lors_grid_methods=conf/tuning/lors_grid/methods.yaml  # merge settings of the grid (WA, TA, MP, SVP, LoRS)
lors_results=RESULTS_lors.md                   # the grid's report (stage 8)
inference_config=conf/decode_asr.yaml  # a symlink to conf/tuning/decode/greedy.yaml
# Models decoded with Whisper's 30 s padding although they are not pretrained: those that
# keep much of the original Whisper (AsyncSwitch's interpolation at r=0.4, merges that copy
# blocks from base). Stage-5 training is unpadded (do_pad_trim: false), the original is not:
# unpadded, such models hallucinate (measured: AsyncSwitch mono ja MER 5.0 vs 0.03 padded).
padded_models="asyncswitch asyncswitch_r* *mavlayers*"
merge_config=conf/tuning/demo/merge.yaml
use_feats=true           # train/decode on stage-3 features instead of raw audio
score_preset=default     # cs-score preset: default (corpus MER, both sides normalised) | hike | ...
datadir=data
expdir=exp
results=RESULTS.md       # the report (stage 8); its plot goes beside it
mav_threshold=5e-5       # stage 9: a row counts as updated when its mean |delta| exceeds this
pack_model=""            # stage 10: systems to pack (ft_ko-en, ties_ko-en+ja-en, pretrained, ...) or "all"
bundle_whisper=false     # stage 10: also pack the Whisper checkpoint a name like "base" resolves to
keep_checkpoints=false   # keep ESPnet's checkpoint.pth (optimizer state) of trained systems

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) sed -n '2,15p' "$0"; grep -E '^[a-z_]+=.*' "$0" | sed 's/^/  --/'; exit 0 ;;
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
if [ -n "${languages}" ] || [ "${test_pairs}" = all ]; then  # names and order: espnet_cs_ext/recipe/pairs.py
  test_pairs=$(python -m espnet_cs_ext.bin.recipe_tools all-pairs --languages "${languages}" --train_pairs "${train_pairs}") \
    || die "could not make the test pairs of --languages '${languages}'"
fi
. ./cmd.sh
mkdir -p "${expdir}/.done" "${expdir}/log"
exec 9>>"${expdir}/.run.lock"  # one run per exp dir (held while this shell and its jobs live)
python -m espnet_cs_ext.utils.runlock --fd 9 "${expdir}" || exit 2
. local/stage_lib.sh   # run_stage, up_to_date, mark_done, pending, mark_dirs


train_sets=(); dev_sets=(); test_sets=()
for p in ${train_pairs}; do train_sets+=("${datadir}/train_${p}"); dev_sets+=("${datadir}/dev_${p}"); done
for p in ${test_pairs}; do test_sets+=("${datadir}/test_${p}"); done
st_sets=(); for p in ${st_pairs}; do st_sets+=("${datadir}/train_st_${p}" "${datadir}/dev_st_${p}"); done
for p in ${st_pairs}; do test_sets+=("${datadir}/test_st_${p}"); done
for l in ${mono_langs}; do test_sets+=("${datadir}/test_mono_${l}"); done
# The system table (espnet_cs_ext/recipe/systems.py): name kind train dev config grid_only dg_algorithm.
table=$(python -m espnet_cs_ext.bin.recipe_tools systems --train_pairs "${train_pairs}" --train_all "${train_all}" \
  --dg_algorithms "${dg_algorithms}" --st_pairs "${st_pairs}" --asyncswitch "${asyncswitch}" \
  --lors_grid_langs "${lors_grid_langs}" --asr_config "${asr_config}" --asr_all_config "${asr_all_config}" \
  --st_config "${st_config}" --dg_config_dir "${dg_config_dir}" --asyncswitch_conf_dir "${asyncswitch_conf_dir}") \
  || die "could not build the system table (recipe_tools systems)"
systems=(); declare -A sys_kind=() sys_train=() sys_dev=() sys_config=() grid_only=() sys_alg=()
while read -r name kind tr dv cfg only alg; do
  systems+=("${name}"); sys_kind[${name}]=${kind}; sys_config[${name}]=${cfg}; sys_alg[${name}]=${alg}
  sys_train[${name}]=${datadir}/${tr}; sys_dev[${name}]=${datadir}/${dv}
  if [ "${only}" = 1 ]; then grid_only[${name}]=1; fi
done <<< "${table}"
. local/lors_grid.sh   # the LoRS grid's data dirs, test sets, merges and report
. local/train_lib.sh   # stage 5: train_system
. local/decode_lib.sh  # stage 7: plan_decoding, finish_decoding
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
    grid_data
    mark_done "${expdir}/.done/stage1" "${train_pairs}" "${test_pairs}" "${st_pairs}" "${mono_langs}" "${lors_grid_langs}" "${utts_per_pair}" db.sh local/data.sh
  fi
fi

for d in "${all_sets[@]}"; do
  if [ "${stage}" -gt 1 ] && [ ! -f "${d}/wav.scp" ]; then
    die "data dir ${d} is missing (listed by --train_pairs/--test_pairs/--test_sets); run stage 1"
  fi
done


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
    python -m espnet_cs_ext.bin.cs_prepare combine "${datadir}/train_all" "${train_sets[@]}"
    python -m espnet_cs_ext.bin.cs_prepare combine "${datadir}/dev_all" "${dev_sets[@]}"
    mark_done "${datadir}/train_all/.done" "${train_sets[@]}" "${dev_sets[@]}"
  fi
  grid_pool
  if [ ! -s "${token_list}" ]; then
    mkdir -p "$(dirname "${token_list}")"
    python -m espnet2.bin.whisper_export_vocabulary --whisper_model whisper_multilingual \
      --output "${token_list}.tmp" && mv "${token_list}.tmp" "${token_list}"
  fi
fi

if run_stage 5; then
  log "Stage 5: fine-tuning through ESPnet (whisper_cs): ${systems[*]} -> ${expdir}/asr_<system>/"
  # the pooled data's statistics first: the per-pair systems' shape files are cut from them
  if [ -n "${sys_kind[ft_all]:-}" ] && [ -d "${datadir}/train_all" ]; then
    ensure_stats "${datadir}/train_all" "${datadir}/dev_all" "${asr_all_config}"
  fi
  train_systems "${systems[@]}"
fi

merged_list=${expdir}/merge/systems.txt
if run_stage 6; then
  log "Stage 6: merging: ${merge_config} over ${systems[*]} -> ${expdir}/merge/<name>/"
  merge_list=$(grid_merge_list)
  python -m espnet_cs_ext.bin.plan_merges --config "${merge_list}" --expdir "${expdir}" \
    --base "${whisper_model}" --train_pairs "${train_pairs}" --systems "${systems[*]}" --out "${expdir}/merge"
  # "name config base model..." lines: a merge reruns when its config or an input model changed
  while read -r name cfg inputs; do
    out=${expdir}/merge/${name}/model.pt
    for m in ${inputs}; do
      [ -f "${m}" ] || die "merge ${name} needs ${m}, which does not exist; run stage 5 (or drop it from ${merge_config})"
    done
    if up_to_date "${expdir}/merge/${name}/.done" "${cfg}" ${inputs}; then log "  ${name}: up to date"; continue; fi
    ${train_cmd} "${expdir}/merge/${name}/merge.log" python -m espnet_cs_ext.bin.cs_merge "${cfg}" "${out}"
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
  plan_decoding
  if [ "${#jobs[@]}" -gt 0 ]; then
    log "  ${#jobs[@]} decoding jobs (${table})"
    ${decode_cmd} JOB=1:"${#jobs[@]}" "${expdir}/decode/log/decode.JOB.log" \
      python -m espnet_cs_ext.bin.decode --job-table "${table}" --job-index JOB \
      --whisper-dims-from "${whisper_model}" --config "${inference_config}" --device "${device}" --no-progress
    finish_decoding
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
        *) echo "${d}/text ${out}/text ${out}/score mer:${score_preset}"  # + ESPnet's score_wer name:
           ln -sfn score "${out}/score_wer" ;;  # show_asr_result.sh reads exp/*/*/score_wer/result.txt
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
  grid_report
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
    ${train_cmd} "${mav_dir}/mav.log" python -m espnet_cs_ext.bin.cs_mav --base "${whisper_model}" --finetuned "${mav_models[@]}" \
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
