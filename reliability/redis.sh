#!/usr/bin/env bash
# Installs redis-server from the distribution's packages when it is missing (the tests of
# steadfast-redis start their own servers on 127.0.0.1).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q redis-server
# The package starts a system-wide server on port 6379; the tests do not use it.
$SUDO systemctl stop redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true
redis-server --version
