from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from agentslm.models.llamacpp import LlamaCppModel


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--security-report",
        metavar="DIR",
        default=None,
        help="write the reliability/security report of tests/security (report.md, report.json) to DIR",
    )
    parser.addoption(
        "--security-full",
        action="store_true",
        default=False,
        help="run the full security suite: slow cases included, property tests with their full example counts",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--security-full"):
        import os

        config.option.markexpr = ""  # slow cases too
        os.environ["AGENTSLM_SECURITY_FULL"] = "1"
    out = config.getoption("--security-report")
    if out:
        from pathlib import Path

        from tests.security.report import SecurityReport

        config.pluginmanager.register(SecurityReport(Path(out), config.getoption("markexpr")), "security-report")


@pytest.fixture(scope="session")
def embedded_model() -> LlamaCppModel:
    """The default configuration: the real embedded SmolLM2-135M (Q4_1) on llama.cpp with the shipped
    function-calling adapter, loaded once per session."""
    from agentslm.models import load_model

    model = load_model()
    assert isinstance(model, LlamaCppModel)
    return model


@pytest.fixture(scope="session")
def base_model() -> LlamaCppModel:
    """The bare embedded SmolLM2-135M (``embedded-base``), for decoder tests whose premise is the base model's
    own behaviour (e.g. that it writes past a tight budget)."""
    from agentslm.models import load_model

    model = load_model("embedded-base")
    assert isinstance(model, LlamaCppModel)
    return model


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_gguf(path: str, alias: str, *, n_ctx: int = 4096, threads: int = 1) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server (``llama_cpp.server``, extra ``server``) serving the GGUF at
    ``path`` on 127.0.0.1 with the file's own chat template, started through ``agentslm.models.llamacpp_server``
    (this machine's extra-buffer decision applied: no AMX crash) and stopped on exit. Yields the base URL (``…/v1``)."""
    import subprocess
    import sys
    import tempfile
    import time

    import httpx

    pytest.importorskip("fastapi", reason="llama-cpp-python[server] is not installed")
    port = free_port()
    log = tempfile.TemporaryFile()  # a pipe nobody reads would fill up and block the server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentslm.models.llamacpp_server",
            "--model",
            path,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            str(threads),
            "--model_alias",
            alias,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start within 90 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def openai_server() -> Iterator[str]:
    """A real OpenAI-compatible server (:func:`serve_gguf`) serving the embedded GGUF for the test session."""
    from agentslm.models import embedded_model_path

    with serve_gguf(str(embedded_model_path()), "smollm2") as url:
        yield url
