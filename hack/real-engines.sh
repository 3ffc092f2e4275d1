#!/usr/bin/env bash
# Installs the real database servers test/realengine runs dbctl's rendered files in
# (Debian 12: PostgreSQL 15, MariaDB 10.11), the tools its pods are wired with
# (socat, iptables) and shellcheck (phases/engine checks the scripts with it), and
# stops the servers Debian starts on install. Idempotent; quick when everything is
# installed. Needs root.
set -euo pipefail
pkgs=(postgresql-15 mariadb-server socat iptables shellcheck)
missing=(); for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then apt-get update -qq; fi
if ((${#missing[@]})); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; fi
service postgresql stop >/dev/null 2>&1 || true
service mariadb stop >/dev/null 2>&1 || true
echo "real engines: $(/usr/lib/postgresql/15/bin/postgres --version); $(/usr/sbin/mariadbd --version)"
