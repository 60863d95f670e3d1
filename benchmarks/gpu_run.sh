#!/usr/bin/env bash
# On the GPU machine (after benchmarks/gpu_prepare.sh here; carry .whl and .devdata), in about 8 minutes:
#   a. a CUDA smoke test of gpu_epoch.py with a tiny model;
#   b. what train.precision=auto resolves to on this GPU;
#   c. the CUDA end-to-end CLI test (pytest -m gpu);
#   d. two `loralab run`s of one tiny config with train.deterministic=true in two output roots, compared
#      bit for bit (benchmarks/same_run.py prints IDENTICAL or DIFFERENT);
#   e. one full Alpaca epoch of DialoGPT-medium's architecture, loralab (b) then Trainer + PEFT (a), bf16,
#      batch 32, with whatever is left of the time budget (GPU_BUDGET_S, default 500 s from the start).
# The short stages go first so a cut-short epoch cannot cost them. Everything it prints also goes to
# $OUT/gpu_run.log (or ./gpu_run.log). Each stage has its own time limit, so a run cut short keeps the
# rows it printed. DEV=cpu runs stages b-d on the CPU (checks the script's logic; a and e need CUDA).
set -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore
start=$(date +%s); budget=${GPU_BUDGET_S:-500}; dev=${DEV:-cuda}
log=${OUT:-.}/gpu_run.log; : > "$log"
if [ -d .whl ] && [ "$dev" = cuda ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
else export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}; fi
py=${PY:-python3}
say() { echo "$*" | tee -a "$log"; }
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; } 2>&1 | tee -a "$log"
$py -c "import torch, transformers, peft; print('torch', torch.__version__, 'cuda', torch.version.cuda,
  'transformers', transformers.__version__, 'peft', peft.__version__,
  torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO CUDA')" 2>&1 | tee -a "$log" || exit 1
stage() { local limit=$1; shift; say "== $* (limit ${limit}s, $(date -u +%T))"
  timeout "$limit" "$@" 2>&1 | grep -v Warn | tee -a "$log"; local rc=$?; say "-- rc $rc"; return $rc; }
if [ "$dev" = cuda ]; then
  stage 90 $py benchmarks/gpu_epoch.py --model tiny-gpt2 --data synthetic --max-examples 128 \
    --eval-examples 32 --batch-size 16 || say "SMOKE FAILED"
fi
stage 40 $py -c "import torch; from loralab.train.device import resolve_device, resolve_precision as r
d = resolve_device('$dev'); print('auto precision on', d, torch.cuda.get_device_name() if d.type == 'cuda' else '',
  '->', r('auto', d), '| bf16 supported:', d.type == 'cuda' and torch.cuda.is_bf16_supported())"
stage 120 $py -m pytest -q -rs -m gpu -p no:cacheprovider tests/test_experiment.py
prec=auto; [ "$dev" = cuda ] || prec=fp32  # a CPU's auto is a timed probe, which two runs can resolve differently
tiny=(model.name=tiny-gpt2 data.source=synthetic data.synthetic_size=640 data.val_set_size=64 data.cutoff_len=96
  train.batch_size=8 train.max_steps=40 train.lr=3e-3 train.device=$dev train.precision=$prec
  train.deterministic=true tracking.progress=false output.cache=false)
rm -rf /tmp/det1 /tmp/det2
stage 60 $py -m loralab run "${tiny[@]}" output.root=/tmp/det1 && stage 60 $py -m loralab run "${tiny[@]}" output.root=/tmp/det2
stage 20 $py benchmarks/same_run.py /tmp/det1 /tmp/det2
if [ "$dev" = cuda ]; then
  left=$((budget - ($(date +%s) - start)))
  full=(--tokenizer .devdata/tok --data /tmp/alpaca.json)
  gunzip -c .devdata/alpaca_data.json.gz > /tmp/alpaca.json
  stage "$left" $py benchmarks/gpu_epoch.py "${full[@]}" --arms b,a
fi
say "== end ($(date -u +%T), $(( $(date +%s) - start ))s)"
