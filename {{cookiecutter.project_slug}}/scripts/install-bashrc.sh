#!/bin/bash
# Put scripts/bashrc-snippet.sh into ~/.bashrc between marker lines, once:
#   scripts/install-bashrc.sh [--yes] [BASHRC]     (default ~/.bashrc)
# It is for the cluster's ~/.bashrc: elsewhere (no $CC_CLUSTER) it asks before writing ~/.bashrc,
# and without a terminal it refuses unless --yes (or INSTALL_BASHRC_YES=1) says to go on.
# Running it again changes nothing, or replaces only the marked block (after a backup).
# It refuses, and changes nothing, when the markers are broken, when the block holds lines of
# yours, when your own lines outside the block set these variables, or when the file is read-only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
yes="${INSTALL_BASHRC_YES:-}"
if [[ "${1:-}" == "--yes" ]]; then
  yes=1
  shift
fi
bashrc="${1:-$HOME/.bashrc}"
snippet="$here/bashrc-snippet.sh"
export BEGIN="# >>> DRAC Slurm account (cookiecutter-drac-ml) >>>"
export END="# <<< DRAC Slurm account (cookiecutter-drac-ml) <<<"
BLOCK="$(printf '%s\n%s\n%s' "$BEGIN" "$(cat "$snippet")" "$END")"
export BLOCK BASHRC="$bashrc"

die() {
  echo "install-bashrc.sh: $*; nothing changed" >&2
  exit 1
}

if [[ -z "${CC_CLUSTER:-}" && -z "${1:-}" && "$yes" != 1 ]]; then
  echo "install-bashrc.sh: this is for your ~/.bashrc on the cluster (it sets the Slurm account for sbatch), and this does not look like a DRAC cluster (no \$CC_CLUSTER)"
  [[ -t 0 ]] || die "run it on the cluster, or say to go on: scripts/install-bashrc.sh --yes"
  read -r -p "Write the block into $bashrc here anyway? [y/N] " answer
  [[ "$answer" == [yY]* ]] || die "not written"
fi

# Dotfile managers make ~/.bashrc a symlink: edit the file it points to and keep the link.
target="$(readlink -f -- "$bashrc")" ||
  die "cannot follow $bashrc to a file (broken link or missing folder); fix the path, then run this again"
if [[ -e $target && ! -f $target ]]; then
  die "$bashrc is not a regular file; give the path of your bashrc, then run this again"
fi
# Root may write any file: check the owner's write bit too, not only -w.
if [[ -e $target ]] && { [[ ! -w $target ]] || [[ "$(stat -c %A -- "$target")" != ??w* ]]; }; then
  die "$bashrc is read-only; make it writable (chmod u+w '$target'), then run this again"
fi
# The new file, the lock and the backup are made beside the file and beside the name given.
for folder in "$(dirname -- "$target")" "$(dirname -- "$bashrc")"; do
  [[ -w $folder ]] || die "cannot create files in $folder (for the backup and the new $bashrc); fix its permissions, then run this again"
done

tmp=""
lock="$target.install-bashrc.lock"
locked=""
cleanup() {
  if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi
  if [[ -n $locked ]]; then rm -f -- "$lock"; fi # removed while still held, see below
}
trap cleanup EXIT

# One run at a time, or two runs (two logins) each write their own copy and one is lost.
# The lock file is deleted at exit, so a run that waited on a deleted file locks again.
if command -v flock >/dev/null; then
  while :; do
    exec 9>>"$lock"
    flock -w 30 9 || die "another install-bashrc.sh has held $lock for 30 s; wait for it to finish, then run this again"
    if [[ /dev/fd/9 -ef $lock ]]; then break; fi
    exec 9>&-
  done
  locked=1
fi

# Check everything before changing anything. Marker lines may end in CR (a file saved on
# Windows) or blanks. Inside the block, comments, blank lines, the snippet's lines and the
# account lines of any earlier version are ours; any other line there is the user's.
input="$target"
[[ -e $target ]] || input=/dev/null
problem="$(awk -f /dev/stdin "$snippet" "$input" <<'AWK'
FNR == NR { ours[$0] = 1; next }
{ line = $0; sub(/[ \t\r]+$/, "", line) }
line == ENVIRON["BEGIN"] {
  if (inside) {
    msg = "line " FNR " of " ENVIRON["BASHRC"] " is a second begin marker inside the block that begins on line " start \
      "; delete one of the two marker lines, then run this again"
    exit
  }
  inside = 1; start = FNR; next
}
line == ENVIRON["END"] {
  if (!inside) {
    msg = "line " FNR " of " ENVIRON["BASHRC"] " is an end marker with no begin marker before it" \
      "; delete that line, then run this again"
    exit
  }
  inside = 0; next
}
inside {
  if (line != "" && line !~ /^[ \t]*#/ && !(line in ours) &&
      line !~ /^export[ \t]+S(LURM|BATCH|ALLOC)_ACCOUNT=("[$]SLURM_ACCOUNT"|'[^']*'|[-A-Za-z0-9_.@%+:,]*)$/)
    mine = mine (mine == "" ? "" : "; ") "line " FNR ": " line
  next
}
# The user's own lines: any assignment (export, declare -x, typeset, NAME=, ${NAME:=...}) or
# any unset / export -n / declare +x of these variables, outside comments.
line !~ /^[ \t]*#/ &&
  (line ~ /(^|[^A-Za-z0-9_$])S(LURM|BATCH|ALLOC)_ACCOUNT[+:]?=/ ||
   (line ~ /(^|[^A-Za-z0-9_])(unset|export[ \t]+-n|(declare|typeset)[ \t]+\+x)[ \t]/ &&
    line ~ /[ \t]S(LURM|BATCH|ALLOC)_ACCOUNT([^A-Za-z0-9_]|$)/)) {
  sets = sets (sets == "" ? "" : "; ") "line " FNR ": " line
}
END {
  if (msg == "" && inside)
    msg = "line " start " of " ENVIRON["BASHRC"] " is a begin marker with no end marker after it" \
      "; add the line '" ENVIRON["END"] "' where the block ends (or delete line " start "), then run this again"
  if (msg == "" && mine != "")
    msg = ENVIRON["BASHRC"] " has lines of yours inside the marked block (" mine \
      "); move them above the begin marker or below the end marker, then run this again"
  if (msg == "" && sets != "")
    msg = ENVIRON["BASHRC"] " already sets (or unsets) the account outside the marked block (" sets \
      "); remove or edit those lines yourself, then run this again"
  print msg
}
AWK
)"
[[ -z $problem ]] || die "$problem"

# The new text: the block where the first block was (or at the end), other blocks dropped,
# every other line as it was. Written beside the file so that the rename below is atomic.
tmp="$(mktemp -- "$target.XXXXXX")"
awk '
  { line = $0; sub(/[ \t\r]+$/, "", line) }
  line == ENVIRON["BEGIN"] { if (!done) print ENVIRON["BLOCK"]; done = 1; inside = 1; next }
  line == ENVIRON["END"] { inside = 0; next }
  !inside { print }
  END { if (!done) print ENVIRON["BLOCK"] }
' "$input" >"$tmp"
if [[ -e $target ]] && cmp -s -- "$tmp" "$target"; then
  echo "install-bashrc.sh: $bashrc already has this block; nothing changed"
  exit 0
fi

# Backup: a new name every time (never overwrite an earlier one), readable only as the original.
backup=""
if [[ -e $target ]]; then
  stamp="$(date +%Y%m%d-%H%M%S)"
  backup="$bashrc.bak-$stamp"
  n=1
  while [[ -e $backup || -L $backup ]]; do
    backup="$bashrc.bak-$stamp-$n"
    n=$((n + 1))
  done
  if ! (umask 077 && set -C && cat -- "$target" >"$backup") || ! chmod --reference="$target" -- "$backup"; then
    rm -f -- "$backup"
    die "cannot write the backup $backup; free some space or fix the folder's permissions, then run this again"
  fi
fi

if [[ -e $target ]] && (($(stat -c %h -- "$target") > 1)); then
  # Hard links: a rename would leave the other names with the old text; write in place.
  cat -- "$tmp" >"$target"
  rm -f -- "$tmp"
else
  # Rename over the original, so that a reader sees the old file or the new one, never half.
  if [[ -e $target ]]; then
    chmod --reference="$target" -- "$tmp"
    chown --reference="$target" -- "$tmp" 2>/dev/null || true # only root can, for another user's file
  else
    chmod "$(printf '%o' $((0666 & ~$(umask))))" -- "$tmp"
  fi
  mv -f -- "$tmp" "$target"
fi
tmp=""
echo "install-bashrc.sh: account block written to $bashrc (backup: ${backup:-none, it is a new file})"
echo "Run 'source $bashrc' or log in again; 'echo \$SBATCH_ACCOUNT' then prints the account."
