# Puts the project's virtual environment first on PATH (created by `make venv`).
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ -x "${_root}/.venv/bin/python" ] && [ -z "${CS_NO_VENV:-}" ]; then
  export PATH="${_root}/.venv/bin:${PATH}"
fi
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
unset _root
