"""Corpus files from a local copy or a Hugging Face dataset repo at a pinned revision.

`open_repo(spec, corpus, revision)` gives a `RepoFiles`: `.list()` names every file
(POSIX paths relative to the repo root), `.get_many(paths)` returns local paths for
just those files -- on the Hub it downloads only them, at one commit. Loaders pick
the files they need from `.list()` (CS-FLEURS: one subset's metadata, then only the
audio of the requested pairs), so a partial download is the normal path, and the
same selection code runs on a local copy (`LocalFiles` records what was read,
which the tests check).

Revisions: `DEFAULT_REVISIONS` is the one table of per-corpus defaults; `--revision`
(cs-prepare) and db.sh's `<CORPUS>_REVISION` override it. A branch name is resolved to
its commit before anything is downloaded, and `provenance()` -- repo, revision asked
for, commit used -- goes into every data dir's info.json, so a result names the data
commit it was scored on. The defaults are branch names because no commit id of these
repos could be checked from here (no Hub access when this was written): pin one by
passing the commit that info.json records.
"""
from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..utils.errors import CsExtError

#: corpus -> (Hugging Face dataset id, default revision)
DEFAULT_REVISIONS: Dict[str, tuple] = {
    "hike": ("thetaone-ai/HiKE", "main"),
    "csfleurs": ("byan/cs-fleurs", "main"),
    # The Hub's own parquet export of this repo (its main branch is not plain parquet).
    "koja": ("thetaone-ai/Korean-Japanese-Code-Switching-Speech", "refs/convert/parquet"),
}
HF_PREFIX = "hf://"


def is_commit(revision: str) -> bool:
    """A full 40-hex-digit commit id (anything else, a branch or tag, can move)."""
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision.lower())


class RepoFiles:
    """Files of one corpus distribution; `fetched` lists (in order) what `get_many` handed out."""

    def __init__(self) -> None:
        self.fetched: List[str] = []

    def list(self) -> List[str]:
        raise NotImplementedError

    def _get(self, paths: List[str]) -> List[Path]:
        raise NotImplementedError

    def match(self, *patterns: str) -> List[str]:
        """Listed paths matching any fnmatch pattern (`*` also crosses `/`), sorted."""
        return sorted(p for p in self.list() if any(fnmatch.fnmatchcase(p, pat) for pat in patterns))

    def get_many(self, paths: Iterable[str]) -> List[Path]:
        paths = list(paths)
        self.fetched += paths
        return self._get(paths)

    def provenance(self) -> dict:
        raise NotImplementedError


class LocalFiles(RepoFiles):
    def __init__(self, root: Path, revision: Optional[str] = None) -> None:
        super().__init__()
        self.root = root
        self.revision = revision
        self._listing: Optional[List[str]] = None

    def list(self) -> List[str]:
        if self._listing is None:
            self._listing = sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                                   if p.is_file() and not any(x.startswith(".") for x in p.relative_to(self.root).parts))
        return self._listing

    def _get(self, paths: List[str]) -> List[Path]:
        out = [self.root / p for p in paths]
        for p in out:
            if not p.is_file():
                raise CsExtError(f"{p}: no such file")
        return out

    def provenance(self) -> dict:
        # A copy inside the Hugging Face cache is named by its commit: .../snapshots/<sha>
        commit = self.root.name if self.root.parent.name == "snapshots" else None
        return {"source": str(self.root), "revision": self.revision, "commit": commit}


class HubFiles(RepoFiles):
    """A dataset repo on the Hub, read at the commit `revision` resolves to (huggingface_hub)."""

    def __init__(self, repo: str, revision: str, what: str) -> None:
        super().__init__()
        self.repo, self.revision, self.what = repo, revision, what
        try:
            from huggingface_hub import HfApi
        except ImportError:
            raise CsExtError(f"{what}: downloading hf://{repo} needs huggingface_hub (pip install huggingface_hub)")
        self._api = HfApi()
        info = self._call(self._api.dataset_info, repo, revision=revision)
        self.commit = info.sha
        if not is_commit(revision):
            # A branch moves (HiKE's texts changed in one data commit): say how to pin what was read.
            var = f"{what.upper()}_REVISION"
            print(f"{what}: hf://{repo}@{revision} is not a commit id; read at commit {self.commit}. "
                  f"To reproduce this data later, pin it: {var}={self.commit} (db.sh) or --revision {self.commit}",
                  file=sys.stderr)
        self._listing: Optional[List[str]] = None

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # offline, gated, not found, unknown revision
            msg = str(e).splitlines()[0][:200] if str(e) else ""
            raise CsExtError(f"{self.what}: could not download hf://{self.repo}@{self.revision} "
                             f"({type(e).__name__}: {msg}); download it elsewhere and pass the local directory instead")

    def list(self) -> List[str]:
        if self._listing is None:
            self._listing = sorted(self._call(self._api.list_repo_files, self.repo, repo_type="dataset",
                                              revision=self.commit))
        return self._listing

    def _get(self, paths: List[str]) -> List[Path]:
        from concurrent.futures import ThreadPoolExecutor

        from huggingface_hub import hf_hub_download

        def one(p: str) -> Path:  # cached: a rerun downloads nothing again
            return Path(self._call(hf_hub_download, self.repo, p, repo_type="dataset", revision=self.commit))
        # One request per file; a few in flight hide the round trips (thousands of small clips).
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, paths))

    def provenance(self) -> dict:
        return {"source": f"{HF_PREFIX}{self.repo}", "repo": self.repo, "revision": self.revision,
                "commit": self.commit}


def open_repo(spec: "str | os.PathLike", corpus: str, revision: Optional[str] = None) -> RepoFiles:
    """`hf://owner/name` (at `revision`, default `DEFAULT_REVISIONS[corpus]`) or a local dir."""
    s = str(spec)
    if s.startswith(HF_PREFIX):
        repo = s[len(HF_PREFIX):].strip("/")
        known, default = DEFAULT_REVISIONS.get(corpus, (None, "main"))
        return HubFiles(repo, revision or (default if repo == known else "main"), corpus)
    p = Path(s)
    if not p.is_dir():
        raise CsExtError(f"{corpus}: corpus directory {p} does not exist")
    return LocalFiles(p, revision)
