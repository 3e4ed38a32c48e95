#!/bin/bash
# Put scripts/bashrc-snippet.sh into ~/.bashrc between marker lines, once:
#   scripts/install-bashrc.sh [BASHRC]     (default ~/.bashrc)
# Running it again changes nothing, or replaces only the marked block (after a backup).
# It refuses when your own lines outside the block already set these variables.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bashrc="${1:-$HOME/.bashrc}"
begin="# >>> DRAC Slurm account (cookiecutter-drac-ml) >>>"
end="# <<< DRAC Slurm account (cookiecutter-drac-ml) <<<"
block="$(printf '%s\n%s\n%s' "$begin" "$(cat "$here/bashrc-snippet.sh")" "$end")"

touch "$bashrc"
outside="$(awk -v b="$begin" -v e="$end" '$0 == b {skip = 1} !skip {print NR": "$0} $0 == e {skip = 0}' "$bashrc" |
  grep -E '^[0-9]+: *(export +)?S(LURM|BATCH|ALLOC)_ACCOUNT=' || true)"
if [[ -n "$outside" ]]; then
  echo "install-bashrc.sh: $bashrc already sets the account outside the marked block; nothing changed:" >&2
  echo "$outside" >&2
  echo "Remove or edit those lines yourself, then run this again." >&2
  exit 1
fi

current="$(awk -v b="$begin" -v e="$end" '$0 == b {keep = 1} keep {print} $0 == e {keep = 0}' "$bashrc")"
if [[ "$current" == "$block" ]]; then
  echo "install-bashrc.sh: $bashrc already has this block; nothing changed"
  exit 0
fi
backup="$bashrc.bak-$(date +%Y%m%d-%H%M%S)"
cp -p "$bashrc" "$backup"
tmp="$(mktemp "$bashrc.XXXXXX")"
awk -v b="$begin" -v e="$end" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' "$bashrc" >"$tmp"
printf '%s\n' "$block" >>"$tmp"
chmod --reference="$bashrc" "$tmp" 2>/dev/null || true
mv "$tmp" "$bashrc"
echo "install-bashrc.sh: account block written to $bashrc (backup: $backup)"
echo "Run 'source $bashrc' or log in again; 'echo \$SBATCH_ACCOUNT' then prints the account."
