# Job backends, Kaldi style: stages run `${train_cmd} LOG -- CMD` and
# `${decode_cmd} JOB=1:N LOG -- CMD`. Select with `export CS_BACKEND=local|slurm`.
#   local: jobs run on this machine, up to ${CS_MAX_PARALLEL:-2} at a time.
#   slurm: (issue 9) not wired yet; use local.
case "${CS_BACKEND:-local}" in
  local)
    export train_cmd="python -m espnet_cs_ext.bin.launch --max-parallel 1"
    export decode_cmd="python -m espnet_cs_ext.bin.launch --max-parallel ${CS_MAX_PARALLEL:-2}"
    ;;
  *)
    echo "cmd.sh: unknown CS_BACKEND '${CS_BACKEND}' (expected: local)" >&2
    return 1 2>/dev/null || exit 1
    ;;
esac
