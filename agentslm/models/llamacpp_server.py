"""``python -m agentslm.models.llamacpp_server ARGS``: llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server ARGS``, extra ``server``) with this machine's extra-buffer decision applied
(see :mod:`agentslm.models.cpu_buffers`), so it does not crash on AMX-class Intel CPUs.

The decision is printed to stderr at start; ``AGENTSLM_LLAMA_EXTRA_BUFFERS=on|off|auto`` overrides it.
"""

from __future__ import annotations

import sys

from agentslm.models.cpu_buffers import decide_extra_buffers, llama_extra_buffers

__all__ = ["main"]


def main() -> None:
    try:
        from llama_cpp.server.__main__ import main as serve
    except ImportError as exc:  # fastapi, uvicorn, sse-starlette come with the extra
        raise SystemExit(f"llama-cpp-python's server is not installed ({exc}): pip install 'llama-cpp-python[server]'") from None
    decision = decide_extra_buffers()
    print(f"agentslm: {decision.describe()}", file=sys.stderr, flush=True)
    with llama_extra_buffers(decision.enabled):
        serve()


if __name__ == "__main__":
    main()
