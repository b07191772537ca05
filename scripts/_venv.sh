# Sourced by scripts/start and scripts/check: make .venv with Python >= 3.11 and install Kith into it.
kith_venv() {
  local py="${PYTHON:-}"
  if [ -z "$py" ]; then
    for c in python3.13 python3.12 python3.11 python3; do
      # pyenv shims exist for versions that are not selected: run each candidate, quietly, to be sure.
      if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then py="$c"; break; fi
    done
  fi
  [ -n "$py" ] || { echo "kith: Python 3.11 or newer is needed; install it and try again" >&2; exit 1; }
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  local extra=""
  [ "${1:-}" = dev ] && extra="[dev]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra"
}
