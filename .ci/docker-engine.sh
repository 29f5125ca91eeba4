#!/usr/bin/env bash
# Make a real Docker engine available on this machine, for tests and CI.
#
# These machines ship the docker CLI but no running engine, and no image
# registry is reachable. This script (idempotent, safe to call many times):
#   1. installs Debian's docker.io and debootstrap if they are missing;
#   2. starts dockerd in the background if no engine answers;
#   3. builds a local stand-in for the official `python:3.11-slim` image
#      (Debian bookworm with python3 + pip, `python`/`pip` on PATH, pip allowed
#      to install system-wide, this machine's CA bundle so pip inside
#      `docker build` reaches the package index) and tags it `python:3.11-slim`.
#
# After it returns 0, `docker build` of a Dockerfile that starts
# `FROM python:3.11-slim` and `docker run -p 127.0.0.1:PORT:8000 ...` work
# as they would on a developer laptop. Exit status 1 means no engine could be
# had; tests that need one should then fail loudly in CI, not skip silently.
#
# A copy of the development machines' ../shared/scripts/docker-engine.sh, so that CI (a clean
# checkout) has it. Usage:  .ci/docker-engine.sh        (from the project root)
#         DOCKER_BASE_TAG=python:3.11-slim (default)    tag of the base image
set -euo pipefail

BASE_TAG="${DOCKER_BASE_TAG:-python:3.11-slim}"
CACHE_DIR="${DOCKER_ENGINE_CACHE:-/var/cache/openenv-docker-base}"
LOG=/tmp/dockerd.log

log() { echo "[docker-engine] $*" >&2; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  log "installing docker.io and debootstrap from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $LOG)"
  nohup dockerd --host unix:///var/run/docker.sock >"$LOG" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers; see $LOG"
  exit 1
fi

if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  log "engine up; base image $BASE_TAG present"
  exit 0
fi

mkdir -p "$CACHE_DIR"
TARBALL="$CACHE_DIR/bookworm-python3.tar"
if [ ! -s "$TARBALL" ]; then
  ROOT="$(mktemp -d)"
  log "debootstrapping a Debian bookworm root with python3 (about a minute)"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$ROOT" >/tmp/debootstrap.log 2>&1 || { log "debootstrap failed; see /tmp/debootstrap.log"; exit 1; }
  # Behave like the official image: `python` and `pip` on PATH, system-wide pip allowed.
  ln -sf /usr/bin/python3 "$ROOT/usr/local/bin/python"
  ln -sf /usr/bin/pip3 "$ROOT/usr/local/bin/pip"
  rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
  # Trust the same certificate authorities as this machine, so pip works inside builds.
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
  tar -C "$ROOT" -cf "$TARBALL" .
  rm -rf "$ROOT"
fi

log "importing base image as $BASE_TAG"
docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
  --change 'CMD ["python3"]' \
  "$TARBALL" "$BASE_TAG" >/dev/null
log "engine up; base image $BASE_TAG ready"
