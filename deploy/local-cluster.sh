#!/usr/bin/env bash
# nginx in front of N instances of the server, on this machine, for trying the setup of
# docs/deploy.md (and what tests/deploy/ starts). No root needed: nginx runs from a
# temporary prefix folder with deploy/nginx.conf filled in. Stays in the foreground;
# Ctrl+C or SIGTERM stops nginx and every instance and removes the temporary folder.
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
pids=()

# Stop everything we started, each in its own process group (an instance with --workers
# has children), then wait for them: nothing is left running when this script ends.
stop() {
    trap '' INT TERM  # a second Ctrl+C or SIGTERM must not cut the clean-up short
    trap - EXIT
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$prefix"
    echo "Stopped."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

free_port() {
    python3 -c 'import socket; s = socket.create_server(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One instance on a free port (--port 0); its banner names the port.
start_instance() {
    local n=$1 out="$prefix/instance$1.out"
    setsid "$root/your_program.sh" --host 127.0.0.1 --port 0 --forwarded-allow-ips 127.0.0.1 \
        --max-upload "$max_upload" ${directory:+--directory "$directory"} \
        >"$out" 2>"$prefix/instance$n.log" &
    pids+=($!)
    for _ in $(seq 100); do
        if grep -q "^Serving HTTP" "$out"; then
            upstreams+=("127.0.0.1:$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$out")")
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
pids+=($!)
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "nginx did not start" >&2; exit 1; }
    sleep 0.1
done

echo "Cluster ready: http://127.0.0.1:$port/ and https://localhost:$tls_port/ in front of ${upstreams[*]}"
echo "nginx prefix: $prefix (certificate: $cert); Ctrl+C stops everything."
# Until a signal, or until nginx or an instance we started exits on its own.
wait -n "${pids[@]}" || true
echo "a process of the cluster exited; stopping the others" >&2
