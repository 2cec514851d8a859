# Shared by the scripts: create .venv with a Python >= 3.11.
ensure_venv() {
  if [ -x .venv/bin/python ]; then
    return
  fi
  local py=""
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$candidate"
      break
    fi
  done
  if [ -z "$py" ]; then
    echo "error: Python 3.11 or newer is required" >&2
    exit 1
  fi
  echo "==> creating .venv with $py"
  "$py" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
}
