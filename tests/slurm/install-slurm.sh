#!/usr/bin/env bash
# Install Debian's Slurm (with slurmdbd and a MariaDB server for `sacct`) and munge when they are missing.
# Needs root and apt; exits 0 without doing anything when they are already there.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-slurm: not root or no apt-get; the Slurm tests will be skipped" >&2
  exit 0
fi
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    slurm-wlm slurmdbd mariadb-server munge >/dev/null
