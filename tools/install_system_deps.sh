#!/usr/bin/env bash
# Installs the Debian packages the demo and tests use, if any is missing (needs root).
#   espeak-ng, sox          offline speech for tests; fallback TTS for every language
#   libttspico-utils        Pico TTS (de, en, fr, es, it)           [Debian non-free]
#   mbrola + voices         MBROLA hn1 (Korean), de2/de6 (German), us1 (English) [non-free]
#   slurmctld slurmd slurm-client munge   a private single-node Slurm for the tests of the
#                           slurm job backend (tools/slurm/start_local_slurm.sh; main archive)
# Non-free voices are optional: the synthetic corpus falls back to espeak-ng without them.
set -euo pipefail
required=(espeak-ng sox slurmctld slurmd slurm-client munge)
optional=(libttspico-utils mbrola mbrola-hn1 mbrola-de2 mbrola-de6 mbrola-us1)

missing() { for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done; }
need=$(missing "${required[@]}" "${optional[@]}")
[ -z "${need}" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install_system_deps: missing Debian packages: ${need}; run as root: $0" >&2
  [ -z "$(missing "${required[@]}")" ] && exit 0 || exit 1
fi
export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/debian-nonfree.sources
if [ ! -f "${src}" ] && grep -qs bookworm /etc/os-release; then
  cat > "${src}" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq
apt-get install -y -qq $(missing "${required[@]}")
# Optional voices: a failure here (no non-free archive) only lowers synthetic-speech quality.
opt=$(missing "${optional[@]}")
[ -z "${opt}" ] || apt-get install -y -qq ${opt} || echo "install_system_deps: optional TTS voices not installed: ${opt}" >&2
