#!/usr/bin/env bash
# The Pi install, proven on arm64 without a Pi: emulated 64-bit Debian roots (Bookworm, the
# release Raspberry Pi OS Bookworm is built on, and Trixie), and inside each the real installer
# twice, the installed app as its service user, the models' answers against this machine's, the
# app's tests on apt's numpy, OpenCV and pygame, and the uninstaller.
#
#   sudo bash .ci/arm64.sh                  Bookworm and Trixie
#   sudo bash .ci/arm64.sh trixie           one release
#
# Needs root on an x86-64 Debian or Ubuntu host whose kernel takes binfmt_misc; installs
# qemu-user-static, binfmt-support and debootstrap from apt. Each root is cached as
# $ARM64_CACHE/arm64-<codename>.tar (default /var/cache/edge-emojify), rebuilt when its package
# list changes, and unpacked afresh for every run. ARM64_MIRROR names the Debian mirror; by default
# it is the one this host's apt uses. Every step is timed; a failure prints the end of that step's
# log and one line naming the step. Whatever this script mounts it unmounts, failure or not.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO
readonly CACHE=${ARM64_CACHE:-/var/cache/edge-emojify}
readonly WORK=${ARM64_WORK:-/var/tmp/edge-emojify-arm64}
readonly SRC=/src/edge-emojify        # where the checkout goes inside each root
# qemu-user 7.2 (Debian 12's own) kills LiteRT 2.2 and newer with signal 11 in allocate_tensors.
readonly QEMU_MIN=8
readonly VENV_PY=/opt/edge-emojify/venv/bin/python
# The cached root: what every Pi OS image has (python3, systemd), and the test tools from apt.
# The installer's own packages are not here: the installer installs them.
readonly ROOT_PACKAGES=ca-certificates,procps,python3,systemd,python3-pytest,python3-hypothesis,python3-pil
# The app's test modules that run on arm64: those whose outcome rests on what differs there (apt's
# OpenCV, numpy, pygame and Pillow, LiteRT's arm64 kernels, the files and devices a Pi has), at
# most a few model passes each. Emulation runs the models about a hundred times slower, so the
# modules that are mostly many model passes through Python that is the same on every machine
# (test_detector, test_scheduler, test_app; with them the tests alone took 52 minutes a release)
# run on x86 and on a real Pi; on arm64 their native part is what "same answers"
# compares (every model on the bundled portraits, against x86) and the service user's run drives
# end to end. Training modules do not run here: the Pi does not train.
readonly TEST_MODULES=(tests/test_emotion.py tests/test_render.py tests/test_sinks.py tests/test_tracking.py
                       tests/test_decision.py tests/test_sources.py tests/test_capture.py tests/test_backoff.py
                       tests/test_robustness.py tests/test_config.py tests/test_button.py
                       tests/test_snapshots.py tests/test_picamera_source.py tests/test_notify.py
                       tests/test_install.py tests/test_thermal.py tests/test_cuts.py)
# Frames the service user's run writes: each is a full-range pass in line, some 6 s emulated.
readonly RUN_FRAMES=24
# Frames of the generated clip (two faces, a tone) emojified the README's way.
readonly RECORDING_FRAMES=12

ROOT=""
CODENAME=""
SUMMARY=()

log() { printf '%s\n' "$*"; }
die() {
    echo "arm64.sh: $*" >&2
    exit 2
}

# step NAME COMMAND...: run it with its output in a log; print its time, or on failure the end of
# the log and one line naming the step.
step() {
    local name=$1 t0=$SECONDS rc logfile
    shift
    logfile=$WORK/logs/${CODENAME:-host}-$(tr -c 'a-z0-9\n' - <<<"${name,,}" | tr -s -).log
    # A subshell outside any `||`, so `set -e` holds inside the step's functions.
    set +e
    (set -e; "$@") >"$logfile" 2>&1
    rc=$?
    set -e
    local took=$((SECONDS - t0))
    if ((rc != 0)); then
        tail -n 40 "$logfile" | sed 's/^/    | /' >&2
        echo "arm64 ${CODENAME:-host}: step '$name' failed (exit $rc after ${took} s); whole log: $logfile" >&2
        exit 1
    fi
    printf '  %-62s %5d s\n' "$name" "$took"
    SUMMARY+=("$(printf '%-9s %-62s %5d s' "${CODENAME:-host}" "$name" "$took")")
}

# ---------------------------------------------------------------- the host

host_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
    dpkg -s qemu-user-static >/dev/null 2>&1 || missing+=(qemu-user-static)
    dpkg -s binfmt-support >/dev/null 2>&1 || missing+=(binfmt-support)
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    if (($(qemu_major) < QEMU_MIN)); then
        local codename
        codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
        grep -q '^ID=debian' /etc/os-release ||
            die "qemu-user $(qemu_major) is older than $QEMU_MIN, which LiteRT needs under emulation; install a newer one"
        echo "qemu-user $(qemu_major) is older than $QEMU_MIN: taking qemu-user-static from $codename-backports"
        echo "deb $MIRROR $codename-backports main" >/etc/apt/sources.list.d/edge-emojify-backports.list
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t "$codename-backports" \
            qemu-user-static
    fi
    echo "host tools: debootstrap $(dpkg-query -W -f '${Version}' debootstrap)," \
        "qemu-user-static $(dpkg-query -W -f '${Version}' qemu-user-static)"
}

qemu_major() {
    local version
    version=$(qemu-aarch64-static --version 2>/dev/null | sed -n '1s/.*version \([0-9]*\).*/\1/p')
    echo "${version:-0}"
}

binfmt() {
    local dir=/proc/sys/fs/binfmt_misc
    if [[ ! -e $dir/register ]]; then
        mount -t binfmt_misc binfmt_misc "$dir"
    fi
    # Registered anew each time: with the F flag the kernel keeps the file it opened then, so an
    # upgraded qemu is only used once registered again.
    if [[ -e $dir/qemu-aarch64 ]]; then
        echo -1 >"$dir/qemu-aarch64"
    fi
    if [[ -f /usr/lib/binfmt.d/qemu-aarch64.conf ]]; then  # qemu-user-binfmt (Debian 13, backports)
        cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$dir/register"
    else
        update-binfmts --enable qemu-aarch64 || update-binfmts --import qemu-aarch64
    fi
    [[ -e $dir/qemu-aarch64 ]] || die "aarch64 is not registered in $dir; is qemu-user-static installed?"
    # F: the kernel keeps the interpreter open, so it works inside a chroot without a copy there.
    grep -q '^flags: .*F' "$dir/qemu-aarch64" || die "qemu-aarch64 is registered without the F flag"
    cat "$dir/qemu-aarch64"
}

# The Debian mirror this host's apt uses (deb822 or one-line sources), unless ARM64_MIRROR says.
debian_mirror() {
    if [[ -n ${ARM64_MIRROR:-} ]]; then
        echo "$ARM64_MIRROR"
        return
    fi
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *//p' | tr ' ' '\n'
        grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}')
    uri=$(grep -m1 '/debian/\?$' <<<"$uri" || true)
    [[ -n $uri ]] || die "no Debian mirror in this host's apt sources; set ARM64_MIRROR to one"
    echo "${uri%/}"
}

# ---------------------------------------------------------------- one root

cached_root() {
    local tar=$CACHE/arm64-$CODENAME.tar want have
    want="$CODENAME $ROOT_PACKAGES"
    have=$(cat "$tar.packages" 2>/dev/null || true)
    if [[ -s $tar && $have == "$want" ]]; then
        echo "cached: $tar"
        return
    fi
    mkdir -p "$CACHE"
    local build=$WORK/build-$CODENAME
    unmount_under "$build"  # debootstrap mounts /proc and /sys while it works; an interrupted one leaves them
    rm -rf "$build"
    debootstrap --arch=arm64 --variant=minbase --include="$ROOT_PACKAGES" "$CODENAME" "$build" "$MIRROR"
    rm -rf "$build"/var/cache/apt/archives/*.deb "$build"/var/lib/apt/lists/*
    tar -C "$build" -cf "$tar.tmp" .
    mv -f "$tar.tmp" "$tar"
    echo "$want" >"$tar.packages"
    rm -rf "$build"
    echo "built: $tar ($(du -h "$tar" | cut -f1))"
}

# Mounts are listed in a file per release, since steps run in subshells; unmounted newest first.
# unmount_all [CODENAME]: that release's, or every release's.
unmount_all() {
    local target list
    for list in "$WORK"/mounts-${1:-*}; do
        [[ -f $list ]] || continue
        while read -r target; do
            umount "$target" 2>/dev/null || umount -l "$target" || echo "arm64.sh: could not unmount $target" >&2
        done < <(tac "$list")
        rm -f "$list"
    done
}

unmount_under() {
    awk -v dir="$1/" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
}

mount_into() {  # mount_into TARGET mount-args...
    local target=$1
    shift
    mkdir -p "$target"
    mount "$@" "$target"
    echo "$target" >>"$WORK/mounts-$CODENAME"
}

fresh_root() {
    if grep -q " $ROOT/" /proc/mounts; then
        die "$ROOT still has something mounted; unmount it before running again"
    fi
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    tar -C "$ROOT" -xf "$CACHE/arm64-$CODENAME.tar"
    # The checkout, as git sees it (tracked and untracked-but-not-ignored files).
    mkdir -p "$ROOT$SRC"
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r tar -cf - --no-recursion) |
        tar -C "$ROOT$SRC" -xf -
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # Trust what this host trusts (a proxy's own CA, say), as update-ca-certificates would add it.
    local crt
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [[ -e $crt ]] || continue
        install -D -m 0644 "$crt" "$ROOT$crt"
        cat "$crt" >>"$ROOT/etc/ssl/certs/ca-certificates.crt"
    done
    mount_into "$ROOT/proc" -t proc proc
    mount_into "$ROOT/sys" -t sysfs sysfs
    mount_into "$ROOT/dev" --bind /dev
    mount_into "$ROOT/dev/pts" --bind /dev/pts
    [[ $(inside uname -m) == aarch64 ]]
    inside python3 -c 'import platform; print("python", platform.python_version(), platform.machine())'
}

inside() {
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 "$@"
}

checks() {  # the in-root checks, from the copied checkout
    inside bash "$SRC/.ci/arm64-checks.sh" "$@"
}

as_service_user() {
    inside runuser -u edge-emojify -- env HOME=/var/lib/edge-emojify SDL_VIDEODRIVER=dummy "$@"
}

first_install() {
    inside bash "$SRC/systemd/install.sh" | tee "$ROOT/tmp/installer-output.txt"
    checks installed /tmp/installer-output.txt
}

second_install() {
    checks state >"$WORK/logs/$CODENAME-state-1.txt"
    inside bash "$SRC/systemd/install.sh"
    checks state >"$WORK/logs/$CODENAME-state-2.txt"
    diff -u "$WORK/logs/$CODENAME-state-1.txt" "$WORK/logs/$CODENAME-state-2.txt" ||
        { echo "the second run changed the lines above"; return 1; }
    echo "nothing changed: $(wc -l <"$WORK/logs/$CODENAME-state-1.txt") paths, users and packages compared"
}

run_app() {
    as_service_user sh -c "cd /var/lib/edge-emojify && /opt/edge-emojify/venv/bin/edge-emojify doctor; \
        echo \"doctor exit \$?\"" | tee "$WORK/logs/$CODENAME-doctor.txt"
    as_service_user /opt/edge-emojify/venv/bin/edge-emojify run --source sample --frames $RUN_FRAMES --sink video \
        --output /var/lib/edge-emojify/arm64-run.mp4 --no-button
    checks video /var/lib/edge-emojify/arm64-run.mp4 "$RUN_FRAMES"
}

same_answers() {
    inside sh -c "cd $SRC && $VENV_PY .ci/answers.py" >"$WORK/logs/$CODENAME-answers.json"
    "$X86_PY" "$REPO/.ci/answers.py" --compare "$WORK/x86-answers.json" "$WORK/logs/$CODENAME-answers.json"
}

app_tests() {
    inside sh -c "cd $SRC && SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy HYPOTHESIS_PROFILE=emulated EDGE_EMOJIFY_TEST_TIME_SCALE=8 PYTHONPATH=. \
        $VENV_PY -m pytest -q -p no:cacheprovider --durations=15 ${TEST_MODULES[*]}"
}

# The README's way to emojify a recording on a Pi: apt's PyAV. Bookworm's python3-av (10) is too
# old: refused in one line, then done with pip's wheel in the app's venv. (No --timeline, so no
# matplotlib: installing it under emulation took minutes, and its plot is the same on any machine.)
recording() {
    "$X86_PY" -c "import sys; from pathlib import Path; from edge_emojify.video.synthetic import make_clip; \
        make_clip(Path(sys.argv[1]), frames=$RECORDING_FRAMES)" "$ROOT/tmp/clip.mp4"
    inside sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-av >/dev/null"
    if [[ $CODENAME == bookworm ]]; then
        checks recording /tmp/clip.mp4 "$RECORDING_FRAMES" refused
        inside /opt/edge-emojify/venv/bin/pip install -q "av>=$("$X86_PY" -c \
            'from edge_emojify.video.media import FLOOR; print(FLOOR)')"
    fi
    checks recording /tmp/clip.mp4 "$RECORDING_FRAMES" ok
}

uninstall() {
    inside bash "$SRC/systemd/install.sh" --uninstall
    checks uninstalled
    # Installing again over the kept config gives it to the new user (uninstall removed the old).
    inside bash "$SRC/systemd/install.sh" --skip-pip
    checks owned
    inside bash "$SRC/systemd/install.sh" --uninstall --purge
    checks purged
}

one_release() {
    CODENAME=$1
    ROOT=$WORK/$CODENAME
    SUMMARY=()
    log "== arm64 $CODENAME"
    step "root: debootstrap or cache" cached_root
    step "root: unpack, copy the checkout, mount" fresh_root
    step "installer, first run (apt, venv, pip, user, config, unit)" first_install
    step "installer, second run changes nothing" second_install
    step "app as the service user: doctor, $RUN_FRAMES frames to a video" run_app
    step "same answers as x86 (int8 emotion, BlazeFace boxes)" same_answers
    step "the app's tests on apt's numpy, OpenCV, pygame" app_tests
    step "a recording emojified the README's way (apt's PyAV; Bookworm: pip's)" recording
    step "uninstall, install over the kept config, --purge" uninstall
    grep "not in this OS's archive" "$ROOT/tmp/installer-output.txt" || true
    unmount_all "$CODENAME"
    rm -rf "$ROOT"
    printf '%s\n' "${SUMMARY[@]}" >"$WORK/logs/$CODENAME-times.txt"
}

main() {
    [[ $(id -u) == 0 ]] || die "run as root: it mounts, chroots and installs packages"
    [[ $(uname -m) == x86_64 ]] || die "this is for an x86-64 host; on an arm64 machine run the installer itself"
    local releases=("$@")
    ((${#releases[@]})) || releases=(bookworm trixie)
    mkdir -p "$WORK/logs"
    trap unmount_all EXIT
    trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM
    log "== host"
    MIRROR=$(debian_mirror)
    step "host tools from apt" host_tools
    step "binfmt_misc: aarch64 through qemu" binfmt
    X86_PY=${X86_PYTHON:-$REPO/.venv/bin/python}
    [[ -x $X86_PY ]] || die "no x86 Python with the app at $X86_PY (make .venv, or set X86_PYTHON)"
    step "x86 answers to compare with" sh -c "cd '$REPO' && '$X86_PY' .ci/answers.py >'$WORK/x86-answers.json'"
    # The releases run side by side (qemu runs one guest thread per core), each into its own file.
    local codename failed=0
    declare -A pids=()
    rm -f "$WORK"/logs/*-times.txt "$WORK"/mounts-*
    for codename in "${releases[@]}"; do
        one_release "$codename" >"$WORK/logs/$codename.out" 2>&1 &
        pids[$codename]=$!
    done
    for codename in "${releases[@]}"; do
        wait "${pids[$codename]}" || failed=1
        cat "$WORK/logs/$codename.out"
    done
    log "== times"
    printf '%s\n' "${SUMMARY[@]}"
    cat "$WORK"/logs/*-times.txt 2>/dev/null || true
    if ((failed)); then
        echo "arm64: a release failed; its step and log are named above" >&2
    fi
    return "$failed"
}

main "$@"
