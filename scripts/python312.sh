#!/bin/sh
# Prints the path of a Python 3.12 (the Lambda runtime's version) that really runs, or nothing.
# A pyenv shim for a version that is not selected exists on PATH but fails ("command not found"), so each
# candidate is run, not just looked up: PYTHON312 if set, python3.12 on PATH, then pyenv's own installs.
for candidate in "${PYTHON312:-}" python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 \
                 /usr/local/bin/python3.12 /usr/bin/python3.12; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
    echo "$path"
    exit 0
  fi
done
