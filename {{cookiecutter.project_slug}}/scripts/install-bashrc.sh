#!/bin/bash
# Put scripts/bashrc-snippet.sh into ~/.bashrc between marker lines, once:
#   scripts/install-bashrc.sh [--yes] [BASHRC]     (default ~/.bashrc)
# It is for the cluster's ~/.bashrc: elsewhere (no $CC_CLUSTER) it asks first, or needs --yes
# (or INSTALL_BASHRC_YES=1). Run again, it changes nothing or replaces only the block (after a
# backup). It refuses, changing nothing, when the markers are broken, when lines of yours are
# inside the block or set these variables outside it, or when the file is read-only.
set -euo pipefail
yes="${INSTALL_BASHRC_YES:-}"
if [[ "${1:-}" == "--yes" ]]; then
  yes=1
  shift
fi
bashrc="${1:-$HOME/.bashrc}"
snippet="$(dirname "$0")/bashrc-snippet.sh"
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
[[ ! -e $target || -f $target ]] || die "$bashrc is not a regular file; give the path of your bashrc, then run this again"
# Root may write any file: check the owner's write bit too, not only -w.
if [[ -e $target ]] && { [[ ! -w $target ]] || [[ "$(stat -c %A -- "$target")" != ??w* ]]; }; then
  die "$bashrc is read-only; make it writable (chmod u+w '$target'), then run this again"
fi
for folder in "$(dirname -- "$target")" "$(dirname -- "$bashrc")"; do # the new file's and the backup's
  [[ -w $folder ]] || die "cannot create files in $folder (for the backup and the new $bashrc); fix its permissions, then run this again"
done

tmp="$(mktemp -- "$target.XXXXXX")" # the new text, written beside the file: the rename is atomic
trap 'rm -f -- "$tmp"' EXIT
# One run at a time, or two runs (two logins) each write their own copy and one is lost. The lock
# file is deleted at exit, so a run that got the lock of a deleted file locks again.
lock="$target.install-bashrc.lock"
while command -v flock >/dev/null; do # (no flock: no lock)
  exec 9>>"$lock"
  flock -w 30 9 || die "another install-bashrc.sh has held $lock for 30 s; wait for it to finish, then run this again"
  trap 'rm -f -- "$tmp" "$lock"' EXIT # removed while still held
  if [[ /dev/fd/9 -ef $lock ]]; then break; fi
done

# One pass writes the new text (the block where the first block was, or at the end; other blocks
# dropped; other lines as they were) and says what is wrong, if anything. Marker lines may end in CR
# (a file saved on Windows) or blanks. Inside the block, comments, blank lines, the snippet's lines
# and the account lines of any earlier version are ours; any other line there is the user's.
input="$target"
[[ -e $target ]] || input=/dev/null
problem="$(awk -f /dev/stdin "$snippet" "$input" 2>&1 >"$tmp" <<'AWK'
FILENAME == ARGV[1] { ours[$0] = 1; next }
{ line = $0; sub(/[ \t\r]+$/, "", line); at = "line " FNR " of " ENVIRON["BASHRC"] }
line == ENVIRON["BEGIN"] && inside {
  msg = at " is a second begin marker inside the block that begins on line " start "; delete one of the two marker lines"
  exit
}
line == ENVIRON["BEGIN"] { if (!done) print ENVIRON["BLOCK"]; done = inside = 1; start = FNR; next }
line == ENVIRON["END"] && !inside {
  msg = at " is an end marker with no begin marker before it; delete that line"
  exit
}
line == ENVIRON["END"] { inside = 0; next }
inside {
  if (line != "" && line !~ /^[ \t]*#/ && !(line in ours) &&
      line !~ /^export[ \t]+S(LURM|BATCH|ALLOC)_ACCOUNT=("[$]SLURM_ACCOUNT"|'[^']*'|[-A-Za-z0-9_.@%+:,]*)$/)
    mine = mine (mine == "" ? "" : "; ") "line " FNR ": " line
  next
}
{ print }
# The user's own lines: any assignment (export, declare -x, typeset, NAME=, ${NAME:=...}) or any
# unset / export -n / declare +x of these variables, outside comments.
line !~ /^[ \t]*#/ &&
  (line ~ /(^|[^A-Za-z0-9_$])S(LURM|BATCH|ALLOC)_ACCOUNT[+:]?=/ ||
   (line ~ /(^|[^A-Za-z0-9_])(unset|export[ \t]+-n|(declare|typeset)[ \t]+\+x)[ \t]/ &&
    line ~ /[ \t]S(LURM|BATCH|ALLOC)_ACCOUNT([^A-Za-z0-9_]|$)/)) {
  sets = sets (sets == "" ? "" : "; ") "line " FNR ": " line
}
END {
  if (msg == "" && inside)
    msg = "line " start " of " ENVIRON["BASHRC"] " is a begin marker with no end marker after it; add the line '" ENVIRON["END"] "' where the block ends (or delete line " start ")"
  if (msg == "" && mine != "")
    msg = ENVIRON["BASHRC"] " has lines of yours inside the marked block (" mine "); move them above the begin marker or below the end marker"
  if (msg == "" && sets != "")
    msg = ENVIRON["BASHRC"] " already sets (or unsets) the account outside the marked block (" sets "); remove or edit those lines yourself"
  if (msg != "")
    print msg >"/dev/stderr"
  else if (!done)
    print ENVIRON["BLOCK"]
}
AWK
)" || die "cannot read $bashrc or $snippet: $problem; fix it, then run this again"
[[ -z $problem ]] || die "$problem, then run this again"

backup="none, it is a new file"
if [[ ! -e $target ]]; then
  chmod "$(printf '%o' $((0666 & ~$(umask))))" -- "$tmp"
  mv -f -- "$tmp" "$target"
elif cmp -s -- "$tmp" "$target"; then
  echo "install-bashrc.sh: $bashrc already has this block; nothing changed"
  exit 0
else
  # a backup under a new name every time (mktemp: never an earlier one's), as readable as the file
  backup="$(mktemp -- "$bashrc.bak-$(date +%Y%m%d-%H%M%S).XXXX")" ||
    die "cannot create a backup beside $bashrc; fix the folder's permissions, then run this again"
  cp -p -- "$target" "$backup" ||
    { rm -f -- "$backup"; die "cannot write the backup $backup; free some space or fix the folder's permissions, then run this again"; }
  if (($(stat -c %h -- "$target") > 1)); then
    cat -- "$tmp" >"$target" # hard links: a rename would leave the other names with the old text
  else
    # renamed over the original: a reader sees the old file or the new one, never half of it
    chmod --reference="$target" -- "$tmp"
    chown --reference="$target" -- "$tmp" 2>/dev/null || true # only root can, for another user's file
    mv -f -- "$tmp" "$target"
  fi
fi
echo "install-bashrc.sh: account block written to $bashrc (backup: $backup)"
echo "Run 'source $bashrc' or log in again; 'echo \$SBATCH_ACCOUNT' then prints the account."
