#!/usr/bin/env bash
# The GPU check: one script, under 10 minutes on one H100 or H200, with no network.
#
# On a GPU host with no Rust toolchain, unpack the bundle that pipelines/gpu-bundle.sh builds on a
# CPU machine (the CUDA build, stripped, with the small fixtures) and run
#
#   ./gpu-check.sh                      # --device cuda
#
# It needs python3 (standard library only) and nvidia-smi. It
#   1. checks that the CUDA backend's fired masks equal the host engine's and Hugging Face's on
#      the parity fixtures in f32 and f16 (differences only inside the near-zero band), those of
#      every other family (GPT-2, Pythia, Llama, Qwen2, Mistral) included, and that the fire
#      counts summed on the device (--record counts) equal those of its fired lists;
#   2. measures tokens/s and MFU at the opt-1.3b shape in f16 on the dense path;
#   3. runs --stream-layers --offload-hidden on the first 4 layers of the opt-66b shape and
#      reports peak GPU memory;
#   4. where the host has two GPUs or more, runs step 2's extraction again over two of them
#      (--devices cuda:0,cuda:1), reports tokens/s against one, and checks that the run's files
#      equal the one-GPU run's (on the CPU: --devices cpu,cpu);
#   5. prints one summary table.
#
# In the repository, `pipelines/gpu-check.sh --device cpu --quick` runs the same steps on the
# CPU at small shapes (CI does, with the release builds in target/release).
#
# Options: --device cuda|cpu, --quick (small shapes), --bin DIR (the binaries), --fixtures DIR
# (OPT's), --families DIR (the other families'),
# --work DIR (kept), --peak-tflops N (the GPU's dense f16 peak; 989 for H100 and H200).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
device=cuda
quick=0
peak_tflops=989
work=""
if [ -x "$here/bin/neuron-census" ]; then
  bin="$here/bin"
  fixtures="$here/fixtures/opt"
  families="$here/fixtures/families"
else
  bin="$here/../target/release"
  fixtures="$here/../tests/fixtures/opt"
  families="$here/../tests/fixtures/families"
fi
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --bin) bin="$2"; shift 2 ;;
    --fixtures) fixtures="$2"; shift 2 ;;
    --families) families="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --peak-tflops) peak_tflops="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
census="$bin/neuron-census"
parity="$bin/fixture_parity"
[ -x "$parity" ] || parity="$bin/examples/fixture_parity"
random_opt="$bin/random_opt"
[ -x "$random_opt" ] || random_opt="$bin/examples/random_opt"
for b in "$census" "$parity" "$random_opt"; do
  [ -x "$b" ] || { echo "missing $b (see pipelines/gpu-bundle.sh)" >&2; exit 1; }
done
if [ -z "$work" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

if [ "$quick" = 1 ]; then
  # Small shapes that run in seconds on a CPU.
  throughput_preset=opt-125m; throughput_layers=2; throughput_tokens=2048; seq_len=512
  stream_preset=opt-125m; stream_layers=4
else
  throughput_preset=opt-1.3b; throughput_layers=""; throughput_tokens=262144; seq_len=2048
  stream_preset=opt-66b; stream_layers=4
fi

# Writes a random OPT of preset $1 (first $2 layers; all when empty) into $3, with fc1 biases
# set so that about 5% of neurons fire (OPT's initialisation: pre-activations have a standard
# deviation of about 0.02 sqrt(hidden)).
random_model() {
  local hidden
  hidden=$(python3 -c "print({'opt-125m':768,'opt-1.3b':2048,'opt-66b':9216}['$1'])")
  local bias
  bias=$(python3 -c "import math; print(-1.645 * 0.02 * math.sqrt($hidden))")
  local layers=()
  [ -n "$2" ] && layers=(--num-layers "$2")
  "$random_opt" "$3" --preset "$1" --fc1-bias "$bias" --save-dtype f16 "${layers[@]}"
}

# Random pre-tokenized sequences: $1 tokens in sequences of $2, into $3.
random_corpus() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, random, sys
tokens, seq_len, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(0)
with open(path, "w") as out:
    for _ in range(tokens // seq_len):
        out.write(json.dumps({"input_ids": [rng.randrange(4, 50265) for _ in range(seq_len - 1)]}) + "\n")
PY
}

# Runs an extraction ($@) while sampling the GPU's memory; prints "tokens/s peak-MiB where"
# (where: gpu, or host when no GPU is sampled: the process's peak resident memory).
measured_extract() {
  local samples="$work/memory.txt"
  : > "$samples"
  local sampler=""
  if [ "$device" = cuda ] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$samples" &
    sampler=$!
  fi
  local log="$work/extract.log"
  local rss
  rss=$(python3 - "$log" "$@" <<'PY'
import os, subprocess, sys
log, command = sys.argv[1], sys.argv[2:]
with open(log, "w") as err:
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
if status != 0:
    sys.exit(f"extraction failed; see {log}")
print(usage.ru_maxrss // 1024)
PY
)
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
  local tps
  tps=$(grep -o 'tokens_per_second=[0-9.]*' "$log" | tail -1 | cut -d= -f2)
  if [ -s "$samples" ]; then
    printf '%.0f %s gpu\n' "$tps" "$(sort -n "$samples" | tail -1)"
  else
    printf '%.0f %s host\n' "$tps" "$rss"
  fi
}

echo "== 1. fired masks on the fixtures against Hugging Face and the host engine; counts on the device =="
"$parity" --device "$device" --fixtures "$fixtures" --families "$families" | tee "$work/parity.md"
parity_result="agree outside the band; device counts equal"

echo
echo "== 2. throughput at the $throughput_preset shape, f16, dense =="
random_model "$throughput_preset" "$throughput_layers" "$work/throughput-model"
random_corpus "$throughput_tokens" "$seq_len" "$work/throughput.jsonl"
result=$(measured_extract "$census" extract --model "$work/throughput-model" \
  --data "$work/throughput.jsonl" --out "$work/throughput-run" --device "$device" \
  --ffn dense --dtype f16 --max-seq-len "$seq_len" --full-length --record counts --quiet)
read -r tps memory where <<< "$result"
mfu=$(python3 - "$work/throughput-model/config.json" "$tps" "$seq_len" "$peak_tflops" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
tps, seq_len, peak = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
h, f, layers = config["hidden_size"], config["ffn_dim"], config["num_hidden_layers"]
flops = 2 * layers * (4 * h * h + 2 * h * f) + 2 * layers * seq_len * h
print(f"{100 * tps * flops / (peak * 1e12):.1f}")
PY
)
echo "tokens/s: $tps; MFU: $mfu% of $peak_tflops TFLOP/s; peak $where memory: $memory MiB"

echo
echo "== 3. the first $stream_layers layers of the $stream_preset shape, streamed with offload =="
random_model "$stream_preset" "$stream_layers" "$work/stream-model"
random_corpus $((4 * seq_len)) "$seq_len" "$work/stream.jsonl"
result=$(measured_extract "$census" extract \
  --model "$work/stream-model" --data "$work/stream.jsonl" --out "$work/stream-run" \
  --device "$device" --ffn dense --dtype f16 --stream-layers --offload-hidden \
  --max-seq-len "$seq_len" --full-length --record counts --quiet)
read -r stream_tps stream_memory stream_where <<< "$result"
echo "tokens/s: $stream_tps; peak $stream_where memory: $stream_memory MiB"

echo
gpus=0
if [ "$device" = cuda ] && command -v nvidia-smi >/dev/null; then
  gpus=$(nvidia-smi --list-gpus | grep -c '^GPU' || true)
fi
if [ "$device" = cpu ] || [ "$gpus" -ge 2 ]; then
  two=cpu,cpu
  [ "$device" = cuda ] && two=cuda:0,cuda:1
  echo "== 4. step 2 again over two devices ($two) =="
  result=$(measured_extract "$census" extract --model "$work/throughput-model" \
    --data "$work/throughput.jsonl" --out "$work/two-device-run" --devices "$two" \
    --ffn dense --dtype f16 --max-seq-len "$seq_len" --full-length --record counts --quiet)
  read -r two_tps two_memory two_where <<< "$result"
  # The same parts, byte for byte: only the manifest (which device computed each part) differs.
  (cd "$work/throughput-run" && find . -type f ! -name manifest.json | sort) > "$work/one.txt"
  (cd "$work/two-device-run" && find . -type f ! -name manifest.json | sort) > "$work/two.txt"
  cmp -s "$work/one.txt" "$work/two.txt" || { echo "the two-device run has other files" >&2; exit 1; }
  while read -r file; do
    cmp -s "$work/throughput-run/$file" "$work/two-device-run/$file" \
      || { echo "$file differs between the one- and two-device runs" >&2; exit 1; }
  done < "$work/one.txt"
  two_result="$two_tps tokens/s against $tps on one ($(python3 -c "print(f'{$two_tps / max($tps, 1):.2f}')")x), peak $two_where memory $two_memory MiB; files equal the one-device run's"
  echo "tokens/s: $two_tps; $two_result"
else
  echo "== 4. two devices: skipped, this host has $gpus GPU(s) =="
  two_result="skipped: $gpus GPU(s)"
fi

echo
echo "== 5. summary ($device) =="
echo "| check | result |"
echo "|---|---|"
echo "| fired masks and device counts, parity fixtures of every family, f32 and f16 | $parity_result |"
echo "| $throughput_preset shape, f16 dense | $tps tokens/s, MFU $mfu%, peak $where memory $memory MiB |"
echo "| $stream_preset shape, $stream_layers layers streamed with offload | $stream_tps tokens/s, peak $stream_where memory $stream_memory MiB |"
echo "| $throughput_preset shape over two devices | $two_result |"
