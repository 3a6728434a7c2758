#!/usr/bin/env bash
# Lay this recipe into an ESPnet checkout in the shape an upstream PR takes
# (docs/espnet_upstream.md):
#
#   tools/export_espnet_recipe.sh ESPNET_ROOT
#
# writes ESPNET_ROOT/egs2/cs_unseen/asr1/ and nothing else:
#   cs_unseen.sh run.sh cmd.sh db.sh conf/ local/ RESULTS*   this repository's tracked files
#   path.sh utils steps scripts pyscripts                   symlinks to ../../TEMPLATE/asr1/* as
#                                                           in every ESPnet recipe (ESPnet's path.sh
#                                                           activates its Python, sets OMP_NUM_THREADS=1
#                                                           and sources local/path.sh)
#   local/espnet_cs_ext/                                    the plugin package, recipe-local until
#                                                           its parts are merged into espnet2/ (the
#                                                           guide lists where each goes); local/path.sh
#                                                           puts local/ on PYTHONPATH
# Only tracked files are exported (no exp/, data/, caches). The target must not exist yet;
# it is built beside it and moved into place, so a failed export leaves nothing behind.
set -euo pipefail

die() { echo "export_espnet_recipe.sh: error: $*" >&2; exit 2; }
[ $# -eq 1 ] || die "usage: tools/export_espnet_recipe.sh ESPNET_ROOT"
root=$1
[ -d "${root}" ] || die "ESPNET_ROOT ${root} is not a directory"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
git -C "${repo}" rev-parse --git-dir > /dev/null 2>&1 || die "${repo} is not a git checkout (the export reads its tracked files)"
dest=${root}/egs2/cs_unseen/asr1
[ ! -e "${dest}" ] && [ ! -L "${dest}" ] || die "${dest} already exists; remove it first"
[ -d "${root}/egs2/TEMPLATE/asr1" ] \
  || echo "export_espnet_recipe.sh: warning: ${root}/egs2/TEMPLATE/asr1 not found: the TEMPLATE symlinks will dangle until it exists" >&2

mkdir -p "${root}/egs2/cs_unseen"
made_parent=false; [ -n "$(ls -A "${root}/egs2/cs_unseen")" ] || made_parent=true
tmp=$(mktemp -d "${root}/egs2/cs_unseen/.asr1.XXXXXX")
cleanup() { rm -rf "${tmp}"; if [ "${made_parent}" = true ]; then rmdir "${root}/egs2/cs_unseen" "${root}/egs2" 2>/dev/null || true; fi; }
trap cleanup ERR INT TERM

# tracked files only, symlinks kept as symlinks (conf/train_asr.yaml -> tuning/demo/train_pair.yaml)
recipe=egs2/cs_unseen/asr1
( cd "${repo}/${recipe}" && git ls-files -z . | grep -zv '^path\.sh$' | tar --null -T - -cf - ) | tar -xf - -C "${tmp}"
( cd "${repo}" && git ls-files -z espnet_cs_ext | grep -zv '/__pycache__/' | tar --null -T - -cf - ) | tar -xf - -C "${tmp}/local"

for link in path.sh utils steps scripts pyscripts; do
  ln -s "../../TEMPLATE/asr1/${link}" "${tmp}/${link}"
done
cat >> "${tmp}/local/path.sh" <<'EOF'
# Exported into ESPnet (tools/export_espnet_recipe.sh): the plugin package lives in local/.
export PYTHONPATH="${PWD}/local${PYTHONPATH:+:${PYTHONPATH}}"
EOF

trap - ERR INT TERM
mv "${tmp}" "${dest}"
chmod 755 "${dest}"
echo "exported ${recipe} and espnet_cs_ext/ -> ${dest} ($(find "${dest}" -type f | wc -l) files, TEMPLATE links: path.sh utils steps scripts pyscripts)"
