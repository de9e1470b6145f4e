"""Files confined to one workspace folder: list, read, search, write, delete.

Every path is resolved (symlinks included) and must stay inside the workspace; ``..``, absolute paths
elsewhere and links that point out are refused before anything is touched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from agentslm.registry import FreeText, ToolRegistry

from .context import PackContext

__all__ = ["WorkspaceError", "confine", "register", "write_new"]

MAX_READ = 20_000
"""Most characters ``read_file`` returns."""
MAX_SCAN = 2_000_000
"""Files larger than this are skipped by ``search_files``."""


class WorkspaceError(PermissionError):
    """A path that leaves the workspace."""


def write_new(target: Path, data: bytes) -> None:
    """Create ``target`` with ``data``, atomically and without ever replacing anything: the bytes go to a fresh
    temporary file (``mkstemp``: a new name, no symlink followed) that is fsync'd and then hard-linked to
    ``target``, which fails if ``target`` exists (even if it appeared a moment ago)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".agentslm-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise FileExistsError(f"{target.name!r} already exists; choose another name (files are never overwritten)") from None
    finally:
        os.unlink(tmp)


def confine(workspace: Path, path: str, *, must_exist: bool = False) -> Path:
    """``path`` (relative to the workspace, or absolute inside it) resolved; refused if it leaves the workspace."""
    if "\x00" in path:
        raise WorkspaceError("the path contains a NUL character")
    root = Path(workspace).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    candidate = Path(path.strip() or ".").expanduser()
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise WorkspaceError(f"{path!r} is outside the workspace ({root}); only files inside it can be used")
    if must_exist and not resolved.exists():
        raise FileNotFoundError(f"{path!r} does not exist in the workspace")
    return resolved


def register(registry: ToolRegistry, ctx: PackContext) -> None:  # noqa: C901 - complexity exception, issue 22
    """Add the workspace file tools to ``registry``."""

    def rel(p: Path) -> str:
        return p.relative_to(ctx.workspace.resolve()).as_posix() or "."

    @registry.tool
    def list_files(folder: str = ".") -> list[str]:
        """List the files in a workspace folder.

        Args:
            folder: Folder inside the workspace ("." for its top).
        """
        root = confine(ctx.workspace, folder, must_exist=True)
        if not root.is_dir():
            raise NotADirectoryError(f"{folder!r} is a file, not a folder")
        return sorted(rel(p) + ("/" if p.is_dir() else "") for p in root.iterdir())[:200]

    @registry.tool
    def read_file(path: Annotated[str, Field(min_length=1, max_length=255)]) -> str:
        """Read a text file from the workspace.

        Args:
            path: The file's name inside the workspace, e.g. "notes/todo.txt".
        """
        target = confine(ctx.workspace, path, must_exist=True)
        with target.open("r", encoding="utf-8", errors="replace") as fh:
            text = fh.read(MAX_READ + 1)
        return text if len(text) <= MAX_READ else text[:MAX_READ] + f"\n[... cut at {MAX_READ} characters]"

    @registry.tool
    def search_files(text: Annotated[str, Field(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
        """Find workspace files whose content or name contains some text.

        Args:
            text: The text to look for (case does not matter).
        """
        root = confine(ctx.workspace, ".")
        needle = text.casefold()
        hits: list[dict[str, Any]] = []
        for p in sorted(root.rglob("*")):
            if len(hits) >= 20:
                break
            try:
                if p.is_symlink() or not p.is_file() or p.stat().st_size > MAX_SCAN:
                    continue
                if needle in p.name.casefold():
                    hits.append({"path": rel(p), "line": None})
                    continue
                for number, line in enumerate(p.read_text(encoding="utf-8", errors="ignore").splitlines(), 1):
                    if needle in line.casefold():
                        hits.append({"path": rel(p), "line": number, "text": line.strip()[:200]})
                        break
            except OSError:
                continue
        return hits

    @registry.tool(effects=["write"])
    def write_file(
        path: Annotated[str, Field(min_length=1, max_length=255)], text: Annotated[FreeText, Field(max_length=100_000)]
    ) -> str:
        """Create a new text file in the workspace (an existing file is never overwritten).

        Args:
            path: The new file's name inside the workspace, e.g. "summary.txt".
            text: What to write in it.
        """
        target = confine(ctx.workspace, path)
        write_new(target, text.encode("utf-8"))
        return f"wrote {len(text)} characters to {rel(target)}"

    @registry.tool(effects=["destructive"])
    def delete_file(path: Annotated[str, Field(min_length=1, max_length=255)]) -> str:
        """Delete a file from the workspace. Cannot be undone.

        Args:
            path: The file's name inside the workspace.
        """
        name = Path(path.strip()).name
        folder = confine(ctx.workspace, str(Path(path.strip()).parent))
        target = folder / name  # the path itself: a link is removed, never the file it points to
        if not name or not (target.is_symlink() or target.exists()):
            raise FileNotFoundError(f"{path!r} does not exist in the workspace")
        if target.is_dir() and not target.is_symlink():
            raise IsADirectoryError(f"{path!r} is a folder; only files can be deleted")
        target.unlink()
        return f"deleted {rel(target)}"
