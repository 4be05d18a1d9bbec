#!/usr/bin/env bash
# Delete facekp run directories (checkpoints, TensorBoard logs, metrics).
#   ./clear_ckpts.sh                every run under ./runs/ of the current folder (asks first)
#   ./clear_ckpts.sh runs/a runs/b  just these runs (asks first)
#   ./clear_ckpts.sh -y ...         without asking
# Paths are relative to the current folder, wherever the script lives. A path is deleted only
# when it is a run directory: a folder holding config.json, or any folder inside a runs/ folder;
# never /, the home folder, this repository, the current folder or a folder containing them, nor
# a model the repository ships (facekp/shipped/). A link is removed itself, never the run it names.
set -euo pipefail
repo="$(cd "$(dirname "$0")" && pwd -P)"
here="$(pwd -P)"
home="$(realpath -m -- "${HOME:-/}")"
refuse() { echo "error: $1: $2; refusing to delete it" >&2; exit 2; }
keep() {  # ARG REAL FOLDER WHAT: refuse REAL when it is FOLDER or holds it
  if [[ "$3" == "$2" || "$3" == "$2"/* ]]; then refuse "$1" "$4 ($3), or a folder holding it"; fi
}
yes=0
if [[ "${1:-}" == "-y" ]]; then yes=1; shift; fi
targets=()
if [[ $# -eq 0 ]]; then
  for d in runs/*/; do [[ -d "$d" ]] && targets+=("$here/${d%/}"); done
else
  for arg in "$@"; do
    if [[ -L "$arg" ]]; then targets+=("$(realpath -s -m -- "$arg")"); continue; fi
    real="$(realpath -m -- "$arg")"
    [[ -d "$real" ]] || { echo "error: $arg: no such run directory" >&2; exit 2; }
    keep "$arg" "$real" / "the root folder"
    keep "$arg" "$real" "$home" "the home folder"
    keep "$arg" "$real" "$repo" "the facekp repository"
    keep "$arg" "$real" "$here" "the current folder"
    if [[ "$real" == "$repo/facekp/shipped" || "$real" == "$repo/facekp/shipped"/* ]]; then
      refuse "$arg" "a model this repository ships ($real)"
    fi
    if [[ ! -f "$real/config.json" && "$real" != */runs/* ]]; then
      refuse "$arg" "not a run directory (no config.json, not inside a runs/ folder)"
    fi
    targets+=("$real")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then echo "nothing to delete (no runs under $here/runs)"; exit 0; fi
printf 'will delete:\n'; printf '  %s\n' "${targets[@]}"
if [[ $yes -eq 0 ]]; then
  read -r -p "delete these ${#targets[@]} run(s)? [y/N] " answer || answer=""
  [[ "$answer" == "y" || "$answer" == "Y" ]] || { echo "nothing deleted"; exit 1; }
fi
rm -rf -- "${targets[@]}"
echo "deleted ${#targets[@]} run(s)"
