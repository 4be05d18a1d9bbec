#!/usr/bin/env bash
# Delete run directories under runs/ (checkpoints, TensorBoard logs, metrics).
#   ./clear_ckpts.sh               every run under runs/ (asks first)
#   ./clear_ckpts.sh runs/a runs/b  just these runs (asks first)
#   ./clear_ckpts.sh -y ...         without asking
# Refuses any path that is not a directory inside runs/.
set -euo pipefail
cd "$(dirname "$0")"
yes=0
if [[ "${1:-}" == "-y" ]]; then yes=1; shift; fi
root="$(pwd -P)/runs"
targets=()
if [[ $# -eq 0 ]]; then
  [[ -d runs ]] && for d in runs/*/; do [[ -d "$d" ]] && targets+=("${d%/}"); done
else
  for arg in "$@"; do
    real="$(realpath -m -- "$arg")"
    if [[ "$real" != "$root"/* || "$real" == "$root" ]]; then
      echo "error: $arg: not a run directory inside runs/; refusing to delete it" >&2
      exit 2
    fi
    [[ -d "$real" ]] || { echo "error: $arg: no such run directory" >&2; exit 2; }
    targets+=("$real")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then echo "nothing to delete"; exit 0; fi
printf 'will delete:\n'; printf '  %s\n' "${targets[@]}"
if [[ $yes -eq 0 ]]; then
  read -r -p "delete these ${#targets[@]} run(s)? [y/N] " answer || answer=""
  [[ "$answer" == "y" || "$answer" == "Y" ]] || { echo "nothing deleted"; exit 1; }
fi
rm -rf -- "${targets[@]}"
echo "deleted ${#targets[@]} run(s)"
