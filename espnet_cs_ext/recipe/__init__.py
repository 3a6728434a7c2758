"""Python side of the egs2/cs_unseen/asr1 recipe: each stage's real work lives here."""
