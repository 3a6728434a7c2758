# Environment of every stage and job, ESPnet's layout: one OpenMP thread per job (the
# launchers run several jobs at once; a job wanting more asks with --num-threads), the
# toolkit's Python, utils/ (ESPnet's run.pl ...) on PATH when present, then local/path.sh.
MAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ -f "${MAIN_ROOT}/tools/activate_python.sh" ]; then    # inside an ESPnet checkout
  . "${MAIN_ROOT}/tools/activate_python.sh"
elif [ -x "${MAIN_ROOT}/.venv/bin/python" ] && [ -z "${CS_NO_VENV:-}" ]; then  # this repository (make venv)
  export PATH="${MAIN_ROOT}/.venv/bin:${PATH}"
fi
[ -d "${PWD}/utils" ] && export PATH="${PWD}/utils:${PATH}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
. "$(dirname "${BASH_SOURCE[0]}")/local/path.sh"
