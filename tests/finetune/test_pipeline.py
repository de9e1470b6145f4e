"""The whole fine-tuning pipeline on the real embedded model and a tiny dataset: build, train (2 steps, resumed),
export to GGUF, verify llama.cpp against transformers, decode with the adapter; and adapters that do not fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentslm.cli import app
from agentslm.models import embedded_model_path

pytest.importorskip("peft")

TINY = Path(__file__).parent / "data" / "tiny_catalog.json"
runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    _ok(["train", "data", "--catalog", str(TINY), "--out", str(root / "data"), "--n", "8", "--val-n", "0"])
    common = [
        "train",
        "lora",
        str(root / "data" / "train.jsonl"),
        "--out",
        str(root / "run"),
        "--batch-size",
        "2",
        "--r",
        "4",
        "--alpha",
        "8",
        "--lr",
        "0.05",
        "--no-progress",
        "--device",
        "cpu",
    ]
    _ok([*common, "--max-steps", "1"])
    _ok([*common, "--max-steps", "2", "--resume"])
    return root


def test_dataset_and_resumed_training(run_dir: Path) -> None:
    summary = json.loads((run_dir / "data" / "summary.json").read_text())
    assert summary["train"] == 8 and summary["bfcl_checked"] is True
    losses = [json.loads(line) for line in (run_dir / "run" / "loss.jsonl").read_text().splitlines()]
    assert [row["step"] for row in losses] == [1, 2]  # the resumed run continued at step 2
    meta = json.loads((run_dir / "run" / "training.json").read_text())
    assert meta["steps"] == 2 and meta["base"]["sha256"] and meta["spec"]["r"] == 4
    assert (run_dir / "run" / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "run" / "loss.png").is_file()


def test_export_loads_in_llamacpp_and_matches_transformers(run_dir: Path) -> None:
    from agentslm.models.llamacpp import LlamaCppModel
    from agentslm.registry import ToolRegistry
    from agentslm.roles.caller import Caller

    _ok(["train", "export", str(run_dir / "run"), "--prompts", str(run_dir / "data" / "train.jsonl"), "--verify", "2"])
    check = json.loads((run_dir / "run" / "export_check.json").read_text())
    assert check["ok"] and check["adapter_applied"] and check["checked"] == 2
    model = LlamaCppModel(embedded_model_path(), lora_path=run_dir / "run" / "adapter.gguf", n_ctx=2048)
    assert model.name.endswith("+lora:adapter.gguf")
    catalog = json.loads(TINY.read_text())
    tools = list(ToolRegistry.from_openai([{"type": "function", "function": e["tool"]} for e in catalog]))
    listed = Caller(model).calls("Start a 25 minute timer called tea.", tools)
    assert listed.parse_error is None and all(c.name in {"timer.start", "lights.set"} for c in listed.calls)
    model.close()


def test_adapter_for_another_base_is_refused(tmp_path: Path) -> None:
    import gguf
    import numpy as np

    from agentslm.finetune.export import AdapterMismatchError
    from agentslm.models.llamacpp import LlamaCppModel

    path = tmp_path / "other.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 16.0)
    writer.add_string("agentslm.base.name", "Some 1B Model")
    writer.add_uint32("agentslm.base.embedding_length", 2048)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((8, 2048), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((2048, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(AdapterMismatchError, match="trained on another base model") as err:
        LlamaCppModel(embedded_model_path(), lora_path=path)
    assert "embedding_length: adapter 2048 vs base 576" in str(err.value)
    with pytest.raises(AdapterMismatchError, match="is not a GGUF adapter"):
        LlamaCppModel(embedded_model_path(), lora_path=embedded_model_path())


def test_export_refuses_a_base_the_run_was_not_trained_on(tmp_path: Path) -> None:
    from agentslm.finetune.export import AdapterMismatchError, export_gguf_adapter

    trained_on = {"model_type": "qwen2", "hidden_size": 1536, "num_hidden_layers": 28}
    with pytest.raises(AdapterMismatchError, match="architecture: trained 'qwen2' vs base 'llama'") as err:
        export_gguf_adapter(tmp_path, embedded_model_path(), tmp_path / "x.gguf", trained_on=trained_on)
    assert "embedding_length: trained 1536 vs base 576" in str(err.value) and not (tmp_path / "x.gguf").exists()


@pytest.mark.parametrize("name", ["smollm2-135m-calls-A", "smollm2-135m-planner-v2"])
def test_the_shipped_adapters_are_the_f16_export_of_the_committed_peft_adapters(name: str, tmp_path: Path) -> None:
    """What the wheel ships is rebuilt byte for byte from training/adapters/NAME by ``export_gguf_adapter(dtype="f16")``
    (the benchmarks of docs/TRAINING.md, "Adapters as f16", ran on these files)."""
    from agentslm.finetune.export import export_gguf_adapter
    from agentslm.models.embedded import embedded_adapters

    root = Path(__file__).resolve().parents[2]
    rebuilt = export_gguf_adapter(root / "training" / "adapters" / name, embedded_model_path(), tmp_path / "a.gguf", dtype="f16")
    shipped = root / "agentslm" / "models" / "adapters" / f"{name}.gguf"
    assert rebuilt.read_bytes() == shipped.read_bytes()
    assert shipped.resolve() in {p.resolve() for p in embedded_adapters().values() if p is not None}  # the default's


def test_bench_trainers_runs_the_loop_and_transformers_trainer_on_the_same_steps(run_dir: Path) -> None:
    import math

    tokens = run_dir / "data" / "train.tokens.jsonl"
    _ok(["train", "tokenize", str(run_dir / "data" / "train.jsonl"), "--out", str(tokens)])
    out = run_dir / "trainers.json"
    _ok(["bench", "trainers", str(tokens), "--val", str(tokens), "--steps", "1", "--batch-size", "2", "--out", str(out)])
    result = json.loads(out.read_text())
    assert set(result["runs"]) == {"loop", "trainer", "trainer+target-loss"}
    for run in result["runs"].values():
        assert run["steps"] == 1 and math.isfinite(run["val_loss"]) and run["peak_rss_mib"] > 0
    # one step from the same LoRA initialisation (B = 0: the base model's loss) on the same examples and loss
    losses = [run["val_loss"] for run in result["runs"].values()]
    assert max(losses) - min(losses) < 0.5
