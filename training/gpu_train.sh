#!/usr/bin/env bash
# LoRA training of the embedded SmolLM2-135M on a lent GPU machine (docs/TRAINING.md, "GPU run").
# Expects, carried beside the repo: .gpu/a + .gpu/b (the embedded GGUF split in two: one carry is capped at 64 MiB),
# .gpu/train.tokens.jsonl.gz + .gpu/val.tokens.jsonl.gz (`agentslm train tokenize`), .whl/gguf-*.whl.
# Writes run-A.tgz (and run-B.tgz when time allows) into $OUT.
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
cat "${A_PART:-.gpu/a}" .gpu/b > /tmp/base.gguf  # A_PART: part a left in /tmp by an earlier call on a warm machine
echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  /tmp/base.gguf" | sha256sum -c -
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/gguf-*.whl
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"
train() {  # name, extra args
  local name=$1; shift
  python3 agentslm/finetune/sft.py --tokens .gpu/train.tokens.jsonl.gz --val-tokens .gpu/val.tokens.jsonl.gz \
    --base /tmp/base.gguf --out "/tmp/run-$name" --batch-size 16 --eval-every 50 --save-every 100000 \
    --save-float16 true "$@"
  tar -C "/tmp/run-$name" -czf "$OUT/run-$name.tgz" adapter/adapter_model.safetensors adapter/adapter_config.json loss.jsonl training.json
}
start=$SECONDS
train A --epochs 2 --lr 2e-4 --max-seconds "${A_SECONDS:-240}"
if (( SECONDS - start < ${B_IF_UNDER:-200} )); then
  train B --epochs 3 --lr 3e-4 --max-seconds "${B_SECONDS:-200}"
fi
echo "total ${SECONDS}s"
