# Stage 5 of cs_unseen.sh (sourced by it): ESPnet training of one system-table row
# (espnet_cs_ext/recipe/systems.py) through the whisper_cs plugin, and the shape
# statistics that training needs.

data_args() {  # data_args train|valid DIR: the arguments describing one data dir to ESPnet
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
  local input_size=1; [ "${use_feats}" = true ] && input_size=80
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

train_system() {  # train_system NAME: exp/asr_NAME/ from its system-table row, unless up to date
  local sys=$1 kind=${sys_kind[$1]} tr=${sys_train[$1]} dv=${sys_dev[$1]} config=${sys_config[$1]}
  local out=${expdir}/asr_$1 entry=espnet_cs_ext.bin.asr_train extra=() texts=() p
  [ -f "${config}" ] || die "no training config ${config} for system ${sys}"
  local inputs=("${tr}" "${dv}" "${config}" "${whisper_model}" "${use_feats}" "${asr_args}")
  [ "${kind}" = dg ] && inputs+=("${dg_config_dir}/${sys_alg[$1]}.yaml")  # its override file (optional)
  if [ "${kind}" = asyncswitch ]; then  # stage A's code-switched text (local/data.sh writes it)
    for p in ${train_pairs}; do texts+=("${datadir}/synthetic/cs_text/${p}.txt"); done
    inputs+=("${asyncswitch_conf_dir}" "${asyncswitch_sweep}" "${texts[@]}")
  fi
  if up_to_date "${out}/.done" "${inputs[@]}"; then log "  ${sys}: up to date"; return 0; fi
  log "  ${sys}: ${tr} -> ${out}"
  local espnet_args stats
  espnet_args=($(espnet_args_for "${tr}" "${dv}"))
  ensure_stats "${tr}" "${dv}" "${config}"
  stats=$(stats_dir "${tr}")
  if [ "${kind}" = asyncswitch ]; then
    train_asyncswitch
  else
    if [ "${kind}" = dg ]; then  # ESPnet takes one --config: base + overrides, resolved beside the output
      entry=espnet_cs_ext.bin.asr_train_dg; extra=(--dg_domains ${train_pairs}); config=${out}/dg_config.yaml
      python -m espnet_cs_ext.bin.recipe_tools dg-config --base "${sys_config[$1]}" --algorithm "${sys_alg[$1]}" \
        --conf_dir "${dg_config_dir}" --out "${config}" || die "could not resolve the DG config of ${sys}"
    fi
    train_espnet "${out}/train.log" --config "${config}" "${espnet_args[@]}" "${extra[@]}"
  fi
  [ -f "${out}/latest.pth" ] || die "training of ${sys} left no ${out}/latest.pth; see its log in ${out}/"
  python -m espnet_cs_ext.bin.recipe_tools slim-exp "${out}" --keep_checkpoints "${keep_checkpoints}"
  mark_done "${out}/.done" "${inputs[@]}"
}

# --train_jobs N: N systems at once, each a background subshell (train_system dies in
# its own subshell, so one failure does not stop the others; the stage fails after all
# finished, naming every failed system). Shape statistics are made first, one at a time,
# because systems share train dirs and so stats dirs. Locally each job gets cores/N
# threads (the launcher's slot rule, --max-jobs-run N), so N=1 and N=2 train with
# different thread counts and give models that differ in the last bits (docs/reproducibility.md).
train_systems() {  # train_systems SYSTEM...: stage 5
  local sys pids=() names=() failed=() i
  if [ "${train_jobs}" -le 1 ]; then
    for sys in "$@"; do train_system "${sys}"; done
    return 0
  fi
  for sys in "$@"; do
    [ -f "${sys_config[${sys}]}" ] || continue  # train_system names the missing config
    ensure_stats "${sys_train[${sys}]}" "${sys_dev[${sys}]}" "${sys_config[${sys}]}"
  done
  local train_cmd="${train_cmd} --max-jobs-run ${train_jobs}"
  for sys in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "${train_jobs}" ]; do wait -n || true; done
    ( train_system "${sys}" ) & pids+=($!); names+=("${sys}")
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done
  [ "${#failed[@]}" -eq 0 ] || die "stage 5: training failed for ${failed[*]} (logs: ${expdir}/asr_<system>/); the others finished"
}

# A: decoder LM on text only (zero encoder output) -> B: cross-attention on speech ->
# C: everything -> I: interpolation with the original Whisper (ratio 0.4; the sweep adds
# 0.2 0.6 0.8). The driver keeps per-stage markers and resumes by itself.
train_asyncswitch() {  # (train_system's locals: out texts stats espnet_args)
  local t
  for t in "${texts[@]}"; do [ -s "${t}" ] || die "asyncswitch: no code-switched text ${t} (local/data.sh writes it for synthetic pairs)"; done
  ${train_cmd} "${out}/asyncswitch.log" python -m espnet_cs_ext.bin.asyncswitch run \
    --out "${out}" --conf-dir "${asyncswitch_conf_dir}" --whisper-model "${whisper_model}" \
    $(printf -- '--text %s ' "${texts[@]}") --stats-dir "${stats}" --ratios 0.4 \
    $([ "${asyncswitch_sweep}" = true ] && echo --sweep) --no-progress -- "${espnet_args[@]}" ${asr_args}
}

# Distributed training: ESPnet spawns one process per GPU itself (--ngpu N); on CPU
# torchrun starts --num_procs ranks that ESPnet joins through the env (gloo). ESPnet's
# batch_size is the global batch, split over ranks. On a Slurm cluster with several
# nodes: CS_SLURM_OPTS="--nodes=2 --ntasks-per-node=1" and --dist_launcher slurm.
train_espnet() {  # train_espnet LOG ESPNET_ARGS... (train_system's locals: entry out stats)
  local log=$1 run=(python -m "${entry}") dist=() cmd=${train_cmd}; shift
  if [ "${ngpu}" -gt 1 ]; then
    dist=(--multiprocessing_distributed true)
  elif [ "${num_procs}" -gt 1 ]; then
    run=(torchrun --standalone --nproc_per_node "${num_procs}" -m "${entry}")
    dist=(--multiprocessing_distributed false --dist_backend gloo)
    cmd="${cmd} --num-threads ${num_procs}"
  fi
  [ "${ngpu}" -gt 0 ] && cmd="${cuda_cmd} --gpu ${ngpu}"
  ${cmd} "${log}" "${run[@]}" "$@" "${dist[@]}" --output_dir "${out}" --resume true \
    --train_shape_file "${stats}/train/speech_shape" \
    --valid_shape_file "${stats}/valid/speech_shape" ${asr_args}
}
