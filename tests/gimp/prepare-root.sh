#!/usr/bin/env bash
# prepare-root.sh SHARED_GIMP3_DIR ROOT
#
# One GIMP 3 chroot for both transports of the plug-in's end-to-end tests:
#   - GIMP's own python3 has no grpc (make-gimp3-root.sh with GRPC_FROM=none): the bridge run;
#   - /opt/direct-site holds grpcio + protobuf (+ grpcio-health-checking) installed with --target: the
#     direct run puts it on GIMP's PYTHONPATH, so GIMP's python3 then has grpc;
#   - /opt/bridge-venv is the bridge's interpreter (the "server environment" as seen from GIMP): a venv
#     with grpcio, protobuf, numpy and pillow; the test copies the project's client code to /opt/gancollage;
#   - Xvfb and xdotool, so the dialogs can be opened and confirmed.
# Reused as long as ROOT/.gancollage-ready holds the same package list; root needed.
#
# Environment: PIP_PACKAGES="grpcio==X protobuf==Y grpcio-health-checking==Z" (the host's versions).
set -euo pipefail
SHARED=$(realpath -e "${1:?usage: prepare-root.sh SHARED_GIMP3_DIR ROOT}")
ROOT=$(realpath -m "${2:?usage: prepare-root.sh SHARED_GIMP3_DIR ROOT}")
PIP_PACKAGES=${PIP_PACKAGES:-grpcio protobuf grpcio-health-checking}
STAMP="$ROOT/.gancollage-ready"
APT_EXTRA="python3-venv xvfb xdotool"
WANT="gimp3 GRPC_FROM=none + $APT_EXTRA; direct-site: $PIP_PACKAGES; bridge-venv: $PIP_PACKAGES numpy pillow"

if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "prepare-root: $ROOT is ready" >&2
  exit 0
fi
mkdir -p "$(dirname "$ROOT")"
GRPC_FROM=none EXTRA_APT_PACKAGES="$APT_EXTRA" "$SHARED/make-gimp3-root.sh" "$ROOT"

in_root() { "$(dirname "$0")/in-root.sh" "$ROOT" "$@"; }
PIP=(install -q --no-cache-dir --disable-pip-version-check)
rm -rf "$ROOT/opt/bridge-venv" "$ROOT/opt/direct-site"
in_root python3 -m venv /opt/bridge-venv
in_root /opt/bridge-venv/bin/pip "${PIP[@]}" $PIP_PACKAGES numpy pillow
in_root /opt/bridge-venv/bin/pip "${PIP[@]}" --target /opt/direct-site $PIP_PACKAGES
in_root python3 -c 'import grpc' 2>/dev/null && { echo "prepare-root: GIMP's python3 must not have grpc" >&2; exit 1; }
in_root PYTHONPATH=/opt/direct-site python3 -c 'import grpc, grpc_health, google.protobuf'
echo "$WANT" > "$STAMP"
echo "prepare-root: $ROOT ready ($(du -sh -x "$ROOT" | cut -f1))" >&2
