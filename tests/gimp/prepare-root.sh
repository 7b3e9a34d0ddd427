#!/usr/bin/env bash
# prepare-root.sh SHARED_GIMP3_DIR ROOT
#
# The GIMP 3 chroot of the plug-in's end-to-end tests: GIMP's own python3 has no grpc and no server
# environment is installed (make-gimp3-root.sh with GRPC_FROM=none), like GIMP on Windows, macOS or
# Flatpak, so the plug-in must use its vendored pure-Python gRPC stack. For the grpcio run,
# /opt/direct-site holds grpcio + protobuf installed with --target (by a throwaway venv's pip, deleted
# afterwards); that run puts it on GIMP's PYTHONPATH. Xvfb and xdotool, so the dialogs can be opened,
# confirmed and photographed.
# Reused as long as ROOT/.gancollage-ready holds the same package list; root needed.
#
# Environment: PIP_PACKAGES="grpcio==X protobuf==Y" (the host's versions).
set -euo pipefail
SHARED=$(realpath -e "${1:?usage: prepare-root.sh SHARED_GIMP3_DIR ROOT}")
ROOT=$(realpath -m "${2:?usage: prepare-root.sh SHARED_GIMP3_DIR ROOT}")
PIP_PACKAGES=${PIP_PACKAGES:-grpcio protobuf}
STAMP="$ROOT/.gancollage-ready"
APT_EXTRA="python3-venv xvfb xdotool"
WANT="gimp3 GRPC_FROM=none + $APT_EXTRA; direct-site: $PIP_PACKAGES"

if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "prepare-root: $ROOT is ready" >&2
  exit 0
fi
mkdir -p "$(dirname "$ROOT")"
GRPC_FROM=none EXTRA_APT_PACKAGES="$APT_EXTRA" "$SHARED/make-gimp3-root.sh" "$ROOT"

in_root() { "$(dirname "$0")/in-root.sh" "$ROOT" "$@"; }
rm -rf "$ROOT/opt/pip-venv" "$ROOT/opt/direct-site"
in_root python3 -m venv /opt/pip-venv
in_root /opt/pip-venv/bin/pip install -q --no-cache-dir --disable-pip-version-check --target /opt/direct-site \
  $PIP_PACKAGES
rm -rf "$ROOT/opt/pip-venv"
in_root python3 -c 'import grpc' 2>/dev/null && { echo "prepare-root: GIMP's python3 must not have grpc" >&2; exit 1; }
in_root python3 -c 'import google.protobuf' 2>/dev/null &&
  { echo "prepare-root: GIMP's python3 must not have protobuf" >&2; exit 1; }
in_root PYTHONPATH=/opt/direct-site python3 -c 'import grpc, google.protobuf'
echo "$WANT" > "$STAMP"
echo "prepare-root: $ROOT ready ($(du -sh -x "$ROOT" | cut -f1))" >&2
