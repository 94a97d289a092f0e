#!/usr/bin/env bash
# Check the packages built by packaging/build.sh, as CI does (needs root: it
# installs and removes the .deb on this machine):
# - deb: dpkg -i; octoflow --version and `octoflow check` on the installed config;
#   the service user and group exist; the unit runs as that user with only
#   CAP_NET_BIND_SERVICE; a changed config survives reinstalling; dpkg -P
#   removes it all;
# - rpm: its file list and scriptlets (rpm -qlp, rpm -qp --scripts), and the
#   config marked %config(noreplace).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DEB=target/packages/octoflow_${VERSION}_amd64.deb
RPM=target/packages/octoflow-${VERSION}-1.x86_64.rpm
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
fail() { echo "packaging check: $*" >&2; exit 1; }

if dpkg -s octoflow >/dev/null 2>&1; then fail "octoflow is already installed here; remove it first"; fi
$SUDO dpkg -i "$DEB" >/dev/null
trap '$SUDO dpkg -P octoflow >/dev/null 2>&1 || true' EXIT
[ "$(/usr/bin/octoflow --version)" = "octoflow $VERSION" ] || fail "--version: $(/usr/bin/octoflow --version)"
/usr/bin/octoflow check --config-file /etc/octoflow/octoflow.yaml >/dev/null || fail "check of the installed config"
getent passwd octoflow >/dev/null || fail "no octoflow user after install"
getent group octoflow >/dev/null || fail "no octoflow group after install"
[ "$(id -gn octoflow)" = octoflow ] || fail "the octoflow user's group is $(id -gn octoflow)"
/usr/bin/octoflow check --config-file /etc/octoflow/octoflow.yaml | grep -q "runs as: whoever starts it" \
  || fail "check does not say who the server runs as"
[ -f /lib/systemd/system/octoflow.service ] || fail "no unit"
grep -q '^ExecStart=/usr/bin/octoflow server --config-file /etc/octoflow/octoflow.yaml$' /lib/systemd/system/octoflow.service \
  || fail "unit ExecStart"
# Not root: the service user, with only the capability to bind ports below 1024.
for line in User=octoflow Group=octoflow AmbientCapabilities=CAP_NET_BIND_SERVICE \
            CapabilityBoundingSet=CAP_NET_BIND_SERVICE NoNewPrivileges=yes StateDirectory=octoflow \
            LogsDirectory=octoflow RuntimeDirectory=octoflow; do
  grep -qx "$line" /lib/systemd/system/octoflow.service || fail "unit lacks $line"
done
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/octoflow.service || fail "systemd-analyze verify"
fi
man -w octoflow >/dev/null 2>&1 || [ -f /usr/share/man/man1/octoflow.1.gz ] || fail "no man page"
grep -q octoflow /usr/share/bash-completion/completions/octoflow || fail "no bash completion"
# The configuration is the operator's: reinstalling keeps a changed one.
echo "# changed by the operator" | $SUDO tee -a /etc/octoflow/octoflow.yaml >/dev/null
$SUDO dpkg -i "$DEB" >/dev/null
grep -q "changed by the operator" /etc/octoflow/octoflow.yaml || fail "reinstall overwrote the config"
$SUDO dpkg -r octoflow >/dev/null
[ ! -e /usr/bin/octoflow ] || fail "binary left after remove"
[ -f /etc/octoflow/octoflow.yaml ] || fail "remove (not purge) must keep the config"
$SUDO dpkg -P octoflow >/dev/null
[ ! -e /etc/octoflow/octoflow.yaml ] || fail "purge left the config"
trap - EXIT
echo "deb: installed, checked, reinstalled keeping the config, removed and purged"

files=$(rpm -qlp "$RPM" 2>/dev/null)
for f in /usr/bin/octoflow /etc/octoflow/octoflow.yaml /lib/systemd/system/octoflow.service \
         /usr/share/man/man1/octoflow.1.gz /usr/share/bash-completion/completions/octoflow; do
  grep -qx "$f" <<<"$files" || fail "rpm lacks $f"
done
scripts=$(rpm -qp --scripts "$RPM" 2>/dev/null)
grep -q "useradd --system --user-group" <<<"$scripts" || fail "rpm %pre does not create the user"
grep -q "systemctl daemon-reload" <<<"$scripts" || fail "rpm %post does not reload systemd"
flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$RPM" 2>/dev/null)
grep -q '^/etc/octoflow/octoflow.yaml cn$' <<<"$flags" || fail "rpm: config is not %config(noreplace): $(grep octoflow.yaml <<<"$flags")"
echo "rpm: files, scriptlets and %config(noreplace) as expected"
