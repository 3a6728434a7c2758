"""Data preparation stays light: no torch / espnet2 on import (CONVENTIONS 9)."""
from __future__ import annotations

import subprocess
import sys


def test_importing_data_tools_does_not_import_torch_or_espnet2():
    code = ("import sys, espnet_cs_ext.data, espnet_cs_ext.data.synthetic, espnet_cs_ext.data.validate, "
            "espnet_cs_ext.data.hike, espnet_cs_ext.data.csfleurs, espnet_cs_ext.data.aihub_koen, "
            "espnet_cs_ext.bin.cs_prepare; "
            "bad = [m for m in ('torch', 'espnet2', 'whisper', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cli_help_lists_every_subcommand():
    r = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.cs_prepare", "-h"], capture_output=True, text=True)
    assert r.returncode == 0
    for sub in ("synthetic", "cs-text", "validate", "combine", "aihub_koen", "jecs", "unicom", "csfleurs",
                "koja", "kode", "hike"):
        assert sub in r.stdout
