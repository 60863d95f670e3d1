#!/usr/bin/env bash
# On the GPU machine (after benchmarks/gpu_prepare.sh here; carry .whl and .devdata):
#   a CUDA smoke test with a tiny model, then one full Alpaca epoch of DialoGPT-medium's architecture,
#   loralab (b) then Trainer + PEFT (a), bf16, batch 32; then loralab at batch 128 if time is left.
# Everything it prints also goes to $OUT/log (or ./gpu_run.log). Each stage has its own time limit, so a
# run cut short keeps the rows it printed.
set -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
log=${OUT:-.}/gpu_run.log
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
gunzip -c .devdata/alpaca_data.json.gz > /tmp/alpaca.json
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; } 2>&1 | tee "$log"
python3 -c "import torch, transformers, peft; print(torch.__version__, torch.version.cuda, transformers.__version__,
  peft.__version__, torch.cuda.get_device_name())" 2>&1 | tee -a "$log" || exit 1
stage() { local limit=$1; shift; echo "== $* ($(date -u +%T))" | tee -a "$log"
  timeout "$limit" python3 benchmarks/gpu_epoch.py "$@" 2>&1 | grep -v Warn | tee -a "$log"; }
stage 100 --model tiny-gpt2 --data synthetic --max-examples 128 --eval-examples 32 --batch-size 16 || exit 1
full=(--tokenizer .devdata/tok --data /tmp/alpaca.json)
stage 400 "${full[@]}" --arms b,a
stage 55 "${full[@]}" --arms b --batch-size 128
echo "== end ($(date -u +%T))" | tee -a "$log"
