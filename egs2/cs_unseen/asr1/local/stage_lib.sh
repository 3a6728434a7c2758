# Stage helpers of cs_unseen.sh (sourced by it): stage selection and the `.done`
# markers that make every stage skip work whose inputs did not change.

run_stage() {  # run_stage N: true if stage N is selected
  [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ] && [[ " ${skip_stages} " != *" $1 "* ]]
}
up_to_date() {  # up_to_date MARKER INPUT...: skip work whose inputs did not change
  [ "${force}" = true ] && return 1
  python -m espnet_cs_ext.bin.stamp check "$@"
}
mark_done() { python -m espnet_cs_ext.bin.stamp done "$@"; }

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
