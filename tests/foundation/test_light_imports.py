"""Tools that neither train nor decode must start fast: no espnet2 (25 s) at import."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import espnet_cs_ext

# Subpackages that exist to talk to ESPnet (or are CLIs over them) may import it.
ESPNET_SIDE = {"espnet", "plugin", "bin", "dg"}
# Pure-Python tools that should not even pay for torch at import.
NO_TORCH = {"utils", "scoring", "data", "whisper"}

MODULES = sorted(m.name for m in pkgutil.iter_modules(espnet_cs_ext.__path__) if m.name not in ESPNET_SIDE)


def imported_after(module: str) -> set:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_light_modules_are_found():
    assert {"utils", "whisper"} <= set(MODULES)


def test_light_modules_do_not_import_espnet2():
    for name in MODULES:
        mods = imported_after(f"espnet_cs_ext.{name}")
        assert "espnet2" not in mods, f"espnet_cs_ext.{name} imports espnet2 at import time"
        if name in NO_TORCH:
            assert "torch" not in mods, f"espnet_cs_ext.{name} imports torch at import time"
