#!/usr/bin/env bash
# Extraction split over a Slurm job array: task i of n writes RUN_ROOT/shard-i-of-n, holding the
# sequences with `seq % n == i` of one logical run (sequence and document ids are global, so the
# statistics stage merges the shard directories into one result).
#
#   sbatch --array=0-7 pipelines/slurm-extract.sh facebook-opt-13b-dir runs/opt-13b data/a.jsonl data/b.jsonl
#
# A task that is preempted or fails can simply be resubmitted: the same command on the same
# directory resumes from its last committed part. Set EXTRA_FLAGS for more flags, for example
# EXTRA_FLAGS="--device cuda --ffn dense --dtype bf16 --stream-layers --max-seq-len 2048".
# NEURON_CENSUS names the neuron-census binary (default target/release/neuron-census).
#SBATCH --job-name=census-extract
#SBATCH --gpus=1
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --output=census-extract-%A_%a.log
set -euo pipefail

if [ "$#" -lt 3 ]; then
  echo "usage: sbatch --array=0-(N-1) $0 MODEL_DIR RUN_ROOT DATA [DATA ...]" >&2
  exit 2
fi
model=$1
run_root=$2
shift 2

index=${SLURM_ARRAY_TASK_ID:?run as a Slurm array task}
count=${SLURM_ARRAY_TASK_COUNT:?run as a Slurm array task}
binary=${NEURON_CENSUS:-target/release/neuron-census}

data_flags=()
for source in "$@"; do
  data_flags+=(--data "$source")
done

# shellcheck disable=SC2086 # EXTRA_FLAGS is a list of flags
exec "$binary" extract --model "$model" "${data_flags[@]}" \
  --out "$run_root/shard-$index-of-$count" --shard "$index/$count" --quiet ${EXTRA_FLAGS:-}
