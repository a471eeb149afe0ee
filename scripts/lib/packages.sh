# shellcheck shell=bash
# Sourced by scripts/test and scripts/tour: the Debian packages the project needs, and a function
# that installs whichever are missing. A fresh machine has none of what a session installed by
# hand, so the README commands must install their own needs.

# Everything the builds, tests, tour and lint need. Add new needs here, in one place.
ASYNCIO_PACKAGES=(
    cmake ninja-build        # build
    g++ clang                # both compilers of the test matrix
    libclang-rt-14-dev       # clang's sanitizer and libFuzzer runtimes
    libgtest-dev             # tests
    python3 perl             # scripts (perl: scripts/lint-coroutines)
    liburing-dev             # the io_uring backend (ASYNCIO_WITH_IO_URING, ON when found)
)

# ensure_packages [pkg...]: install the missing ones of the given packages (default: all of the above).
ensure_packages() {
    local pkgs=("$@") missing=() p
    ((${#pkgs[@]})) || pkgs=("${ASYNCIO_PACKAGES[@]}")
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "note: not a Debian system; not checking for: ${pkgs[*]}" >&2
        return 0
    fi
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0

    echo "Installing missing packages: ${missing[*]}" >&2
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: missing packages: ${missing[*]} (not root and no sudo; install them and rerun)" >&2
            return 1
        fi
    fi
    # Try without `apt-get update` first (fast when the lists are fresh); update only if that fails.
    export DEBIAN_FRONTEND=noninteractive
    if "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
        return 0
    fi
    if ! { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }; then
        echo "error: could not install: ${missing[*]}" >&2
        return 1
    fi
}
