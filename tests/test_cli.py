from __future__ import annotations

import json

from typer.testing import CliRunner

from agentslm.cli import app

runner = CliRunner()


def test_call_prints_json() -> None:
    result = runner.invoke(app, ["call", "--tools", "tests.sample_tools:registry", "What's the weather in Paris?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "get_weather" and data["arguments"] == {"city": "Paris"} and data["parse_error"] is None


def test_bad_tools_spec_is_a_clear_error() -> None:
    result = runner.invoke(app, ["call", "--tools", "no_such_module_xyz:registry", "hi"])
    assert result.exit_code != 0
    assert "Cannot import module 'no_such_module_xyz'" in str(result.exception)


def test_demo_runs_on_embedded_model_and_handles_every_request() -> None:
    """The README's first command ends with the demo: on the default configuration every request is handled as
    expected (strictly: the expected call, no other), the destructive one refused, and the CPU decision shown."""
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "llama.cpp extra buffers" in result.output and "+lora:smollm2-135m-calls-A" in result.output
    assert "NOT handled" not in result.output, result.output
    assert "4/4 requests handled as expected" in result.output, result.output
    assert "refused" in result.output


def test_demo_judge_is_strict() -> None:
    from agentslm.demo import judge_demo_request
    from agentslm.events import CallEvent, ResultEvent
    from agentslm.step_types import Observation, ToolCall

    def ran(task_id: int, name: str, **arguments: object) -> list:  # type: ignore[type-arg]
        observation = Observation(ok=True, text="ok")
        return [
            CallEvent(run_id="r", task_id=task_id, call=ToolCall(name=name, arguments=arguments)),
            ResultEvent(run_id="r", task_id=task_id, tool=name, observation=observation, started=0.0, finished=0.0),
        ]

    request = "What's the weather in Paris?"
    assert judge_demo_request(request, ran(1, "get_weather", city="Paris")) is None
    assert judge_demo_request(request, ran(1, "get_weather", city="Paris", unit="celsius")) is None  # the default
    assert "extra calls" in (
        judge_demo_request(request, ran(1, "get_weather", city="Paris") + ran(2, "add_note", text="x")) or ""
    )
    assert "expected get_weather" in (judge_demo_request(request, ran(1, "get_weather", city="Rome")) or "")
    assert "expected to be refused" in (judge_demo_request("Delete all my notes.", ran(1, "delete_all_notes")) or "")


def test_eval_own_tools_and_cases_with_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps(
            {
                "id": "paris",
                "request": "What's the weather in Paris?",
                "expected": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            }
        )
        + "\n"
    )
    out = tmp_path / "out"
    args = [
        "eval",
        "--tools",
        "tests.sample_tools:registry",
        "--cases",
        str(cases),
        "--out",
        str(out),
        "-s",
        "agentslm",
        "-s",
        "unconstrained",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {(r["category"], r["system"]) for r in records} == {("simple", "agentslm"), ("simple", "unconstrained")}
    agentslm = next(r for r in records if r["system"] == "agentslm")
    assert agentslm["valid"] and agentslm["calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert "| simple | agentslm | 1 | 100.0% |" in (out / "report.md").read_text()


def test_bench_bfcl_small_run_and_bad_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bfcl"
    args = ["bench", "bfcl", "-c", "irrelevance", "--limit", "1", "--out", str(out), "--overhead", "0", "--no-report"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["system"] for r in records) == ["agentslm", "llamacpp-chatml-fc", "unconstrained"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["model"].startswith("llamacpp:") and meta["machine"]["cpus"] and meta["command"].startswith("agentslm ")
    bad = runner.invoke(app, ["bench", "bfcl", "--questions", str(tmp_path / "q.jsonl"), "--kind", "weird"])
    assert bad.exit_code != 0 and "--kind 'weird'" in str(bad.exception)


def test_bench_bfcl_own_files_through_the_full_agent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fn = {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "dict",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    }
    q, a = tmp_path / "mine.jsonl", tmp_path / "mine_answers.jsonl"
    q.write_text(
        json.dumps({"id": "w1", "question": [[{"role": "user", "content": "What's the weather in Paris?"}]], "function": [fn]})
        + "\n"
    )
    a.write_text(json.dumps({"id": "w1", "ground_truth": [{"get_weather": {"city": ["Paris"]}}]}) + "\n")
    out = tmp_path / "own"
    args = ["bench", "bfcl", "--questions", str(q), "--answers", str(a), "-s", "agent", "--out", str(out), "--overhead", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert record["category"] == "simple:mine" and record["system"] == "agent" and record["valid"], record
    assert record["extra"]["decision"] == "plan" and "| simple:mine | agent | 1 | 100.0% |" in (out / "report.md").read_text()


def test_bench_retrieval_cross_validation_options_are_checked_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = ["bench", "retrieval", "--accuracy-cases", "0", "--out", str(tmp_path)]
    for extra, message in [
        (["--cv-grouped"], "--cv-grouped needs --cv-folds"),
        (["--cv-folds", "1"], "--cv-folds 0 (off) or >= 2"),
        (["--limit", "-1"], "--limit must be >= 0"),
        (["--cv-folds", "5", "--adapter", str(tmp_path / "a.npz")], "--cv-folds trains its own adapters"),
        (["--cv-folds", "5", "-r", "hybrid-tuned", "--accuracy-retriever", "hybrid-tuned"], "recall only"),
    ]:
        result = runner.invoke(app, base + extra)
        assert result.exit_code != 0 and message in str(result.exception), (extra, result.output)
    assert not any(tmp_path.iterdir())  # refused before any work


def test_version_matches_the_installed_metadata() -> None:
    from importlib.metadata import version

    import agentslm

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"agentslm {agentslm.__version__}" == f"agentslm {version('agentslm')}"


def test_run_answers_on_the_embedded_model_as_json() -> None:
    result = runner.invoke(app, ["run", "--tools", "tests.sample_tools:registry", "--json", "What's the weather in Paris?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "answered" and "Paris" in data["answer"]
    calls = [e["call"] for e in data["events"] if e["type"] == "call"]
    assert [(c["name"], c["arguments"]) for c in calls] == [("get_weather", {"city": "Paris"})]


def test_run_approval_on_the_terminal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A call that needs approval is refused when nobody can be asked (stdin not a terminal), asked otherwise
    (default no), and allowed by --yes."""
    import io

    from agentslm.cli.main import terminal_approver
    from agentslm.registry import Effect, ToolRegistry
    from agentslm.step_types import ToolCall

    registry = ToolRegistry()

    @registry.tool(effects=[Effect.DESTRUCTIVE])
    def delete_file(path: str) -> str:
        """Delete a file."""
        return path

    call, tool = ToolCall(name="delete_file", arguments={"path": "a.txt"}), registry["delete_file"]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert terminal_approver(False)(call, tool) is False
    assert terminal_approver(True)(call, tool) is True
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("typer.confirm", lambda *a, **k: k.get("default"))
    assert terminal_approver(False)(call, tool) is False  # the default answer is no
    monkeypatch.setattr("typer.confirm", lambda *a, **k: True)
    assert terminal_approver(False)(call, tool) is True


def test_bench_compare_counts_cases_with_the_same_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    from pathlib import Path

    before = Path("docs/benchmarks/refactor-check/before-4315aa7")
    changed = tmp_path / "changed"
    shutil.copytree(before, changed)
    rows = [json.loads(line) for line in (changed / "results.jsonl").read_text().splitlines()]
    first = next(r for r in rows if r["system"] == "agentslm")
    first["raw"] += " "  # one case's output differs; its score does not
    (changed / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    same = runner.invoke(app, ["bench", "compare", str(before), str(before)], env={"COLUMNS": "200"})
    assert same.exit_code == 0, same.output
    assert "same output in 30 of 30 cases" in same.output
    differs = runner.invoke(app, ["bench", "compare", str(before), str(changed)], env={"COLUMNS": "200"})
    assert "same output in 29 of 30 cases" in differs.output


def test_demo_json_reports_each_request_with_its_events() -> None:
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["handled"] == data["of"] == len(data["requests"]) == 4
    assert "+lora:smollm2-135m-calls-A" in data["model"] and data["llama_extra_buffers"]["reason"]
    for request in data["requests"]:
        assert request["handled"] and request["problem"] is None
        assert request["events"][-1]["type"] == "answer"
    kinds = [e.get("kind") for r in data["requests"] for e in r["events"] if e["type"] == "error"]
    assert "refused" in kinds


def test_doctor_json_names_the_cpu_decision_and_the_embedded_files() -> None:
    result = runner.invoke(app, ["doctor", "--json", "--no-load"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"agentslm", "python", "cpu", "llama_extra_buffers", "packages", "embedded"}
    assert data["cpu"]["cpus"] >= 1 and isinstance(data["cpu"]["amx_flags"], list)
    if data["llama_extra_buffers"]["source"] == "auto":  # no override in the environment: off exactly on AMX CPUs
        assert data["llama_extra_buffers"]["enabled"] == (not data["cpu"]["amx_flags"])
    assert data["embedded"]["model"].endswith(".gguf") and data["embedded"]["adapter"].endswith(".gguf")
    assert data["embedded"]["adapter after results"].endswith("smollm2-135m-planner-v2.gguf")
    assert data["packages"]["llama-cpp-python"] != "not installed"


def test_models_list_path_and_an_unknown_name(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AGENTSLM_MODELS", str(tmp_path))
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["smollm2-135m"]["pulled"] and rows["smollm2-135m"]["sources"] == ["package"]
    qwen = rows["qwen2.5-coder-1.5b"]
    assert qwen["sources"] == ["pypi", "hub"] and not qwen["pulled"] and qwen["sha256"].startswith("cc324af0")
    assert all(r["licence"] and r["file"].endswith(".gguf") for r in rows.values())
    path = runner.invoke(app, ["models", "path", "smollm2-135m"])
    assert path.exit_code == 0 and path.stdout.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    missing = runner.invoke(app, ["models", "path", "qwen2.5-1.5b"])
    assert missing.exit_code == 1 and "agentslm models pull qwen2.5-1.5b" in missing.output
    unknown = runner.invoke(app, ["models", "pull", "qwen9-tiny"])
    assert unknown.exit_code != 0 and "No model called 'qwen9-tiny'" in str(unknown.exception)


def test_planner_policy_overrides_are_parsed_and_checked() -> None:
    from agentslm.cli.common import _policy_overrides
    from agentslm.errors import UserError

    parsed = _policy_overrides(["grounding_scope=any", "probe_more=false", "min_no_tool=0.5", "max_tasks=3"])
    assert parsed == {"grounding_scope": "any", "probe_more": False, "min_no_tool": 0.5, "max_tasks": 3}
    try:
        _policy_overrides(["grounding_scope"])
    except UserError as exc:
        assert "KEY=VALUE" in str(exc)
    else:
        raise AssertionError("a malformed override was accepted")
    result = runner.invoke(app, ["bench", "tasks", "--only", "nothing-matches", "--planner-policy", "groundng=any"])
    assert result.exit_code != 0 and "Unknown planner policy field(s): groundng" in str(result.exception)
