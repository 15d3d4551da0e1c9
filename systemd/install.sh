#!/usr/bin/env bash
# Install edge-emojify as a systemd service on Raspberry Pi OS (Bookworm or Trixie, 64-bit).
#
#   sudo ./systemd/install.sh                 install or upgrade, enable, (re)start
#   sudo ./systemd/install.sh --uninstall     stop and remove the service and the venv
#   ./systemd/install.sh --dry-run            print every step as a shell command, change nothing
#
# Running it again is safe: each step checks first, and an existing config is never replaced.
# See docs/raspberry-pi.md for wiring, service management and troubleshooting.
set -euo pipefail

readonly APP=edge-emojify
readonly SERVICE_USER=edge-emojify
# picamera2, libcamera, lgpio and KMSDRM-enabled pygame only work from apt on the Pi; the venv
# sees them through --system-site-packages.
readonly APT_PACKAGES=(python3-venv python3-picamera2 python3-lgpio python3-gpiozero python3-pygame
                       python3-opencv python3-numpy fonts-noto-color-emoji)
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
  $SERVICE_USER, /etc/$APP/config.toml (only if absent), /var/lib/$APP/snapshots and the
  systemd unit, then enables and (re)starts the service.

Options:
  --dry-run      print every step as a shell command and change nothing
  --uninstall    stop, disable and remove the unit and the venv; keep config and snapshots
  --purge        with --uninstall: also remove /etc/$APP, /var/lib/$APP and the user
  --root DIR     place files under DIR instead of / (for tests and image builds); skips apt,
                 useradd and systemctl, with a note for each
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

install_packages() {
    say "apt packages"
    if on_host "apt-get install ${APT_PACKAGES[*]}"; then
        run apt-get update
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
    fi
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
    # The app's own dependencies (numpy, OpenCV, pygame, gpiozero) come from apt above; pip's
    # opencv-python-headless is not built for apt's numpy, so the package goes in without them.
    run "$VENV/bin/python" -m pip install --upgrade --no-deps "$REPO_DIR"
    run "$VENV/bin/python" -m pip install --upgrade --constraint "$constraints" ai-edge-litert
}

install_config() {
    say "config $CONFIG"
    run install -d -m 0755 "$CONF_DIR"
    run install -m 0644 "$CONFIG_EXAMPLE" "$CONF_DIR/config.example.toml"
    if [[ -e $CONFIG ]]; then
        note "$CONFIG exists; kept as it is"
        return
    fi
    if [[ -n $ROOT ]]; then
        note "under --root files belong to whoever runs this (root:$SERVICE_USER on a real install)"
        run install -m 0640 "$CONFIG_EXAMPLE" "$CONFIG"
    else
        run install -m 0640 -o root -g "$SERVICE_USER" "$CONFIG_EXAMPLE" "$CONFIG"
    fi
}

install_state() {
    say "snapshots $SNAP_DIR"
    if [[ -n $ROOT ]]; then
        run install -d -m 0750 "$STATE_DIR" "$SNAP_DIR"
    else
        run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR" "$SNAP_DIR"
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
    else
        sed "s/^SupplementaryGroups=.*/SupplementaryGroups=$groups/" "$UNIT_SOURCE" >"$UNIT.tmp"
        chmod 0644 "$UNIT.tmp"
        mv -f "$UNIT.tmp" "$UNIT"
    fi
}

start_service() {
    say "service"
    on_host "systemctl daemon-reload; systemctl enable --now $APP" || return 0
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
    if on_host "systemctl disable --now $APP"; then
        if ((DRY_RUN)) || [[ -e $UNIT ]]; then
            run_ok systemctl disable --now "$APP"
        fi
    fi
    run rm -f "$UNIT"
    if on_host "systemctl daemon-reload"; then
        run systemctl daemon-reload
        run_ok systemctl reset-failed "$APP"
    fi
    run rm -rf "$PREFIX"
    if ((PURGE)); then
        run rm -rf "$CONF_DIR" "$STATE_DIR"
        if on_host "userdel $SERVICE_USER" && id -u "$SERVICE_USER" >/dev/null 2>&1; then
            run userdel "$SERVICE_USER"
        fi
    else
        note "kept $CONF_DIR and $STATE_DIR (add --purge to remove them and the user)"
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
