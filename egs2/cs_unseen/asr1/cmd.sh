# Job launchers, as in every ESPnet recipe: stages run
#   ${train_cmd} LOG CMD...              ${decode_cmd} JOB=1:N LOG.JOB CMD... JOB ...
# (Kaldi's run.pl / slurm.pl words; JOB is replaced by the task index in LOG and CMD).
# Select with `export CS_BACKEND=...` (or edit the default below):
#   local   python -m espnet_cs_ext.bin.launch: jobs on this machine, decode jobs up to
#           ${CS_MAX_PARALLEL:-2} at a time; each task's log starts with the command and
#           ends with `# exit <code>`, failed tasks' logs and last output lines are named.
#   slurm   the same launcher, one sbatch array job per call (sbatch/squeue/scontrol and a
#           shared file system: jobs run in this directory with this venv's Python).
#     CS_SLURM_OPTS     extra sbatch words for every job, e.g. "--partition=cpu --account=x"
#     CS_SLURM_MEM      memory per job (--mem), default 8G; CS_SLURM_TIME time limit, default 24:00:00
#     CS_SLURM_GPU_OPTS extra sbatch words for jobs asking --gpu N (cuda_cmd), e.g. "--partition=gpu"
#     CS_MAX_PARALLEL   decode tasks at once (--array=1-N%K); empty: as many as Slurm runs
#     CS_SLURM_POLL     seconds between squeue polls (default 5)
#   run.pl | slurm.pl | queue.pl   ESPnet's own launchers (utils/ of an ESPnet checkout,
#           on PATH through path.sh); add their options as usual, e.g.
#           CS_BACKEND="slurm.pl --config conf/slurm.conf".
#   A failed local/slurm launch can be rerun with `--skip-done` after the launcher: only
#   tasks whose log does not end in `# exit 0` for the same command run again.
#   Local test cluster: tools/slurm/start_local_slurm.sh DIR, then export SLURM_CONF=DIR/slurm.conf.
_cs_launch="python -m espnet_cs_ext.bin.launch"
case "${CS_BACKEND:-local}" in
  local)
    export train_cmd="${_cs_launch} --max-parallel 1"
    export cuda_cmd="${_cs_launch} --max-parallel 1"
    export decode_cmd="${_cs_launch} --max-parallel ${CS_MAX_PARALLEL:-2}"
    ;;
  slurm)
    _cs_slurm="${_cs_launch} --backend slurm --mem ${CS_SLURM_MEM:-8G} --time ${CS_SLURM_TIME:-24:00:00}"
    export train_cmd="${_cs_slurm}"
    export cuda_cmd="${_cs_slurm} --gpu 1"   # a later --gpu N on the same command line wins
    export decode_cmd="${_cs_slurm}${CS_MAX_PARALLEL:+ --max-parallel ${CS_MAX_PARALLEL}}"
    ;;
  run.pl*|slurm.pl*|queue.pl*)
    export train_cmd="${CS_BACKEND}"
    export cuda_cmd="${CS_BACKEND} --gpu 1"
    export decode_cmd="${CS_BACKEND}"
    ;;
  *)
    echo "cmd.sh: unknown CS_BACKEND '${CS_BACKEND}' (expected: local, slurm, run.pl, slurm.pl or queue.pl)" >&2
    return 1 2>/dev/null || exit 1
    ;;
esac
unset _cs_launch _cs_slurm
