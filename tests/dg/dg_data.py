"""A Kaldi data dir with two language-pair domains of real espeak-ng speech."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def _root_conftest():
    # tests/conftest.py's `synthesize`; loaded by path since every conftest is "conftest".
    spec = importlib.util.spec_from_file_location("_cs_tests_root_conftest", Path(__file__).parents[1] / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


synthesize = _root_conftest().synthesize

DOMAINS = ("de-en", "ko-en")
UTTS = [
    ("de-en", "de", "de", "guten morgen meine freunde"),
    ("de-en", "de", "de", "das wetter ist schoen heute"),
    ("de-en", "de", "de", "ich trinke gerne kaffee"),
    ("ko-en", "en-us", "ko", "hello world this is a test"),
    ("ko-en", "en-us", "ko", "please send me the report"),
]


def make_data_dir(d: Path, single_domain: bool = False) -> Path:
    """wav.scp text utt2spk spk2utt utt2category prompt (3 de-en + 2 ko-en utterances)."""
    d.mkdir(parents=True, exist_ok=True)
    rows = {}
    for i, (pair, voice, lang, sentence) in enumerate(UTTS):
        utt = f"{pair}_{i}"
        wav = synthesize(sentence, d / f"{utt}.wav", voice=voice)
        rows[utt] = (wav, sentence, DOMAINS[0] if single_domain else pair, lang)
    tables = {
        "wav.scp": {u: r[0] for u, r in rows.items()},
        "text": {u: r[1] for u, r in rows.items()},
        "utt2spk": {u: u.split("_")[0] for u in rows},
        "utt2category": {u: r[2] for u, r in rows.items()},
        "prompt": {u: f"<|{r[3]}|> <|transcribe|>" for u, r in rows.items()},
    }
    for name, table in tables.items():
        (d / name).write_text("".join(f"{u} {v}\n" for u, v in sorted(table.items())))
    spk2utt = {}
    for u, s in tables["utt2spk"].items():
        spk2utt.setdefault(s, []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    return d
