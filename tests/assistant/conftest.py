from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

ARTIFACTS = Path(os.environ.get("AGENTSLM_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
"""Where browser screenshots go (kept after the run; CI can upload the folder)."""


@dataclass
class AssistantProcess:
    """``agentslm assistant`` started as a user would, on a fixed port and a private data folder."""

    data_dir: Path
    workspace: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 120.0) -> None:
        fd, name = tempfile.mkstemp(prefix="assistant-", suffix=".log")
        os.close(fd)
        self.log = Path(name)
        command = [sys.executable, "-m", "agentslm.cli", "assistant", "--no-open", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir), "--workspace", str(self.workspace)]
        env = {**os.environ, "AGENTSLM_ASSISTANT_CONFIG": str(self.data_dir / "none.toml")}
        with self.log.open("wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(r"agentslm assistant on http://127\.0\.0\.1:\d+/", self.output()):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"the assistant exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.2)
        raise AssertionError(f"the assistant did not start in {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log is not None else ""

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def assistant_process(tmp_path: Path) -> Iterator[AssistantProcess]:
    process = AssistantProcess(data_dir=tmp_path / "data", workspace=tmp_path / "ws")
    process.start()
    yield process
    process.stop()
