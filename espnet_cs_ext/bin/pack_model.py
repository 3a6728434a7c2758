"""Pack one system of egs2/cs_unseen/asr1 into an espnet_model_zoo archive (.zip).

    python -m espnet_cs_ext.bin.pack_model --asr_train_config exp/asr_ft_ko-en/config.yaml \
        --asr_model_file exp/asr_ft_ko-en/latest.pth --results RESULTS.md --out exp/packed/asr_ft_ko-en.zip
    python -m espnet_cs_ext.bin.pack_model --asr_model_file exp/merge/ties_ko-en+ja-en/model.pt \
        --out exp/packed/ties_ko-en+ja-en.zip       # merged: config of a model it was merged from
    python -m espnet_cs_ext.bin.pack_model --asr_model_file base --do_pad_trim true \
        --asr_train_config exp/asr_ft_ko-en/config.yaml --tag pretrained --out exp/packed/pretrained.zip
    python -m espnet_cs_ext.bin.pack_model ... --upload_dir exp/packed/asr_ft_ko-en   # + HF layout

Load it with `espnet_model_zoo` + `import espnet_cs_ext.plugin` (see the archive's
README.md), then `python -m espnet_cs_ext.bin.asr_inference` with the unpacked paths.
Layout and the Whisper dependency: espnet_cs_ext/recipe/pack.py. Errors: one line, exit 2.
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from ..utils.errors import cli_main

PROG = "pack_model"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--asr_model_file", required=True,
                    help="ESPnet *.pth, merged whisper/HF/ESPnet checkpoint, or a Whisper name (pretrained)")
    ap.add_argument("--asr_train_config",
                    help="stage-5 config.yaml (default for a merged model: the config beside the first "
                         "model listed in MODEL.merge.yaml)")
    ap.add_argument("--out", required=True, help="archive to write, e.g. exp/packed/asr_ft_ko-en.zip")
    ap.add_argument("--results", help="RESULTS.md to include as exp/<tag>/RESULTS.md")
    ap.add_argument("--extra", nargs="+", action="extend", default=[], metavar="FILE",
                    help="more files or directories to include under exp/<tag>/")
    ap.add_argument("--tag", help="name inside the archive (default: the model file's directory name)")
    ap.add_argument("--bundle_whisper", action="store_true",
                    help="also pack the Whisper checkpoint a bare name (e.g. base) resolves to, so "
                         "loading needs neither the offline base packages nor internet")
    ap.add_argument("--do_pad_trim", choices=["true", "false"],
                    help="override encoder_conf.do_pad_trim (true for the pretrained system, which the "
                         "recipe decodes padded to 30 s)")
    ap.add_argument("--upload_dir",
                    help="also extract the archive here with relative member paths: the layout to upload "
                         "to the Hugging Face Hub (`hf upload <user>/<repo> DIR .`; never run for you)")
    return ap


def run(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from ..recipe.pack import extract_for_upload, pack_model

    res = pack_model(args.asr_model_file, args.out, asr_train_config=args.asr_train_config,
                     results=args.results, extras=args.extra, tag=args.tag,
                     bundle_whisper=args.bundle_whisper,
                     do_pad_trim=None if args.do_pad_trim is None else args.do_pad_trim == "true")
    print(f"{PROG}: {args.asr_model_file} ({res.model_naming}, {res.n_tensors} tensors) -> {res.out} "
          f"[{len(res.members)} files; whisper_model: {', '.join(sorted(set(res.whisper_specs)))}]")
    if args.upload_dir:
        print(f"{PROG}: upload layout -> {extract_for_upload(res.out, args.upload_dir)}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
