"""llama.cpp's extra-buffer decision: recorded CPU flag sets, overrides, and the real model with the chosen setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentslm import UserError
from agentslm.models.cpu_buffers import ENV_VAR, decide_extra_buffers, llama_extra_buffers, read_cpu_info

CPUINFO = Path(__file__).parent / "cpuinfo"


def _cpu(name: str, machine: str = "x86_64"):  # type: ignore[no-untyped-def]
    return read_cpu_info((CPUINFO / name).read_text(encoding="utf-8"), machine=machine)


@pytest.mark.parametrize(
    ("recorded", "machine", "model", "enabled", "amx"),
    [
        ("intel-xeon-sapphire-rapids-amx.txt", "x86_64", "Intel(R) Xeon(R) Processor", False, True),
        ("amd-epyc-7763.txt", "x86_64", "AMD EPYC 7763 64-Core Processor", True, False),
        ("intel-xeon-icelake.txt", "x86_64", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", True, False),
        ("arm-neoverse-n1.txt", "aarch64", "", True, False),
    ],
)
def test_decision_on_recorded_cpus(recorded: str, machine: str, model: str, enabled: bool, amx: bool) -> None:
    cpu = _cpu(recorded, machine)
    assert cpu.machine == machine and (not model or cpu.model == model)
    assert cpu.flags, "the flags line was not read"
    decision = decide_extra_buffers(cpu, environ={})
    assert (decision.enabled, decision.amx, decision.source) == (enabled, amx, "auto")
    if amx:
        assert "amx_int8" in decision.reason and "20824" in decision.reason
        assert "off" in decision.describe()


def test_overrides_win_in_order_option_environment_cpu() -> None:
    amx = _cpu("intel-xeon-sapphire-rapids-amx.txt")
    epyc = _cpu("amd-epyc-7763.txt")
    assert decide_extra_buffers(amx, environ={ENV_VAR: "on"}).enabled is True
    assert decide_extra_buffers(amx, environ={ENV_VAR: "on"}).source == "environment"
    assert decide_extra_buffers(epyc, environ={ENV_VAR: "0"}).enabled is False
    assert decide_extra_buffers(epyc, environ={ENV_VAR: "auto"}).enabled is True
    forced = decide_extra_buffers(amx, override=True, environ={ENV_VAR: "off"})
    assert (forced.enabled, forced.source, forced.amx) == (True, "option", True)
    assert decide_extra_buffers(epyc, override="off", environ={}).enabled is False


def test_bad_switch_values_are_refused_with_the_fix() -> None:
    with pytest.raises(UserError, match="'maybe'") as info:
        decide_extra_buffers(_cpu("amd-epyc-7763.txt"), environ={ENV_VAR: "maybe"})
    assert "'auto'" in (info.value.hint or "")
    with pytest.raises(UserError, match="extra_buffers"):
        decide_extra_buffers(_cpu("amd-epyc-7763.txt"), override="sometimes", environ={})


def test_patch_sets_the_flag_and_restores_llama_defaults() -> None:
    import llama_cpp.llama_cpp as low

    original = low.llama_model_default_params
    with llama_extra_buffers(False):
        assert low.llama_model_default_params().use_extra_bufts is False
    with llama_extra_buffers(True):
        assert low.llama_model_default_params().use_extra_bufts is True
    assert low.llama_model_default_params is original


def test_real_model_loads_and_decodes_with_this_machines_decision(embedded_model) -> None:  # type: ignore[no-untyped-def]
    decision = decide_extra_buffers()
    assert embedded_model.extra_buffers == decision
    if read_cpu_info().flags & {"amx_tile", "amx_int8"}:
        assert decision.enabled is False or decision.source != "auto"
    gen = embedded_model.generate([{"role": "user", "content": "Name a colour."}], max_tokens=6)
    assert gen.text.strip() and len(gen.tokens) >= 1
