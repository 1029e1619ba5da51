#!/usr/bin/env bash
# Build the image `min-nets` for the calling user (run from anywhere).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
docker build -f "$repo/docker/Dockerfile" \
    --build-arg USER_ID="$(id -u)" --build-arg GROUP_ID="$(id -g)" \
    -t min-nets "$repo"
