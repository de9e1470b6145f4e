"""The assistant's configuration: one TOML file (``agentslm assistant --help`` prints this reference).

.. code-block:: toml

    [models]
    model = "embedded"      # every role's model: "embedded" (SmolLM2-135M + agentslm's adapter), "embedded-base",
                            # a .gguf path, "transformers:PATH", "openai:URL#MODEL"
    planner = ""            # per-role overrides ("" = model)
    caller = ""
    summarizer = ""
    lora = ""               # a GGUF LoRA adapter for a local llama.cpp model ("" = none; "embedded" brings its own)
    adapters = {}           # or one per role on the one loaded base, e.g. {planner = "p.gguf", caller = "c.gguf",
                            # summarizer = ""} ("" = the base weights; replaces "embedded"'s own)
    threads = 0             # llama.cpp threads (0 = all cores)
    extra_buffers = "auto"  # llama.cpp extra weight buffers: "auto" (off on AMX CPUs, where they crash), "on", "off"
    history_turns = 0       # earlier turns the planner sees (0 suits the 135M model; raise for larger ones)

    [fallback]
    model = ""              # a larger model for unsure steps, e.g. "openai:http://127.0.0.1:8080/v1#qwen"
    routing = ""            # routing.json written by `agentslm calibrate` ("" = defaults)

    [tools]
    packs = ["notes", "calendar", "contacts", "files", "clock", "calc", "actions"]
    workspace = "~/agentslm-workspace"   # the only folder the files pack may touch
    data_dir = ""           # databases and history ("" = the per-user data folder)
    timezone = ""           # IANA zone, e.g. "Europe/Madrid" ("" = the machine's)

    [retrieval]
    k = 5                   # tools offered per request when the packs hold more than 16 (docs/RETRIEVAL.md)
    k_agreed = 0            # offer only this many when the lexical and embedding rankings agree (0 = off)
    adapter = ""            # a query adapter from `agentslm train retriever` ("" = none)

    [server]
    host = "127.0.0.1"
    port = 0                # 0 = a random free port
    open_browser = true
    approval_timeout = 300  # seconds an Approve/Deny prompt waits before it counts as Deny
    max_message_chars = 4000
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from agentslm.errors import UserError

__all__ = ["AssistantConfig", "DEFAULT_PACKS", "default_config_path", "default_data_dir", "load_config"]

DEFAULT_PACKS = ["notes", "calendar", "contacts", "files", "clock", "calc", "actions"]


def default_data_dir() -> Path:
    """The per-user data folder (platformdirs), e.g. ``~/.local/share/agentslm/assistant``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("agentslm", appauthor=False)) / "assistant"


def default_config_path() -> Path:
    """``$AGENTSLM_ASSISTANT_CONFIG`` or the per-user config file, e.g. ``~/.config/agentslm/assistant.toml``."""
    import platformdirs

    env = os.environ.get("AGENTSLM_ASSISTANT_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir("agentslm", appauthor=False)) / "assistant.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelsConfig(_Section):
    model: str = "embedded"
    planner: str = ""
    caller: str = ""
    summarizer: str = ""
    lora: str = ""
    adapters: dict[str, str] = Field(default_factory=dict)
    """A GGUF LoRA adapter per role (planner, planner-after-results, caller, summarizer, ``*``); "" = base weights."""
    threads: int = Field(default=0, ge=0)
    extra_buffers: Literal["auto", "on", "off"] = "auto"
    """llama.cpp's extra weight buffer types (AMX, repacking): "auto" decides from the CPU (agentslm doctor shows it)."""
    history_turns: int = Field(default=0, ge=0, le=20)
    """Earlier turns the planner sees. 0 by default: the embedded 135M model, shown a denied or failed earlier
    turn, often declines the same request again (seen in the terminal test); raise it for larger models."""

    @field_validator("adapters")
    @classmethod
    def _roles(cls, adapters: dict[str, str]) -> dict[str, str]:
        from agentslm.models.role_adapters import ADAPTER_ROLES

        unknown = sorted(set(adapters) - {*ADAPTER_ROLES, "*"})
        if unknown:
            raise ValueError(f"unknown adapter role(s) {unknown}; choose among {[*ADAPTER_ROLES, '*']}")
        return adapters


class FallbackConfig(_Section):
    model: str = ""
    routing: str = ""


class ToolsConfig(_Section):
    packs: list[str] = Field(default_factory=lambda: list(DEFAULT_PACKS))
    workspace: str = "~/agentslm-workspace"
    data_dir: str = ""
    timezone: str = ""

    @field_validator("packs")
    @classmethod
    def _known(cls, packs: list[str]) -> list[str]:
        unknown = [p for p in packs if p not in DEFAULT_PACKS]
        if unknown:
            raise ValueError(f"unknown tool packs {unknown}; choose among {DEFAULT_PACKS}")
        return packs


class RetrievalConfig(_Section):
    k: int = Field(default=5, ge=1, le=50)
    k_agreed: int = Field(default=0, ge=0, le=50)
    adapter: str = ""

    @field_validator("k_agreed")
    @classmethod
    def _not_above_k(cls, k_agreed: int, info: ValidationInfo) -> int:
        if k_agreed > info.data.get("k", 5):
            raise ValueError(f"k_agreed ({k_agreed}) must not exceed k ({info.data.get('k', 5)})")
        return k_agreed


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    open_browser: bool = True
    approval_timeout: float = Field(default=300.0, gt=0)
    max_message_chars: int = Field(default=4000, ge=1)


class AssistantConfig(_Section):
    """The whole configuration (every key optional)."""

    models: ModelsConfig = Field(default_factory=ModelsConfig)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    source: Path | None = Field(default=None, exclude=True)
    """The file it was read from (None: defaults)."""

    def data_dir(self) -> Path:
        return Path(self.tools.data_dir).expanduser() if self.tools.data_dir else default_data_dir()

    def workspace(self) -> Path:
        return Path(self.tools.workspace).expanduser()

    def role_model(self, role: Literal["planner", "caller", "summarizer"]) -> str:
        return getattr(self.models, role) or self.models.model


def load_config(path: str | os.PathLike[str] | None = None) -> AssistantConfig:
    """Read the TOML file at ``path`` (default: :func:`default_config_path`; a missing default file means defaults)."""
    explicit = path is not None
    file = Path(path) if path is not None else default_config_path()
    if not file.exists():
        if explicit:
            raise UserError(f"Config file {file} does not exist.", hint="create it (see `agentslm assistant --help`).")
        return AssistantConfig()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"Config file {file} is not valid TOML: {exc}.", hint="fix the line it names.") from exc
    try:
        config = AssistantConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"[{'.'.join(str(p) for p in e['loc'])}] {e['msg']}" for e in exc.errors())
        raise UserError(
            f"Config file {file} has errors: {problems}.", hint="see `agentslm assistant --help` for every key."
        ) from exc
    config.source = file
    return config
