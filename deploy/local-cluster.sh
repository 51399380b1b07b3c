#!/usr/bin/env bash
# nginx in front of N instances of the server, on this machine, for trying the setup of
# docs/deploy.md (and what tests/deploy/ starts). No root needed: nginx runs from a
# temporary prefix folder with deploy/nginx.conf filled in. Stays in the foreground and
# heals the cluster: an instance that exits on its own is logged and started again on its
# port after a back-off that grows with each crash in a row (0.5 s, 1 s, 2 s ... 30 s),
# while nginx serves from the others. Only Ctrl+C or SIGTERM, or nginx exiting, stops
# nginx and every instance and removes the temporary folder.
#
#   deploy/local-cluster.sh [--instances N] [--port PORT] [--directory DIR]
#                           [--tls-port PORT] [--cert FILE --key FILE]
#                           [--max-upload BYTES] [--max-body BYTES] [--upstream HOST:PORT]...
#
# --port / --tls-port: where nginx listens (default: free ports). --directory: the upload
# folder all instances share. --upstream: put nginx in front of instances started
# elsewhere instead of starting --instances (tests restart them one at a time).
# --max-body: nginx's client_max_body_size (default: --max-upload), e.g. 1048576 for the
# 1 MB of a stock nginx; resumable (tus) uploads pass it in smaller PATCHes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
instances=2 port=0 tls_port=0 directory="" cert="" key="" max_upload=$((10 * 1024 ** 3)) max_body=""
upstreams=()

usage() { sed -n '7,9s/^# \{0,3\}//p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage  # every option takes a value
    case "$1" in
        --instances) instances=$2 ;;
        --port) port=$2 ;;
        --tls-port) tls_port=$2 ;;
        --directory) directory=$2 ;;
        --cert) cert=$2 ;;
        --key) key=$2 ;;
        --max-upload) max_upload=$2 ;;
        --max-body) max_body=$2 ;;
        --upstream) upstreams+=("$2") ;;
        *) usage ;;
    esac
    shift 2
done
command -v nginx >/dev/null || { echo "nginx is not installed (Debian: apt-get install nginx)" >&2; exit 1; }

prefix=$(mktemp -d "${TMPDIR:-/tmp}/local-cluster.XXXXXX")
nginx_pid=""
instance_pids=() instance_ports=() started_at=() crashes=()  # by instance number
backoff_pid=""  # the sleep of a back-off, when one runs
# Back-off before restarting an instance that exited: 0.5 s, doubled for each crash in a
# row, at most 30 s; an instance that ran for STABLE_AFTER seconds starts over at 0.5 s.
# (systemd's Restart=on-failure with RestartSec=500ms, RestartSteps and RestartMaxDelaySec.)
FIRST_BACKOFF_MS=500 MAX_BACKOFF_MS=30000 STABLE_AFTER=30

# Stop everything we started, each in its own process group (an instance with --workers
# has children), then wait for them: nothing is left running when this script ends.
stop() {
    trap '' INT TERM  # a second Ctrl+C or SIGTERM must not cut the clean-up short
    trap - EXIT
    [ -z "$backoff_pid" ] || kill "$backoff_pid" 2>/dev/null || true
    local pids=("${instance_pids[@]}" $nginx_pid)
    for pid in "${pids[@]}"; do [ -z "$pid" ] || kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}" $backoff_pid; do [ -z "$pid" ] || wait "$pid" 2>/dev/null || true; done
    rm -rf "$prefix"
    echo "Stopped."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

free_port() {
    python3 -c 'import socket; s = socket.create_server(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Instance n on `port` (0: a free one), in a session of its own; its pid in instanceN.pid
# (`kill -9 $(cat PREFIX/instance1.pid)` to watch it come back). Logs are appended to.
launch_instance() {
    local n=$1 port=$2
    setsid "$root/your_program.sh" --host 127.0.0.1 --port "$port" --forwarded-allow-ips 127.0.0.1 \
        --max-upload "$max_upload" ${directory:+--directory "$directory"} \
        >>"$prefix/instance$n.out" 2>>"$prefix/instance$n.log" &
    instance_pids[n]=$! started_at[n]=$SECONDS
    echo "$!" >"$prefix/instance$n.pid.new" && mv "$prefix/instance$n.pid.new" "$prefix/instance$n.pid"  # never read half-written
}

# The first start: on a free port, which its banner names and which it keeps for good.
start_instance() {
    local n=$1 out="$prefix/instance$1.out"
    launch_instance "$n" 0
    crashes[n]=0
    for _ in $(seq 100); do
        if grep -q "^Serving HTTP" "$out"; then
            instance_ports[n]=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$out")
            upstreams+=("127.0.0.1:${instance_ports[n]}")
            return
        fi
        sleep 0.1
    done
    echo "instance $n did not start: $(cat "$prefix/instance$n.log")" >&2
    exit 1
}

# A self-signed certificate for localhost, unless one was given.
make_certificate() {
    cert="$prefix/localhost.crt" key="$prefix/localhost.key"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$key" -out "$cert" 2>/dev/null
}

fill_config() {
    local servers=""
    for upstream in "${upstreams[@]}"; do servers+="server $upstream max_fails=1 fail_timeout=2s; "; done
    sed -e "s|@HTTP_PORT@|$port|; s|@HTTPS_PORT@|$tls_port|; s|@INSTANCES@|$servers|" \
        -e "s|@MAX_UPLOAD@|${max_body:-$max_upload}|; s|@CERTIFICATE@|$cert|; s|@KEY@|$key|" \
        "$here/nginx.conf" >"$prefix/nginx.conf"
}

# How a process ended, from the status `wait` gave: 128+N is "killed by signal N".
describe_status() {
    if [ "$1" -gt 128 ]; then echo "killed by SIG$(kill -l "$1")"; else echo "exit status $1"; fi
}

# Instance n exited on its own (a crash, the OOM killer, a kill by hand): log it, wait the
# back-off, start it again on its port. nginx meanwhile sends its requests to the others
# (proxy_next_upstream: a refused connection is retried on the next instance).
restart_instance() {
    local n=$1 status=$2 ran=$((SECONDS - started_at[$1])) delay_ms
    [ "$ran" -lt "$STABLE_AFTER" ] || crashes[n]=0
    crashes[n]=$((crashes[n] + 1))
    delay_ms=$((FIRST_BACKOFF_MS << (crashes[n] > 7 ? 7 : crashes[n] - 1)))
    [ "$delay_ms" -le "$MAX_BACKOFF_MS" ] || delay_ms=$MAX_BACKOFF_MS
    printf 'instance %d (127.0.0.1:%d, pid %d) exited (%s) after %d s; starting it again in %d.%03d s (crash %d in a row)\n' \
        "$n" "${instance_ports[n]}" "${instance_pids[n]}" "$(describe_status "$status")" "$ran" \
        $((delay_ms / 1000)) $((delay_ms % 1000)) "${crashes[n]}" >&2
    kill -KILL -- "-${instance_pids[n]}" 2>/dev/null || true  # what is left of its group (workers)
    instance_pids[n]=""
    sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))" & backoff_pid=$!
    wait "$backoff_pid" || true  # a signal's trap runs at once, not after the sleep
    backoff_pid=""
    launch_instance "$n" "${instance_ports[n]}"
    echo "instance $n started again on 127.0.0.1:${instance_ports[n]} (pid ${instance_pids[n]})" >&2
}

# Until SIGINT/SIGTERM (the trap) or nginx's exit: restart each instance that exits.
supervise() {
    local exited status n
    while :; do
        exited=""
        if wait -n -p exited $nginx_pid "${instance_pids[@]}"; then status=0; else status=$?; fi
        [ -n "$exited" ] || continue
        if [ "$exited" = "$nginx_pid" ]; then
            echo "nginx exited ($(describe_status "$status")); stopping the cluster" >&2
            return 1
        fi
        for n in "${!instance_pids[@]}"; do
            [ "${instance_pids[n]}" != "$exited" ] || restart_instance "$n" "$status"
        done
    done
}

if [ ${#upstreams[@]} -eq 0 ]; then
    for n in $(seq "$instances"); do start_instance "$n"; done
fi
[ -n "$cert" ] || make_certificate
[ "$port" != 0 ] || port=$(free_port)
[ "$tls_port" != 0 ] || tls_port=$(free_port)
fill_config
# As root, nginx's workers run as `nobody`: they must reach the temporary folders.
[ "$(id -u)" != 0 ] || chmod 755 "$prefix"
setsid nginx -p "$prefix" -c "$prefix/nginx.conf" -e stderr -g "daemon off;" &
nginx_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || { echo "nginx did not start" >&2; exit 1; }
    sleep 0.1
done

echo "Cluster ready: http://127.0.0.1:$port/ and https://localhost:$tls_port/ in front of ${upstreams[*]}"
echo "nginx prefix: $prefix (certificate: $cert); Ctrl+C stops everything."
supervise || exit 1
