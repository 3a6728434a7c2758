#!/usr/bin/env bash
# Data preparation for egs2/cs_unseen/asr1 (run from the recipe dir, asr1/).
#
# Real corpora come from the paths in db.sh (empty = not available; set but missing is an
# error, so a typo never silently falls back to the synthetic corpus):
#   AIHUB_KOEN  AI-Hub Korean-English mixed speech (ko-en, train/dev/test)
#   JECS        JECS Japanese-English code-switching (ja-en, train/dev/test)
#   UNICOM      UniCoM de-en split (de-en, train/dev/test)
#   CSFLEURS    CS-FLEURS root (READ test; all X-en pairs, or --csfleurs_pairs)
#   KOJA        thetaone-ai/Korean-Japanese-Code-Switching-Speech copy (ko-ja, test)
#   KODE        ko-de evaluation set in the documented layout (ko-de, test)
#   HIKE        thetaone-ai/HiKE copy (ko-en, test)
#   COVOST2     Common Voice clips dir for CoVoST 2 X->en (COVOST2_TSV: the covost_v2 tsv dir)
# The layouts each one expects: python -m espnet_cs_ext.bin.cs_prepare <corpus> -h and
# the module docstrings in espnet_cs_ext/data/. With --synthetic auto the offline
# synthetic CS corpus is made for every pair in --pairs that has no real corpus
# (ko-en: AIHUB_KOEN, ja-en: JECS, de-en: UNICOM, ko-ja: KOJA, ko-de: KODE);
# --synthetic true makes it for all pairs, false for none.
#
# Options (defaults in brackets):
#   --stage N --stop_stage N   1 real corpora, 2 synthetic corpus, 3 validate+format
#                              and name sets by pair                      [1, 3]
#   --synthetic auto|true|false                                          [auto]
#   --pairs LIST               synthetic pairs      [ko-en,ja-en,de-en,ko-ja,ko-de]
#   --unseen_pairs LIST        test-only pairs (never trained on)         [ko-ja,ko-de]
#   --utts_per_pair N          synthetic utterances per seen pair (80/10/10 %)  [200]
#   --unseen_utts N            test utterances per unseen pair (default: N/10)  []
#   --csfleurs_pairs LIST      CS-FLEURS pair filter, e.g. deu-eng,cmn-eng (all)  []
#   --st_langs LIST            X->en speech translation sources: CoVoST 2 when COVOST2 is set
#                              in db.sh, else synthetic ({train,dev,test}_st_<x>-en)  []
#   --mono_langs LIST          monolingual test sets test_mono_<lang> (forgetting check)  []
#   --mono_utts N              synthetic utterances per language behind them (test = 10 %) [40]
#   --seed N                   split/synthesis seed                       [0]
#   --nj N                     parallel synthesis processes               [1]
#   --drop_bad true|false      drop invalid utterances (reported) instead of stopping [false]
#   --datadir DIR              output                                      [data]
#
# Output (DIR = --datadir):
#   DIR/raw/<split>_<source>/  as prepared: train_aihub_koen, test_koja, test_hike,
#                              test_csfleurs_read_de-en, train_synthetic_ko-en, ...
#   DIR/<split>_<source>/      validated, sorted, 16 kHz mono copies
#   DIR/<split>_<pair>/        what the recipe uses (train_ko-en, test_ko-ja, ...): a copy
#                              of the best source (CS-FLEURS / ko-ja / ko-de sets for test,
#                              AI-Hub / JECS / UniCoM for train, synthetic otherwise;
#                              DIR/pair_sets.txt says which)
#   DIR/{train,dev,test}_sets.txt  the <split>_<pair> names of each kind, one per line
#   DIR/synthetic/             synthetic audio, tts.json, cs_text/<pair>.txt (text-only CS)
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (data.sh) $*"; }

stage=1
stop_stage=3
synthetic=auto
pairs=ko-en,ja-en,de-en,ko-ja,ko-de
unseen_pairs=ko-ja,ko-de
utts_per_pair=200
unseen_utts=
csfleurs_pairs=
st_langs=
mono_langs=
mono_utts=40
seed=0
nj=1
drop_bad=false
datadir=data

while [ $# -gt 0 ]; do
    case "$1" in
        --stage|--stop_stage|--synthetic|--pairs|--unseen_pairs|--utts_per_pair|--unseen_utts|\
--csfleurs_pairs|--st_langs|--mono_langs|--mono_utts|--seed|--nj|--drop_bad|--datadir)
            [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }
            name="${1#--}"; printf -v "${name}" '%s' "$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "$0: unknown option $1 (see $0 --help)" >&2; exit 2 ;;
    esac
done

# corpus paths: the environment, then db.sh (which may keep or override them)
AIHUB_KOEN=${AIHUB_KOEN:-}; JECS=${JECS:-}; UNICOM=${UNICOM:-}; CSFLEURS=${CSFLEURS:-}
KOJA=${KOJA:-}; KODE=${KODE:-}; HIKE=${HIKE:-}; COVOST2=${COVOST2:-}; COVOST2_TSV=${COVOST2_TSV:-}
if [ -f db.sh ]; then . ./db.sh; fi
for var in AIHUB_KOEN JECS UNICOM CSFLEURS KOJA KODE HIKE COVOST2 COVOST2_TSV; do
    if [ -n "${!var}" ] && [ ! -e "${!var}" ]; then
        echo "$0: ${var}=${!var} (db.sh or the environment) does not exist; fix the path, or set it empty to go without that corpus" >&2
        exit 2
    fi
done

prep="python -m espnet_cs_ext.bin.cs_prepare"
raw=${datadir}/raw
mkdir -p "${raw}"

# pairs the synthetic corpus is made for
covered=" "
[ -n "${AIHUB_KOEN}" ] && covered+="ko-en "
[ -n "${JECS}" ] && covered+="ja-en "
[ -n "${UNICOM}" ] && covered+="de-en "
[ -n "${KOJA}" ] && covered+="ko-ja "
[ -n "${KODE}" ] && covered+="ko-de "
case "${synthetic}" in
    true) syn_pairs=${pairs} ;;
    false) syn_pairs= ;;
    auto) syn_pairs=$(echo "${pairs}" | tr ',' '\n' | while read -r p; do
              if [[ "${covered}" != *" ${p} "* ]]; then echo "${p}"; fi; done | paste -sd, -) ;;
    *) echo "$0: --synthetic must be auto, true or false" >&2; exit 2 ;;
esac
syn_unseen=$(echo "${unseen_pairs}" | tr ',' '\n' | while read -r p; do
                 if [[ ",${syn_pairs}," == *",${p},"* ]]; then echo "${p}"; fi; done | paste -sd, -)

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: real corpora from db.sh -> ${raw}"
    for corpus in aihub_koen jecs unicom csfleurs koja kode hike; do
        var=$(echo "${corpus}" | tr '[:lower:]' '[:upper:]')
        path=${!var:-}
        if [ -z "${path}" ]; then
            log "  ${corpus}: ${var} not set in db.sh, skipped"
            continue
        fi
        if [ -f "${raw}/.${corpus}.done" ]; then
            log "  ${corpus}: already prepared (${raw}/.${corpus}.done)"
            continue
        fi
        extra=()
        [ "${corpus}" = csfleurs ] && [ -n "${csfleurs_pairs}" ] && extra=(--pairs "${csfleurs_pairs}")
        rev=${var}_REVISION; [ -n "${!rev:-}" ] && extra+=(--revision "${!rev}")
        log "  ${corpus}: ${path} -> ${raw}"
        ${prep} "${corpus}" "${path}" --out "${raw}" --seed "${seed}" "${extra[@]}"
        touch "${raw}/.${corpus}.done"
    done
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ] && [ -n "${syn_pairs}" ]; then
    log "Stage 2: synthetic CS corpus (${syn_pairs}; test only: ${syn_unseen:-none}) -> ${datadir}/synthetic"
    unseen_opt=()
    [ -n "${unseen_utts}" ] && unseen_opt=(--test-only-utts "${unseen_utts}")
    # resumable: finished wavs are kept; the data dirs are rewritten at the end
    ${prep} synthetic --pairs "${syn_pairs}" --test-only-pairs "${syn_unseen}" \
        --utts-per-pair "${utts_per_pair}" "${unseen_opt[@]}" --seed "${seed}" --nj "${nj}" \
        --out "${datadir}/synthetic"
    for d in "${datadir}"/synthetic/*_*-*/; do
        d=${d%/}
        name=$(basename "${d}")
        rm -rf "${raw:?}/${name%%_*}_synthetic_${name#*_}"
        cp -r "${d}" "${raw}/${name%%_*}_synthetic_${name#*_}"
    done
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ] && [ -n "${st_langs}${mono_langs}" ]; then
    log "Stage 2b: speech translation (${st_langs:-none} -> en) and monolingual (${mono_langs:-none}) sets -> ${raw}"
    st_src=
    if [ -n "${st_langs}" ] && [ -n "${COVOST2}" ]; then
        ${prep} covost2 "${COVOST2}" ${COVOST2_TSV:+--tsv-dir "${COVOST2_TSV}"} --src-langs "${st_langs}" \
            --out "${datadir}/covost2" --nj "${nj}" $([ "${drop_bad}" = true ] && echo --drop-bad)
        st_src=${datadir}/covost2
    elif [ -n "${st_langs}" ]; then
        ${prep} synthetic-st --langs "${st_langs}" --utts-per-lang "${utts_per_pair}" --seed "${seed}" \
            --nj "${nj}" --no-progress --out "${datadir}/synthetic_st"
        st_src=${datadir}/synthetic_st
    fi
    if [ -n "${mono_langs}" ]; then
        ${prep} synthetic-mono --langs "${mono_langs}" --utts-per-lang "${mono_utts}" --seed "${seed}" \
            --nj "${nj}" --no-progress --out "${datadir}/synthetic_mono"
    fi
    for d in ${st_src:+"${st_src}"/*_st_*-en/} ${mono_langs:+"${datadir}"/synthetic_mono/*_mono_*/}; do
        [ -d "${d}" ] || continue
        d=${d%/}
        rm -rf "${raw:?}/$(basename "${d}")"
        cp -r "${d}" "${raw}/"
    done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    log "Stage 3: validate and format ${raw}/* -> ${datadir}/"
    drop=()
    [ "${drop_bad}" = true ] && drop=(--drop-bad)
    n=0
    for d in "${raw}"/*/; do
        d=${d%/}
        name=$(basename "${d}")
        [ -f "${d}/text" ] || continue
        log "  ${d} -> ${datadir}/${name}"
        ${prep} validate "${d}" --out "${datadir}/${name}" "${drop[@]}"
        n=$((n + 1))
    done
    [ "${n}" -gt 0 ] || { echo "$0: no data dirs in ${raw} (set corpus paths in db.sh or use --synthetic true)" >&2; exit 1; }
    log "  naming sets by pair: ${datadir}/<split>_<pair> (sources in ${datadir}/pair_sets.txt)"
    ${prep} pair-sets "${datadir}"
    for kind in train dev test; do
        awk -v k="${kind}" 'index($1, k "_") == 1 {print $1}' "${datadir}/pair_sets.txt" > "${datadir}/${kind}_sets.txt"
    done
fi

log "Successfully finished. Sets: $(cat "${datadir}"/{train,dev,test}_sets.txt 2>/dev/null | tr '\n' ' ')"
