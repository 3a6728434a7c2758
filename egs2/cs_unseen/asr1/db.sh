# Local paths of the corpora the recipe reads (ESPnet's db.sh: one variable per corpus).
# Empty means "not available": local/data.sh then makes the synthetic corpus for that
# pair. A path that is set but does not exist stops local/data.sh with an error.
# The layout each expects: python -m espnet_cs_ext.bin.cs_prepare <corpus> -h.
AIHUB_KOEN=${AIHUB_KOEN:-}   # AI-Hub Korean-English mixed speech (ko-en train/dev/test)
JECS=${JECS:-}               # JECS Japanese-English code-switching (ja-en train/dev/test)
UNICOM=${UNICOM:-}           # UniCoM de-en split (de-en train/dev/test)
CSFLEURS=${CSFLEURS:-}       # CS-FLEURS root (READ split: X-en test sets)
KOJA=${KOJA:-}               # thetaone-ai Korean-Japanese CS speech, local copy (ko-ja test)
KODE=${KODE:-}               # ko-de evaluation set in the documented layout (ko-de test)
HIKE=${HIKE:-}               # thetaone-ai HiKE, local copy (ko-en test, --score_preset hike)
COVOST2=${COVOST2:-}         # Common Voice clips dir for CoVoST 2 X->en (--st_pairs; else synthetic ST)
COVOST2_TSV=${COVOST2_TSV:-} # the covost_v2 tsv dir (empty: looked up beside COVOST2)
# Hub revisions (commit, tag or branch) for hf:// ids above; empty = the loader's default
# (espnet_cs_ext/data/hub.py DEFAULT_REVISIONS). The commit read lands in data/<set>/info.json.
HIKE_REVISION=${HIKE_REVISION:-}
CSFLEURS_REVISION=${CSFLEURS_REVISION:-}
KOJA_REVISION=${KOJA_REVISION:-}         # default refs/convert/parquet (the Hub's parquet export)
