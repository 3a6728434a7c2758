# Stage 7 of cs_unseen.sh (sourced by it): which (model, test set) pairs still need
# decoding, as one job table for one array launch, and what follows the launch.

plan_decoding() {  # sets jobs (one line per (model, shard)), pending (per model) and table
  local name spec d out todo_data todo_out pad g j
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
  [ "${#jobs[@]}" -gt 0 ] || return 0
  # The table's name carries a hash of its content, so --skip-done never reuses a log of
  # another table's job under the same index.
  mkdir -p "${expdir}/decode/log"
  table=${expdir}/decode/log/jobs.$(printf '%s\n' "${jobs[@]}" | sha1sum | cut -c1-10).txt
  printf '%s\n' "${jobs[@]}" > "${table}.tmp" && mv "${table}.tmp" "${table}"
}

finish_decoding() {  # after the launch: concatenate the shards, mark each (model, set) done
  local p spec data outs all_data=() all_out=() todo_data todo_out i
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
}
