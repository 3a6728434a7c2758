"""tools/export_espnet_recipe.sh on an empty fake ESPnet tree: the files and TEMPLATE
symlinks of an ESPnet recipe appear under egs2/cs_unseen/asr1 and nothing else changes."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "export_espnet_recipe.sh"


def export(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(root)], capture_output=True, text=True)


def tree(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_export_lays_the_recipe_out_and_touches_nothing_else(tmp_path):
    root = tmp_path / "espnet"
    (root / "egs2" / "TEMPLATE" / "asr1" / "utils").mkdir(parents=True)
    (root / "espnet2" / "asr").mkdir(parents=True)
    (root / "espnet2" / "asr" / "x.py").write_text("# upstream\n")
    before = tree(root)
    proc = export(root)
    assert proc.returncode == 0, proc.stderr
    dest = root / "egs2" / "cs_unseen" / "asr1"
    assert {p for p in tree(root) - before if not p.startswith("egs2/cs_unseen")} == set()
    assert (root / "espnet2" / "asr" / "x.py").read_text() == "# upstream\n"
    for name in ("cs_unseen.sh", "run.sh", "cmd.sh", "db.sh", "local/data.sh", "local/lors_grid.sh",
                 "conf/tuning/demo/train_pair.yaml", "local/espnet_cs_ext/recipe/systems.py"):
        assert (dest / name).is_file(), name
    for link in ("path.sh", "utils", "steps", "scripts", "pyscripts"):
        assert os.readlink(dest / link) == f"../../TEMPLATE/asr1/{link}", link
    assert (dest / "utils").is_dir()  # resolves inside the tree
    assert os.readlink(dest / "conf" / "train_asr.yaml") == "tuning/demo/train_pair.yaml"
    assert os.readlink(dest / "conf" / "decode_asr.yaml") == "tuning/decode/greedy.yaml"
    assert 'PYTHONPATH="${PWD}/local' in (dest / "local" / "path.sh").read_text()
    assert not any(p.name in ("exp", "__pycache__") for p in dest.rglob("*"))
    assert [p.name for p in (root / "egs2" / "cs_unseen").iterdir()] == ["asr1"]  # no temp dir left


def test_export_refuses_an_existing_recipe_and_a_missing_root(tmp_path):
    root = tmp_path / "espnet"
    (root / "egs2" / "cs_unseen" / "asr1").mkdir(parents=True)
    (root / "egs2" / "cs_unseen" / "asr1" / "mine.txt").write_text("keep")
    proc = export(root)
    assert proc.returncode == 2 and "egs2/cs_unseen/asr1 already exists; remove it first" in proc.stderr
    assert tree(root) == {"egs2", "egs2/cs_unseen", "egs2/cs_unseen/asr1", "egs2/cs_unseen/asr1/mine.txt"}
    proc = export(tmp_path / "absent")
    assert proc.returncode == 2 and "is not a directory" in proc.stderr
    assert not (tmp_path / "absent").exists()
