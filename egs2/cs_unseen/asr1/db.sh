# Local paths of the real corpora (see local/data.sh for the layout each expects).
# Empty means "not available": the recipe then uses the synthetic corpus.
AIHUB_KOEN=${AIHUB_KOEN:-}   # AI-Hub Korean-English mixed speech (ko-en)
JECS=${JECS:-}               # JECS (ja-en)
UNICOM=${UNICOM:-}           # UniCoM de-en split
CSFLEURS=${CSFLEURS:-}       # CS-FLEURS (READ split)
KOJA=${KOJA:-}               # thetaone-ai Korean-Japanese CS speech (local copy)
KODE=${KODE:-}               # ko-de evaluation set
HIKE=${HIKE:-}               # HiKE (ko-en evaluation)
