# The LoRS-Merging grid (--lors_grid_langs, arXiv 2502.17380 Tables 1-4), sourced by
# cs_unseen.sh after the system table is read. Its training systems (asr_<l> st_<l>-en
# mlasr mlst mt_<l> mlmt) are rows of that table (espnet_cs_ext/recipe/systems.py); this
# file adds the rest: the data dirs they need, their test sets, the grid's merges and
# its report. Grid-only models (grid systems and lg* merges) are decoded on the grid's
# test sets only and reported in ${lors_results}, not in ${results}. Every function is a
# no-op without --lors_grid_langs.
grid_tool() { python -m espnet_cs_ext.bin.lors_grid "$1" --langs "${lors_grid_langs}" "${@:2}"; }
grid_dirs=(); grid_sets=()
if [ -n "${lors_grid_langs}" ]; then
  grid_table=$(grid_tool systems) && [ -n "${grid_table}" ] || die "lors_grid systems --langs '${lors_grid_langs}' failed or printed nothing"
  while read -r _ _ trs dvs; do
    for d in ${trs//,/ } ${dvs//,/ }; do grid_dirs+=("${datadir}/${d}"); done
  done <<< "${grid_table}"
  while read -r set _; do grid_sets+=("${datadir}/${set}"); done < <(grid_tool test-sets)
  for d in "${grid_sets[@]}"; do [[ " ${test_sets[*]} " == *" ${d} "* ]] || test_sets+=("${d}"); done
  while read -r m; do case "${m}" in lg[0-9]*) grid_only[${m}]=1 ;; esac; done < <(grid_tool models)
fi

grid_data() {  # stage 1: the grid also trains on monolingual ASR sets
  [ -n "${lors_grid_langs}" ] || return 0
  python -m espnet_cs_ext.bin.cs_prepare synthetic-mono --langs "$(echo ${lors_grid_langs} | tr ' ' ,)" \
    --splits train,dev,test --utts-per-lang "${utts_per_pair:-200}" --nj "${nj}" --no-progress \
    --out "${datadir}/synthetic_mono_grid"
  local d
  for d in "${datadir}"/synthetic_mono_grid/*_mono_*/; do
    d=${d%/}; python -m espnet_cs_ext.bin.cs_prepare validate "${d}" --out "${datadir}/$(basename "${d}")"
  done
}

grid_pool() {  # stage 4, after prepare-text (each utterance keeps its prompt): pooled grid dirs
  [ -n "${lors_grid_langs}" ] || return 0
  local name trs dvs t v
  while read -r name _ trs dvs; do
    [[ "${trs}" == *,* ]] || continue
    IFS=, read -ra t <<< "${trs}"; IFS=, read -ra v <<< "${dvs}"
    t=("${t[@]/#/${datadir}/}"); v=("${v[@]/#/${datadir}/}")
    up_to_date "${datadir}/train_${name}/.done" "${t[@]}" "${v[@]}" && continue
    python -m espnet_cs_ext.bin.cs_prepare combine "${datadir}/train_${name}" "${t[@]}"
    python -m espnet_cs_ext.bin.cs_prepare combine "${datadir}/dev_${name}" "${v[@]}"
    mark_done "${datadir}/train_${name}/.done" "${t[@]}" "${v[@]}"
  done <<< "${grid_table}"
}

grid_merge_list() {  # stage 6: the merge list to plan (the grid's merges join ${merge_config})
  if [ -z "${lors_grid_langs}" ]; then echo "${merge_config}"; return 0; fi
  grid_tool merges --methods "${lors_grid_methods}" --include "${merge_config}" \
    --out "${expdir}/lors_grid/merge.yaml" >&2
  echo "${expdir}/lors_grid/merge.yaml"
}

grid_report() {  # stage 8: ${lors_results}
  [ -n "${lors_grid_langs}" ] || return 0
  grid_tool report --expdir "${expdir}" --methods "${lors_grid_methods}" --out "${lors_results}"
  log "Stage 8: wrote ${lors_results}"
}
