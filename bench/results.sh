# Sourced by bench/run.sh and bench/callgrind.sh: where a run's raw output is kept.

# commit_name: the short commit of HEAD, with "-dirty" when the code a benchmark builds
# (the framework, the bench, the lock file) differs from it.
commit_name() {
    local c
    c="$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git status --porcelain -- framework framework-macros fratello-redis bench Cargo.toml Cargo.lock 2>/dev/null | grep -v -e ' bench/results/' -e ' bench/charts/')" ]; then
        c="$c-dirty"
    fi
    echo "$c"
}

# result_file KIND [COMMIT [EXT]]: a new file bench/results/DATE-COMMIT-KIND.EXT (with -2,
# -3, ... when that name is taken); COMMIT defaults to commit_name's, EXT to md.
result_file() {
    local base n=1 file ext="${3:-md}"
    mkdir -p bench/results
    base="bench/results/$(date +%F)-${2:-$(commit_name)}-$1"
    file="$base.$ext"
    while [ -e "$file" ]; do
        n=$((n + 1))
        file="$base-$n.$ext"
    done
    echo "$file"
}
