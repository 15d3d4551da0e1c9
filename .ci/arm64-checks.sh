#!/usr/bin/env bash
# Checks run inside an emulated arm64 root by .ci/arm64.sh, after each installer step:
#
#   arm64-checks.sh installed INSTALLER_OUTPUT   what the installer must have left, and said
#   arm64-checks.sh state                        what a second run must not change (printed)
#   arm64-checks.sh video FILE FRAMES            the app's video has that many frames
#   arm64-checks.sh recording CLIP FRAMES ok|refused
#                                                edge-emojify video on CLIP: every frame and the same
#                                                sound out, or (too old a PyAV) one line and exit 2
#   arm64-checks.sh uninstalled | purged         what --uninstall and --purge must remove
#   arm64-checks.sh owned                        a reinstall gives kept files to the new user
set -euo pipefail

readonly APP=edge-emojify
readonly VENV=/opt/$APP/venv
readonly UNIT=/etc/systemd/system/$APP.service
readonly LINK=/etc/systemd/system/multi-user.target.wants/$APP.service

fail() {
    echo "check failed: $*" >&2
    exit 1
}

installed() {
    local output=$1
    grep -qx 'include-system-site-packages = true' "$VENV/pyvenv.cfg" || fail "venv without --system-site-packages"
    # apt's numpy and OpenCV through the venv, pip's LiteRT inside it, apt's numpy version kept.
    "$VENV/bin/python" - <<'EOF' || fail "the venv does not see apt's numpy and OpenCV, or lacks LiteRT"
import cv2, numpy, ai_edge_litert, edge_emojify
for module in (numpy, cv2):
    assert module.__file__.startswith("/usr/lib/python3/dist-packages/"), module.__file__
assert "/opt/edge-emojify/venv/" in ai_edge_litert.__file__, ai_edge_litert.__file__
print("numpy", numpy.__version__, "OpenCV", cv2.__version__, "edge-emojify", edge_emojify.__version__)
EOF
    id "$APP" || fail "no user $APP"
    [[ $(getent passwd "$APP" | cut -d: -f7) == /usr/sbin/nologin ]] || fail "$APP can log in"
    [[ $(stat -c '%a %U %G' /etc/$APP/config.toml) == "640 root $APP" ]] ||
        fail "config.toml is $(stat -c '%a %U %G' /etc/$APP/config.toml), not 640 root $APP"
    [[ $(stat -c '%a %U' /var/lib/$APP/snapshots) == "750 $APP" ]] || fail "snapshots folder mode or owner"
    [[ -f $UNIT ]] || fail "no unit at $UNIT"
    [[ $(readlink "$LINK") == "$UNIT" ]] || fail "not enabled: $LINK does not point to $UNIT"
    # systemctl reads the links offline: the same answer it gives on a booted Pi.
    [[ $(systemctl is-enabled "$APP" 2>/dev/null) == enabled ]] || fail "systemctl is-enabled does not say enabled"
    grep -q "systemd is not running here" "$output" || fail "the installer did not say it enabled by link"
    # On plain Debian the Pi-only packages are missing: named, each with what then does not work.
    local pkg
    for pkg in python3-picamera2 python3-lgpio; do
        if [[ ! $(apt-cache policy "$pkg") =~ Candidate:\ [^\(] ]]; then
            grep -q "not in this OS's archive: $pkg: " "$output" || fail "the installer did not name missing $pkg"
        fi
    done
    echo "installed as expected"
}

state() {
    find $VENV/.. /etc/$APP /etc/systemd/system /var/lib/$APP -printf '%p %M %u %g %s %T@ %l\n' | sort
    find /opt/$APP /etc/$APP -type f -print0 | sort -z | xargs -0 sha256sum
    getent passwd "$APP"
    getent group "$APP"
    grep "$APP" /etc/group | cut -d: -f1,4
    dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n'
}

video() {
    local file=$1 frames=$2
    [[ -s $file ]] || fail "no video at $file"
    /opt/$APP/venv/bin/python - "$file" "$frames" <<'EOF' || fail "the video does not have $frames frames"
import sys, cv2
capture = cv2.VideoCapture(sys.argv[1])
count = 0
while capture.read()[0]:
    count += 1
print(f"{sys.argv[1]}: {count} frames")
assert count == int(sys.argv[2]), count
EOF
}

recording() {
    local clip=$1 frames=$2 expect=$3 rc=0
    "$VENV/bin/edge-emojify" video "$clip" -o /tmp/emojified.mp4 -q 2>/tmp/recording-stderr.txt || rc=$?
    cat /tmp/recording-stderr.txt
    if [[ $expect == refused ]]; then
        [[ $rc == 2 && $(grep -c . /tmp/recording-stderr.txt) == 1 ]] || fail "exit $rc, not one line and exit 2"
        grep -q "needs PyAV .* or newer, this is" /tmp/recording-stderr.txt || fail "the line does not name the PyAV"
        [[ ! -e /tmp/emojified.mp4 ]] || fail "a refused run left an output"
        echo "refused as expected"
        return
    fi
    [[ $rc == 0 ]] || fail "edge-emojify video exited $rc"
    "$VENV/bin/python" - "$clip" /tmp/emojified.mp4 "$frames" <<'EOF' || fail "the recording lost frames or sound"
import sys
import av
import numpy as np

def frames_and_sound(path):
    with av.open(path) as container:
        pictures = sum(1 for _ in container.decode(video=0))
    with av.open(path) as container:
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return pictures, sound

(n_in, sound_in), (n_out, sound_out) = frames_and_sound(sys.argv[1]), frames_and_sound(sys.argv[2])
print(f"PyAV {av.__version__}: {n_out} frames out of {n_in}, {sound_out.size} audio samples out of {sound_in.size}")
assert n_in == n_out == int(sys.argv[3]), (n_in, n_out)
assert np.array_equal(sound_in, sound_out), "the sound changed"
EOF
}

uninstalled() {
    [[ ! -e $UNIT && ! -L $LINK ]] || fail "the unit or its link is still there"
    [[ ! -e /opt/$APP ]] || fail "/opt/$APP is still there"
    ! id "$APP" 2>/dev/null || fail "user $APP is still there"
    ! getent group "$APP" || fail "group $APP is still there"
    [[ -f /etc/$APP/config.toml ]] || fail "--uninstall removed the config"
    echo "uninstalled; config kept"
}

owned() {
    [[ $(stat -c '%a %U %G' /etc/$APP/config.toml) == "640 root $APP" ]] || fail "the kept config is not root:$APP 640"
    [[ -z $(find /var/lib/$APP ! -user "$APP") ]] || fail "the kept snapshots do not belong to $APP"
    echo "the kept config and snapshots belong to the new $APP user"
}

purged() {
    [[ ! -e /etc/$APP && ! -e /var/lib/$APP ]] || fail "--purge left /etc/$APP or /var/lib/$APP"
    echo "purged"
}

"$@"
