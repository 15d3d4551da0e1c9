#!/usr/bin/env bash
# Install edge-emojify as a systemd service on Raspberry Pi OS (Bookworm or Trixie, 64-bit), or on
# another Debian-based arm64 OS without the Pi-only parts (each one missing is named, with its cost).
#
#   sudo ./systemd/install.sh                 install or upgrade, enable, (re)start
#   sudo ./systemd/install.sh --uninstall     stop and remove the service, the venv and the user
#   ./systemd/install.sh --dry-run            print every step as a shell command, change nothing
#
# Running it again is safe: each step checks first, and an existing config is never replaced.
# See docs/raspberry-pi.md for wiring, service management and troubleshooting.
set -euo pipefail

readonly APP=edge-emojify
readonly SERVICE_USER=edge-emojify
# The app's native parts come from apt, built for the OS's own Python and numpy; the venv sees
# them through --system-site-packages. The mirror cannot run without these:
readonly APT_REQUIRED=(python3-venv python3-numpy python3-opencv)
# These come only from some archives (picamera2 and lgpio from Raspberry Pi OS's own), so other
# arm64 boards and OSes (plain Debian, Ubuntu, Armbian) install without them: "package|what is lost".
readonly APT_OPTIONAL=(
    "python3-picamera2|no Pi camera (libcamera); USB cameras still work"
    "python3-lgpio|no GPIO pins on a Raspberry Pi 5 or newer kernels, so no push button there"
    "python3-gpiozero|no push button; the keyboard still switches modes"
    "python3-pygame|no HDMI/DSI screen through SDL; the framebuffer (/dev/fb0) and video sinks still work"
)
# camera + framebuffer, GPU render node, GPIO chips, keyboards; only those this OS has are used.
readonly WANTED_GROUPS=(video render gpio input)
# The venv must sit on the Python that apt's packages are built for, whatever PATH says.
readonly SYSTEM_PYTHON=/usr/bin/python3

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname -- "$SCRIPT_DIR")
readonly SCRIPT_DIR REPO_DIR
readonly UNIT_SOURCE=$SCRIPT_DIR/$APP.service
readonly CONFIG_EXAMPLE=$SCRIPT_DIR/config.example.toml

DRY_RUN=0
UNINSTALL=0
PURGE=0
NO_START=0
SKIP_PIP=0
ROOT=""

usage() {
    cat <<EOF
Usage: sudo $0 [options]

Installs edge-emojify from this checkout ($REPO_DIR):
  apt packages, a venv at /opt/$APP/venv (with --system-site-packages), the system user
  $SERVICE_USER, /etc/$APP/config.toml (only if absent, with a new random web page token,
  printed once), /var/lib/$APP/snapshots and the systemd unit, then enables and (re)starts the
  service.

Options:
  --dry-run      print every step as a shell command and change nothing
  --uninstall    stop, disable and remove the unit, the venv and the user; keep config and snapshots
  --purge        with --uninstall: also remove /etc/$APP and /var/lib/$APP (snapshots and the
                 web page's mood history)
  --root DIR     place files under DIR instead of / (for tests and image builds); skips apt and
                 useradd, with a note for each, and enables the unit by its link

Where systemd is not running (a chroot, an image build) the unit is enabled by the link
systemctl enable makes, and starts at the next boot.
  --no-start     install and enable, but do not (re)start the service now
  --skip-pip     do not create the venv or pip-install (files only; offline)
  -h, --help     show this help
EOF
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

# Headings and notes are comments, so --dry-run output is itself a runnable script.
say() { echo "# == $*"; }
note() { echo "# $*"; }

# Run a command, or in --dry-run print it, quoted so it can be pasted into a shell.
run() {
    if ((DRY_RUN)); then
        local quoted
        printf -v quoted '%q ' "$@"
        echo "${quoted% }"
    else
        "$@"
    fi
}

# Like run, but a failure is only a warning (stopping a service that is not running, say).
run_ok() {
    run "$@" || echo "install.sh: warning: '$*' failed; carrying on" >&2
}

# Steps that change the host itself (apt, users, systemd) are skipped under --root.
on_host() {
    if [[ -n $ROOT ]]; then
        note "skipped under --root: $*"
        return 1
    fi
    return 0
}

existing_groups() {
    local group found=()
    for group in "${WANTED_GROUPS[@]}"; do
        if getent group "$group" >/dev/null 2>&1; then
            found+=("$group")
        fi
    done
    echo "${found[*]}"
}

parse_args() {
    while (($#)); do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --purge) PURGE=1 ;;
            --no-start) NO_START=1 ;;
            --skip-pip) SKIP_PIP=1 ;;
            --root)
                (($# >= 2)) || die "--root needs a directory"
                ROOT=$2
                shift
                ;;
            --root=*) ROOT=${1#--root=} ;;
            -h | --help)
                usage
                exit 0
                ;;
            *) die "unknown option '$1'; see --help" ;;
        esac
        shift
    done
    if ((PURGE && !UNINSTALL)); then
        die "--purge only goes with --uninstall"
    fi
    if [[ -n $ROOT ]]; then
        [[ $ROOT != "/" ]] || die "--root / is the real system; leave --root out instead"
        ROOT=$(realpath -m -- "$ROOT")  # absolute, without creating anything yet
    fi
}

set_paths() {
    PREFIX=$ROOT/opt/$APP
    VENV=$PREFIX/venv
    CONF_DIR=$ROOT/etc/$APP
    CONFIG=$CONF_DIR/config.toml
    STATE_DIR=$ROOT/var/lib/$APP
    SNAP_DIR=$STATE_DIR/snapshots
    UNIT_DIR=$ROOT/etc/systemd/system
    UNIT=$UNIT_DIR/$APP.service
}

preflight() {
    [[ -f $UNIT_SOURCE ]] || die "missing $UNIT_SOURCE; run this script from a full checkout"
    [[ -f $CONFIG_EXAMPLE ]] || die "missing $CONFIG_EXAMPLE; run this script from a full checkout"
    if ((!DRY_RUN)) && [[ -z $ROOT ]] && ((EUID != 0)); then
        die "run as root: sudo $0 $*"
    fi
    if ((UNINSTALL)); then
        return
    fi
    local arch codename=""
    arch=$(uname -m)
    if [[ -r /etc/os-release ]]; then
        codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')
    fi
    if [[ $arch != aarch64 ]]; then
        note "warning: this is $arch; edge-emojify is made for 64-bit Raspberry Pi OS (aarch64)"
    fi
    if [[ $codename != bookworm && $codename != trixie ]]; then
        note "warning: OS release '${codename:-unknown}' is neither bookworm nor trixie; carrying on"
    fi
}

# True when this OS's archive offers the package (after apt-get update). Not a pipe into grep -q:
# under pipefail, apt-cache killed by SIGPIPE would make the answer a race.
apt_offers() {
    local policy
    policy=$(apt-cache policy "$1" 2>/dev/null)
    [[ $policy =~ Candidate:\ [^\(] ]]
}

install_packages() {
    say "apt packages"
    local optional=("${APT_OPTIONAL[@]%%|*}")
    on_host "apt-get install ${APT_REQUIRED[*]} ${optional[*]}" || return 0
    run apt-get update
    if ((DRY_RUN)); then
        note "optional packages this OS's archive lacks are left out, each named with what then does not work"
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            "${APT_REQUIRED[@]}" "${optional[@]}"
        return
    fi
    local pkg entry wanted=()
    for pkg in "${APT_REQUIRED[@]}"; do
        apt_offers "$pkg" || die "this OS's archive has no $pkg, which the mirror needs; is this Debian-based arm64?"
    done
    for entry in "${APT_OPTIONAL[@]}"; do
        pkg=${entry%%|*}
        if apt_offers "$pkg"; then
            wanted+=("$pkg")
        else
            note "not in this OS's archive: $pkg: ${entry#*|}"
        fi
    done
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_REQUIRED[@]}" "${wanted[@]}"
}

create_user() {
    say "service user $SERVICE_USER"
    on_host "useradd $SERVICE_USER; usermod -aG $(existing_groups | tr ' ' ,)" || return 0
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        note "user $SERVICE_USER exists"
    else
        run useradd --system --user-group --home-dir "/var/lib/$APP" --no-create-home \
            --shell /usr/sbin/nologin --comment "edge-emojify emoji mirror" "$SERVICE_USER"
    fi
    local groups
    groups=$(existing_groups)
    if [[ -n $groups ]]; then
        run usermod --append --groups "${groups// /,}" "$SERVICE_USER"
    fi
}

install_venv() {
    say "Python venv $VENV"
    if ((SKIP_PIP)); then
        note "skipped (--skip-pip): venv and pip install"
        return
    fi
    local stamp=$PREFIX/installed-from.sha256 fingerprint
    fingerprint=$(source_fingerprint)
    if [[ -x $VENV/bin/python && $(cat "$stamp" 2>/dev/null) == "$fingerprint" ]] &&
        "$VENV/bin/python" -c 'import ai_edge_litert, edge_emojify' 2>/dev/null; then
        note "venv already has this checkout's edge-emojify and LiteRT; left as it is"
        return
    fi
    if [[ -x $VENV/bin/python ]]; then
        note "venv exists; upgrading the packages in it"
    else
        run mkdir -p "$PREFIX"
        run "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
    fi
    # Keep apt's numpy: picamera2, python3-opencv and simplejpeg are built against it, and
    # newer OpenCV/LiteRT wheels would otherwise pull numpy 2 into the venv and break them.
    local constraints=$PREFIX/constraints.txt numpy_version
    numpy_version=$("$SYSTEM_PYTHON" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)
    if [[ -n $numpy_version ]]; then
        if ((DRY_RUN)); then
            echo "echo 'numpy==$numpy_version' > $(printf '%q' "$constraints")"
        else
            echo "numpy==$numpy_version" >"$constraints"
        fi
    else
        note "warning: no system numpy (python3-numpy) found; pip chooses numpy itself"
        run touch "$constraints"
    fi
    run "$VENV/bin/python" -m pip install --upgrade --constraint "$constraints" ai-edge-litert
    # The app's own dependencies (numpy, OpenCV, pygame, gpiozero) come from apt above; pip's
    # opencv-python-headless is not built for apt's numpy, so the package goes in without them
    # (and last, so pip's resolver does not warn that the OpenCV wheel is missing).
    run "$VENV/bin/python" -m pip install --upgrade --no-deps "$REPO_DIR"
    if ((DRY_RUN)); then
        echo "echo $fingerprint > $(printf '%q' "$stamp")"
    else
        echo "$fingerprint" >"$stamp"
    fi
}

# What pip would install from this checkout, as one hash: a second run from the same checkout
# then leaves the venv exactly as it is.
source_fingerprint() {
    (cd "$REPO_DIR" && find pyproject.toml edge_emojify models emojis -type f \
        ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

install_config() {
    say "config $CONFIG"
    run install -d -m 0755 "$CONF_DIR"
    if ((DRY_RUN)) || ! cmp -s "$CONFIG_EXAMPLE" "$CONF_DIR/config.example.toml"; then
        run install -m 0644 "$CONFIG_EXAMPLE" "$CONF_DIR/config.example.toml"
    fi
    if [[ -e $CONFIG ]]; then
        note "$CONFIG exists; kept as it is"
        # An uninstall removes the user; a kept config must be readable by the new one.
        if [[ -z $ROOT ]] && [[ $(stat -c %G "$CONFIG") != "$SERVICE_USER" ]]; then
            run chgrp "$SERVICE_USER" "$CONFIG"
        fi
        return
    fi
    # The example with a fresh web page token ([web] token; the page itself stays off until
    # web.enabled = true). Written private first, so the secret is never readable by others.
    local seeded=$CONF_DIR/.config.toml.new token
    token=$(new_token)
    if ((DRY_RUN)); then
        echo "(umask 077 && sed 's/^# token = \"\"\$/token = \"<new random token>\"/'" \
            "$(printf '%q' "$CONFIG_EXAMPLE") > $(printf '%q' "$seeded"))"
    else
        (umask 077 && sed "s/^# token = \"\"\$/token = \"$token\"/" "$CONFIG_EXAMPLE" >"$seeded")
    fi
    if [[ -n $ROOT ]]; then
        note "under --root files belong to whoever runs this (root:$SERVICE_USER on a real install)"
        run install -m 0640 "$seeded" "$CONFIG"
    else
        run install -m 0640 -o root -g "$SERVICE_USER" "$seeded" "$CONFIG"
    fi
    run rm -f "$seeded"
    if ((!DRY_RUN)); then
        note "web page token (shown this once; later: sudo /opt/$APP/venv/bin/$APP web --token): $token"
    fi
}

# 24 random bytes as 48 hex digits: safe in TOML and in a URL-free Authorization header.
new_token() {
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

install_state() {
    say "snapshots $SNAP_DIR"
    if [[ -n $ROOT ]]; then
        run install -d -m 0750 "$STATE_DIR" "$SNAP_DIR"
        return
    fi
    run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR" "$SNAP_DIR"
    # Snapshots kept from an earlier install belong to the user that uninstall removed.
    if ((!DRY_RUN)) && [[ -n $(find "$STATE_DIR" ! -user "$SERVICE_USER" -print -quit) ]]; then
        run chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"
    fi
}

install_unit() {
    say "systemd unit $UNIT"
    # A group missing from /etc/group would stop the unit at start (status=216/GROUP).
    local groups
    groups=$(existing_groups)
    run install -d -m 0755 "$UNIT_DIR"
    if ((DRY_RUN)); then
        echo "sed 's/^SupplementaryGroups=.*/SupplementaryGroups=$groups/' $(printf '%q' "$UNIT_SOURCE")" \
            "> $(printf '%q' "$UNIT")"
        run chmod 0644 "$UNIT"
        return
    fi
    local edit="s/^SupplementaryGroups=.*/SupplementaryGroups=$groups/"
    if sed "$edit" "$UNIT_SOURCE" | cmp -s - "$UNIT"; then
        note "unit unchanged"
        return
    fi
    sed "$edit" "$UNIT_SOURCE" >"$UNIT.tmp"
    chmod 0644 "$UNIT.tmp"
    mv -f "$UNIT.tmp" "$UNIT"
}

# True when systemd is PID 1 here (sd_booted(3)): not in a chroot, a container build or an image.
systemd_running() {
    [[ -z $ROOT && -d /run/systemd/system ]]
}

# The links `systemctl enable` makes: one in <target>.wants/ for each WantedBy= of the unit.
wants_links() {
    local target
    # shellcheck disable=SC2013  # WantedBy= is a list of words, and a line may hold several
    for target in $(sed -n 's/^WantedBy=//p' "$UNIT_SOURCE"); do
        echo "$UNIT_DIR/$target.wants/$APP.service"
    done
}

start_service() {
    say "service"
    if ! systemd_running; then
        local link links
        mapfile -t links < <(wants_links)
        note "systemd is not running here (chroot or image build): enabling by the link systemctl enable makes;" \
            "the service starts at the next boot"
        for link in "${links[@]}"; do
            if [[ -L $link ]]; then
                note "$link exists"
            else
                run install -d -m 0755 "$(dirname "$link")"
                run ln -s "/etc/systemd/system/$APP.service" "$link"
            fi
        done
        return
    fi
    run systemctl daemon-reload
    if ((NO_START)); then
        run systemctl enable "$APP"
        note "enabled; starts at next boot (or: sudo systemctl start $APP)"
    else
        # enable --now does not restart a running service; restart so an upgrade takes effect.
        run systemctl enable "$APP"
        run systemctl restart "$APP"
    fi
}

do_install() {
    install_packages
    create_user
    install_venv
    install_config
    install_state
    install_unit
    start_service
    say "done"
    note "status:  systemctl status $APP"
    note "logs:    journalctl -u $APP -f"
    note "config:  sudoedit /etc/$APP/config.toml, then: sudo systemctl reload $APP"
}

do_uninstall() {
    say "uninstall"
    if systemd_running; then
        if ((DRY_RUN)) || [[ -e $UNIT ]]; then
            run_ok systemctl disable --now "$APP"
        fi
    fi
    # What disable removes, for when systemd is not running (and left over if it was).
    local links
    mapfile -t links < <(wants_links)
    run rm -f "$UNIT" "${links[@]}"
    if systemd_running; then
        run systemctl daemon-reload
        run_ok systemctl reset-failed "$APP"
    fi
    run rm -rf "$PREFIX"
    if on_host "userdel $SERVICE_USER" && { ((DRY_RUN)) || id -u "$SERVICE_USER" >/dev/null 2>&1; }; then
        run userdel "$SERVICE_USER"
    fi
    if ((PURGE)); then
        run rm -rf "$CONF_DIR" "$STATE_DIR"
    else
        note "kept $CONF_DIR and $STATE_DIR (add --purge to remove them too)"
    fi
}

main() {
    parse_args "$@"
    set_paths
    preflight "$@"
    if ((DRY_RUN)); then
        note "dry run: nothing below has been run"
    fi
    if ((UNINSTALL)); then
        do_uninstall
    else
        do_install
    fi
}

main "$@"
