"""Whether llama.cpp may put weights in its CPU *extra buffer types* (AMX tiles, repacked quant layouts).

llama-cpp-python 0.3.x built from source on an Intel CPU with AMX (Sapphire Rapids and later: ``amx_tile``,
``amx_int8`` in ``/proc/cpuinfo``) compiles ggml's AMX backend, and the first ``llama_decode`` then dies: SIGSEGV
inside ``ggml_backend_amx_mul_mat`` (upstream ggml-org/llama.cpp#20824, closed unfixed), or SIGILL on VMs that do
not grant the process AMX tile state (seen here, 2026-12-06). Loading
the model with ``llama_model_params.use_extra_bufts = False`` avoids it. Elsewhere (AMD, Intel without AMX,
ARM) llama.cpp's default stays: extra buffers on (its repacked Q4_0/Q4_K/IQ4_NL/Q8_0 layouts are faster there).

The decision is made per machine from the CPU flags, and can be overridden by an explicit option
(``LlamaCppModel(extra_buffers=...)``, the assistant's ``[models] extra_buffers``) or the environment
variable ``AGENTSLM_LLAMA_EXTRA_BUFFERS`` (``on``/``off``/``auto``). ``agentslm doctor`` prints it; every
benchmark's ``meta.json`` records it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from agentslm.errors import UserError

__all__ = [
    "AMX_FLAGS",
    "ENV_VAR",
    "CpuInfo",
    "ExtraBuffersDecision",
    "decide_extra_buffers",
    "llama_extra_buffers",
    "parse_switch",
    "read_cpu_info",
]

ENV_VAR = "AGENTSLM_LLAMA_EXTRA_BUFFERS"
AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16", "amx_fp16", "amx_complex"})
_ON = frozenset({"1", "on", "true", "yes"})
_OFF = frozenset({"0", "off", "false", "no"})
_AUTO = frozenset({"", "auto"})


@dataclass(frozen=True, kw_only=True)
class CpuInfo:
    """What the decision reads about a CPU."""

    model: str
    """The processor's name (``model name`` in /proc/cpuinfo), or the machine type where there is none."""
    machine: str
    """``platform.machine()``: ``x86_64``, ``aarch64``, ..."""
    flags: frozenset[str]
    """Feature flags (``flags`` on x86, ``Features`` on ARM)."""


def read_cpu_info(cpuinfo: str | None = None, *, machine: str | None = None) -> CpuInfo:
    """Parse ``/proc/cpuinfo`` text (read from the file when ``cpuinfo`` is None; empty where there is none)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    model, flags = "", frozenset[str]()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in ("model name", "processor") and not model and not value.strip().isdigit():
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
    arch = machine or platform.machine()
    return CpuInfo(model=model or platform.processor() or arch, machine=arch, flags=flags)


@dataclass(frozen=True, kw_only=True)
class ExtraBuffersDecision:
    """Whether llama.cpp loads weights into extra buffer types on this machine, and why."""

    enabled: bool
    source: Literal["auto", "environment", "option"]
    reason: str
    cpu: str
    amx: bool
    """The CPU reports AMX (whatever the override)."""

    def describe(self) -> str:
        state = "on" if self.enabled else "off"
        return f"llama.cpp extra buffers {state} ({self.source}: {self.reason}); CPU: {self.cpu}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_switch(value: str | bool | None, *, what: str) -> bool | None:
    """``on``/``off``/``auto`` (and 1/0, true/false, yes/no) → True/False/None; anything else is refused."""
    if value is None or isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _AUTO:
        return None
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise UserError(f"{what} is {value!r}.", hint="use 'auto' (decide from the CPU), 'on' or 'off'.")


def decide_extra_buffers(
    cpu: CpuInfo | None = None,
    *,
    override: str | bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ExtraBuffersDecision:
    """Decide for ``cpu`` (this machine's by default): an explicit ``override`` wins, then ``$AGENTSLM_LLAMA_EXTRA_BUFFERS``,
    then the CPU: off where it reports AMX (llama.cpp's AMX path crashes), on everywhere else (llama.cpp's default)."""
    info = cpu or read_cpu_info()
    amx = bool(info.flags & AMX_FLAGS)
    chosen = parse_switch(override, what="extra_buffers")
    if chosen is not None:
        return ExtraBuffersDecision(enabled=chosen, source="option", reason="set explicitly", cpu=info.model, amx=amx)
    env = os.environ if environ is None else environ
    chosen = parse_switch(env.get(ENV_VAR), what=f"${ENV_VAR}")
    if chosen is not None:
        return ExtraBuffersDecision(enabled=chosen, source="environment", reason=f"${ENV_VAR}", cpu=info.model, amx=amx)
    if amx:
        found = ", ".join(sorted(info.flags & AMX_FLAGS))
        reason = f"the CPU has AMX ({found}); llama.cpp's AMX weight buffers crash (llama.cpp#20824)"
        return ExtraBuffersDecision(enabled=False, source="auto", reason=reason, cpu=info.model, amx=True)
    return ExtraBuffersDecision(
        enabled=True, source="auto", reason=f"no AMX on this {info.machine} CPU: llama.cpp's default", cpu=info.model, amx=False
    )


_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def llama_extra_buffers(enabled: bool) -> Iterator[None]:
    """While active, ``llama_cpp.Llama(...)`` loads models with ``use_extra_bufts = enabled``.

    ``Llama()`` takes no keyword for it; it builds its parameters from ``llama_model_default_params()``, so
    that function is wrapped for the duration (under a lock: one model load at a time).
    """
    import llama_cpp.llama_cpp as low

    with _PATCH_LOCK:
        original = low.llama_model_default_params

        def default_params() -> Any:
            params = original()
            params.use_extra_bufts = enabled
            return params

        low.llama_model_default_params = default_params  # type: ignore[assignment]
        try:
            yield
        finally:
            low.llama_model_default_params = original  # type: ignore[assignment]
