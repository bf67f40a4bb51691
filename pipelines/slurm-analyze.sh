#!/usr/bin/env bash
# Analysis split by layer over a Slurm job array: task i of n analyses its share of the model's
# LAYERS layers (`analyze --layers`) into OUT_ROOT/part-i-of-n; `neuron-census merge-analyses`
# then combines the parts into the analysis one job of every layer writes.
#
#   job=$(sbatch --parsable --array=0-7 pipelines/slurm-analyze.sh 64 analyses/opt-66b runs/opt-66b/shard-*)
#   sbatch --dependency=afterok:$job --wrap \
#     "target/release/neuron-census merge-analyses --out analyses/opt-66b/analysis analyses/opt-66b/part-*-of-8"
#
# Every task must see the same runs and flags (EXTRA_FLAGS, for example
# EXTRA_FLAGS="--ngram-run runs/opt-66b-s4 --no-projection"); the merge refuses parts that
# differ. NEURON_CENSUS names the neuron-census binary (default target/release/neuron-census).
#SBATCH --job-name=census-analyze
#SBATCH --cpus-per-task=32
#SBATCH --mem=256G
#SBATCH --time=24:00:00
#SBATCH --output=census-analyze-%A_%a.log
set -euo pipefail

if [ "$#" -lt 3 ]; then
  echo "usage: sbatch --array=0-(N-1) $0 LAYERS OUT_ROOT RUN [RUN ...]" >&2
  exit 2
fi
layers=$1
out_root=$2
shift 2

index=${SLURM_ARRAY_TASK_ID:?run as a Slurm array task}
count=${SLURM_ARRAY_TASK_COUNT:?run as a Slurm array task}
binary=${NEURON_CENSUS:-target/release/neuron-census}
if [ "$count" -gt "$layers" ]; then
  echo "$count tasks for $layers layers: use at most one task per layer" >&2
  exit 2
fi
start=$((index * layers / count))
end=$(((index + 1) * layers / count))

run_flags=()
for run in "$@"; do
  run_flags+=(--run "$run")
done

# shellcheck disable=SC2086 # EXTRA_FLAGS is a list of flags
exec "$binary" analyze "${run_flags[@]}" --layers "$start..$end" \
  --out "$out_root/part-$index-of-$count" --quiet ${EXTRA_FLAGS:-}
