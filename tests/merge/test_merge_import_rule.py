"""Merge is the lower floor: it imports nothing from analysis/, recipe/, bin/ or the ESPnet glue."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import espnet_cs_ext.merge

MERGE_DIR = Path(espnet_cs_ext.merge.__file__).parent
FORBIDDEN = ("analysis", "recipe", "bin", "espnet", "asyncswitch", "dg")


def _imports(path: Path):
    """(line, absolute module) of every import in a merge module, top level or inside functions."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:  # relative: .x is merge.x, ..x is espnet_cs_ext.x
                mod = ".".join(["espnet_cs_ext", "merge"][:3 - node.level] + ([mod] if mod else []))
            yield node.lineno, mod
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name


def test_static_scan_finds_no_upward_import():
    bad = [f"{p.name}:{line}: {mod}" for p in sorted(MERGE_DIR.glob("*.py")) for line, mod in _imports(p)
           if mod.split(".")[:2] in (["espnet_cs_ext", f] for f in FORBIDDEN) or mod.startswith("espnet2")]
    assert not bad, bad


def test_scan_would_see_a_function_level_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..analysis.select import x\n")
    assert (2, "espnet_cs_ext.analysis.select") in list(_imports(probe))


def test_merge_runs_with_analysis_and_recipe_blocked():
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[:2] in (['espnet_cs_ext', 'analysis'], ['espnet_cs_ext', 'recipe'],\n"
            "                                   ['espnet_cs_ext', 'bin']) or name == 'espnet2':\n"
            "            raise ImportError('blocked: ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import espnet_cs_ext.merge, espnet_cs_ext.merge.engine, espnet_cs_ext.merge.parts\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
