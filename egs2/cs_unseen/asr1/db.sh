# Local paths of the real corpora (see local/data.sh for the layout each expects).
# Empty means "not available": the recipe then uses the synthetic corpus.
AIHUB_KOEN=${AIHUB_KOEN:-}   # AI-Hub Korean-English mixed speech (ko-en)
JECS=${JECS:-}               # JECS (ja-en)
UNICOM=${UNICOM:-}           # UniCoM de-en split
CSFLEURS=${CSFLEURS:-}       # CS-FLEURS (READ split)
KOJA=${KOJA:-}               # thetaone-ai Korean-Japanese CS speech (local copy)
KODE=${KODE:-}               # ko-de evaluation set
HIKE=${HIKE:-}               # HiKE (ko-en evaluation); hf://thetaone-ai/HiKE downloads it
# Hub revisions (commit, tag or branch) for hf:// ids above; empty = the loader's default
# (espnet_cs_ext/data/hub.py DEFAULT_REVISIONS). The commit read lands in data/<set>/info.json.
HIKE_REVISION=${HIKE_REVISION:-}
CSFLEURS_REVISION=${CSFLEURS_REVISION:-}
KOJA_REVISION=${KOJA_REVISION:-}         # default refs/convert/parquet (the Hub's parquet export)
