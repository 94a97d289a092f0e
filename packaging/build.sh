#!/usr/bin/env bash
# Build the Debian and RPM packages of octoflow into target/packages/:
#   octoflow_<version>_amd64.deb   (dpkg-deb)
#   octoflow-<version>-1.x86_64.rpm (rpmbuild, from Debian's `rpm` package)
# Both hold: /usr/bin/octoflow; /etc/octoflow/octoflow.yaml as a configuration file
# that upgrades keep; the systemd unit; the man page and bash/zsh/fish completions
# generated from the CLI definition; scripts that create the `octoflow` system user.
# The distributions' own tools are used, so nothing extra is compiled.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dpkg-deb >/dev/null || missing+=(dpkg)
command -v rpmbuild >/dev/null || missing+=(rpm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cargo build --release -q -p octoflow
BIN=$PWD/target/release/octoflow
W=$PWD/target/packaging
OUT=$PWD/target/packages
rm -rf "$W" && mkdir -p "$W" "$OUT"
R=$W/root

install -Dm755 "$BIN" "$R/usr/bin/octoflow"
install -Dm644 packaging/octoflow.yaml "$R/etc/octoflow/octoflow.yaml"
"$BIN" check --config-file packaging/octoflow.yaml >/dev/null
"$BIN" install-systemd --config-file packaging/octoflow.yaml --exe /usr/bin/octoflow --unit-dir "$W/unit" >/dev/null
mkdir -p "$R/lib/systemd/system"
sed "s|$(realpath packaging/octoflow.yaml)|/etc/octoflow/octoflow.yaml|g" "$W/unit/octoflow.service" \
  >"$R/lib/systemd/system/octoflow.service"
"$BIN" generate-docs --out "$W/docs"
install -Dm644 "$W/docs/octoflow.1" "$R/usr/share/man/man1/octoflow.1"
gzip -9n "$R/usr/share/man/man1/octoflow.1"
install -Dm644 "$W/docs/octoflow.bash" "$R/usr/share/bash-completion/completions/octoflow"
install -Dm644 "$W/docs/_octoflow" "$R/usr/share/zsh/vendor-completions/_octoflow"
install -Dm644 "$W/docs/octoflow.fish" "$R/usr/share/fish/vendor_completions.d/octoflow.fish"
install -Dm644 README.md "$R/usr/share/doc/octoflow/README.md"
install -Dm644 docs/console.md "$R/usr/share/doc/octoflow/console.md"
install -Dm644 docs/outputs.md "$R/usr/share/doc/octoflow/outputs.md"
install -Dm644 proto/flow.proto "$R/usr/share/doc/octoflow/flow.proto"
install -Dm644 examples/octoflow-original.yaml "$R/usr/share/doc/octoflow/examples/octoflow-original.yaml"

# ---- deb ----
D=$W/deb
cp -a "$R" "$D"
mkdir -p "$D/DEBIAN"
cat >"$D/DEBIAN/control" <<CTRL
Package: octoflow
Version: $VERSION
Architecture: amd64
Maintainer: octoflow developers <octoflow@example.invalid>
Section: net
Priority: optional
Depends: libc6 (>= 2.31), passwd
Installed-Size: $(du -ks "$R" | cut -f1)
Description: flow router for NetFlow v5/v9, IPFIX and sFlow
 octoflow collects flow exports from routers and switches, filters them per
 tenant, replicates them, converts them to the version each receiver speaks
 and ships them over UDP or TCP. Managed like a supervisor (octoflow client).
CTRL
echo /etc/octoflow/octoflow.yaml >"$D/DEBIAN/conffiles"
cat >"$D/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd octoflow >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /var/lib/octoflow \
      --shell /usr/sbin/nologin --comment "octoflow flow router" octoflow
  fi
  if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
fi
exit 0
SH
cat >"$D/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop octoflow.service >/dev/null 2>&1 || true
fi
exit 0
SH
cat >"$D/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi
if [ "$1" = purge ]; then rm -rf /var/lib/octoflow /var/log/octoflow; fi
exit 0
SH
chmod 755 "$D/DEBIAN/postinst" "$D/DEBIAN/prerm" "$D/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz --build "$D" "$OUT/octoflow_${VERSION}_amd64.deb" >/dev/null

# ---- rpm ----
T=$W/rpm
mkdir -p "$T/SPECS"
cat >"$T/SPECS/octoflow.spec" <<SPEC
Name: octoflow
Version: $VERSION
Release: 1
Summary: Flow router for NetFlow v5/v9, IPFIX and sFlow
License: Apache-2.0
BuildArch: x86_64
Requires(pre): shadow-utils
%description
octoflow collects flow exports from routers and switches, filters them per
tenant, replicates them, converts them to the version each receiver speaks
and ships them over UDP or TCP. Managed like a supervisor (octoflow client).
%install
cp -a $R/. %{buildroot}/
%pre
getent passwd octoflow >/dev/null || useradd --system --user-group --no-create-home --home-dir /var/lib/octoflow --shell /sbin/nologin --comment "octoflow flow router" octoflow
exit 0
%post
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
%preun
if [ \$1 -eq 0 ] && [ -d /run/systemd/system ]; then systemctl stop octoflow.service >/dev/null 2>&1 || :; fi
%postun
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
%files
/usr/bin/octoflow
%dir /etc/octoflow
%config(noreplace) /etc/octoflow/octoflow.yaml
/lib/systemd/system/octoflow.service
/usr/share/man/man1/octoflow.1.gz
/usr/share/bash-completion/completions/octoflow
/usr/share/zsh/vendor-completions/_octoflow
/usr/share/fish/vendor_completions.d/octoflow.fish
%doc /usr/share/doc/octoflow/README.md
%doc /usr/share/doc/octoflow/console.md
%doc /usr/share/doc/octoflow/outputs.md
%doc /usr/share/doc/octoflow/flow.proto
/usr/share/doc/octoflow/examples/octoflow-original.yaml
SPEC
rpmbuild -bb --quiet --define "_topdir $T" --define "_build_id_links none" \
  --define "__os_install_post %{nil}" "$T/SPECS/octoflow.spec" >/dev/null 2>"$W/rpmbuild.log" \
  || { cat "$W/rpmbuild.log" >&2; exit 1; }
cp "$T"/RPMS/x86_64/octoflow-"$VERSION"-1.x86_64.rpm "$OUT/"
ls -1 "$OUT"
