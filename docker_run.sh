#!/usr/bin/env bash
# Start a shell in the `min-nets` image with all GPUs, this repository mounted at
# /workspace and the data folder at /data (DATA_FOLDER, default ./data).
set -euo pipefail
repo="$(cd "$(dirname "$0")" && pwd)"
data="${DATA_FOLDER:-$repo/data}"
mkdir -p "$data"
# A terminal only when there is one, so `./docker_run.sh python ...` works from scripts too.
tty=(-i); [ -t 0 ] && tty=(-it)
docker run --rm "${tty[@]}" --gpus all --ipc=host \
    -v "$repo":/workspace -v "$(realpath "$data")":/data \
    -e DATA_FOLDER=/data \
    min-nets "$@"
