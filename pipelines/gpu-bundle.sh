#!/usr/bin/env bash
# Builds the GPU check's bundle on a CPU machine (no GPU needed to build): the CUDA build of
# `neuron-census` and of the fixture parity check, the random-model writer, the small parity
# fixtures of every family and gpu-check.sh, stripped, in one tarball that must stay under 64 MiB. On the GPU
# host: tar -xzf gpu-check.tar.gz && gpu-check/gpu-check.sh
#
#   pipelines/gpu-bundle.sh [OUT.tar.gz]      (default: target/gpu-check.tar.gz)
#
# CARGO_TARGET_DIR is honoured (a separate one keeps the CPU builds' binaries as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="${1:-$target/gpu-check.tar.gz}"
cargo build --release --features cuda \
  -p census-cli --bin neuron-census \
  -p census-extract --example fixture_parity \
  -p census-train --example random_opt
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gpu-check/bin" "$stage/gpu-check/fixtures/opt" "$stage/gpu-check/fixtures/families"
cp "$target/release/neuron-census" "$target/release/examples/fixture_parity" \
  "$target/release/examples/random_opt" "$stage/gpu-check/bin/"
strip "$stage/gpu-check/bin/"*
for fixture in pre-ln post-ln-proj odd f16; do
  cp -r "tests/fixtures/opt/$fixture" "$stage/gpu-check/fixtures/opt/"
done
for fixture in gpt2 pythia llama qwen2 mistral; do
  cp -r "tests/fixtures/families/$fixture" "$stage/gpu-check/fixtures/families/"
done
cp pipelines/gpu-check.sh "$stage/gpu-check/"
tar -czf "$out" -C "$stage" gpu-check
size=$(stat -c %s "$out")
echo "$out: $((size / 1048576)) MiB"
if [ "$size" -ge $((64 * 1048576)) ]; then
  echo "the bundle is over 64 MiB" >&2
  exit 1
fi
