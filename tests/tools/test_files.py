from __future__ import annotations

import os

import pytest

from agentslm.registry import ToolRegistry
from agentslm_tools import PackContext
from agentslm_tools.files import WorkspaceError

from .conftest import run


def test_write_read_list_search_delete(registry: ToolRegistry, ctx: PackContext) -> None:
    assert (
        run(registry, "write_file", path="plans/budget.txt", text="rent 900\ntravel 300")
        == "wrote 19 characters to plans/budget.txt"
    )
    assert run(registry, "read_file", path="plans/budget.txt") == "rent 900\ntravel 300"
    assert run(registry, "list_files") == ["plans/"]
    assert run(registry, "list_files", folder="plans") == ["plans/budget.txt"]
    assert run(registry, "search_files", text="TRAVEL") == [{"path": "plans/budget.txt", "line": 2, "text": "travel 300"}]
    with pytest.raises(FileExistsError, match="never overwritten"):
        run(registry, "write_file", path="plans/budget.txt", text="other")
    assert run(registry, "delete_file", path="plans/budget.txt") == "deleted plans/budget.txt"
    assert not (ctx.workspace / "plans" / "budget.txt").exists()


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "plans/../../x.txt", "~/.bashrc"])
def test_paths_outside_the_workspace_are_refused(registry: ToolRegistry, ctx: PackContext, path: str) -> None:
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        run(registry, "write_file", path=path, text="x")
    with pytest.raises(WorkspaceError):
        run(registry, "read_file", path=path)
    assert not (ctx.workspace.parent / "outside.txt").exists()


def test_symlink_escapes_are_refused(registry: ToolRegistry, ctx: PackContext, tmp_path: os.PathLike[str]) -> None:
    secret = ctx.workspace.parent / "secret.txt"
    secret.write_text("top secret")
    ctx.workspace.mkdir(parents=True, exist_ok=True)
    (ctx.workspace / "link.txt").symlink_to(secret)
    (ctx.workspace / "linkdir").symlink_to(ctx.workspace.parent)
    with pytest.raises(WorkspaceError):
        run(registry, "read_file", path="link.txt")
    with pytest.raises(WorkspaceError):
        run(registry, "delete_file", path="linkdir/secret.txt")
    with pytest.raises(WorkspaceError):
        run(registry, "write_file", path="linkdir/new.txt", text="x")
    assert run(registry, "search_files", text="secret") == []  # links are not followed
    assert secret.read_text() == "top secret"


def test_read_is_bounded(registry: ToolRegistry, ctx: PackContext) -> None:
    ctx.workspace.mkdir(parents=True, exist_ok=True)
    (ctx.workspace / "big.txt").write_text("a" * 50_000)
    text = run(registry, "read_file", path="big.txt")
    assert isinstance(text, str) and len(text) < 21_000 and text.endswith("cut at 20000 characters]")


def test_writes_never_follow_or_clobber_a_planted_file(registry: ToolRegistry, ctx: PackContext) -> None:
    outside = ctx.workspace.parent / "bashrc"
    outside.write_text("keep")
    ctx.workspace.mkdir(parents=True, exist_ok=True)
    (ctx.workspace / "a.txt.part").symlink_to(outside)  # e.g. from an unpacked archive
    (ctx.workspace / "b.txt.part").write_text("user data")
    run(registry, "write_file", path="a.txt", text="new")
    run(registry, "write_file", path="b.txt", text="new")
    assert outside.read_text() == "keep" and (ctx.workspace / "b.txt.part").read_text() == "user data"
    assert (ctx.workspace / "a.txt").read_text() == "new" and not (ctx.workspace / "a.txt").is_symlink()
    assert not list(ctx.workspace.glob(".agentslm-*"))  # no temporary file left behind


def test_delete_removes_a_link_not_its_target(registry: ToolRegistry, ctx: PackContext) -> None:
    ctx.workspace.mkdir(parents=True, exist_ok=True)
    (ctx.workspace / "real.txt").write_text("data")
    (ctx.workspace / "link.txt").symlink_to(ctx.workspace / "real.txt")
    assert run(registry, "delete_file", path="link.txt") == "deleted link.txt"
    assert (ctx.workspace / "real.txt").read_text() == "data"
    with pytest.raises(FileNotFoundError):
        run(registry, "delete_file", path="link.txt")
