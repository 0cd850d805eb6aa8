#!/usr/bin/env bash
# The git e2e scenario: in the tree make_tree.sh wrote, runs git init, adds and commits the 300
# files in three commits (the last one edits, moves and deletes some), then prints the log with
# per-file stats, repacks with git gc and checks the repository with git fsck. Names, dates and
# configuration are fixed, so commit hashes and all output are the same in every run.
set -euo pipefail

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="E2E Author" GIT_AUTHOR_EMAIL=author@example.org
export GIT_COMMITTER_NAME="E2E Committer" GIT_COMMITTER_EMAIL=committer@example.org

commit() { # commit DATE MESSAGE
  GIT_AUTHOR_DATE=$1 GIT_COMMITTER_DATE=$1 git commit -q -m "$2"
}

git init -q -b main .
git config gc.auto 0 # no detached background gc outliving the run
git add src
commit "2024-01-01T10:00:00Z" "Add sources"
git add docs
commit "2024-01-02T10:00:00Z" "Add docs"
for f in src/part*/sub0/file*.txt; do echo "edited" >>"$f"; done
git mv docs/part1 docs/moved
git rm -q -r -f src/part6
git add -A
commit "2024-01-03T10:00:00Z" "Edit, move and delete"

git log --stat --format='%H %an %ad %s' --date=iso-strict
git gc -q
git fsck --strict --no-progress
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
git ls-files | wc -l
