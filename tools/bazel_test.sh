#!/usr/bin/env bash
# Runs the whole Bazel test suite offline, in batch mode (no Bazel server is
# left running). Extra arguments go to `bazel test`, e.g. in CI:
#
#   tools/bazel_test.sh --test_tag_filters=-slow
#
# Needs the project virtualenv at .venv/ (python -m venv .venv &&
# .venv/bin/pip install -e '.[test]'), or PXNAS_BAZEL_PYTHON=/abs/path/python.
# Installs Debian's Bazel 4.2.3 (bazel-bootstrap) and its stand-in rule
# repositories (bazel-bootstrap-source) when they are missing.
# Exit status: Bazel's (0 all passed, 3 some test failed, 4 no tests, ...).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v bazel >/dev/null 2>&1 || [[ ! -d /usr/src/bazel-bootstrap/mock_repos ]]; then
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
  echo "bazel_test.sh: installing bazel-bootstrap bazel-bootstrap-source" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq bazel-bootstrap bazel-bootstrap-source >/dev/null
fi

# Absolute, and not symlink-resolved: Python finds the venv from this path.
python="${PXNAS_BAZEL_PYTHON:-$root/.venv/bin/python}"
if [[ ! -x "$python" ]]; then
  echo "bazel_test.sh: no Python at $python; create the venv first:" >&2
  echo "  python3 -m venv .venv && .venv/bin/pip install -e '.[test]'" >&2
  exit 2
fi

exec bazel --batch test //... --python_path="$python" "$@"
