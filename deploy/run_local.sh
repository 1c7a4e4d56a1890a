#!/usr/bin/env bash
# Scale-out rehearsal on loopback: REPLICAS app replicas (default 2) behind Debian's nginx
# with sticky sessions and one shared cookie secret, then the load test through nginx.
#
#   bash deploy/run_local.sh                     # 2 replicas, 30 sessions for 60 s
#   REPLICAS=2 SESSIONS=60 LOAD_SECONDS=30 bash deploy/run_local.sh
#   KEEP=1 bash deploy/run_local.sh              # no load test: serve until Ctrl-C
#
# Everything listens on 127.0.0.1 only and is stopped on exit.  nginx is installed with
# apt-get when missing (as root; otherwise it says what to run).
set -euo pipefail
cd "$(dirname "$0")/.."

REPLICAS=${REPLICAS:-2}
PROXY_PORT=${PROXY_PORT:-8600}
BASE_PORT=${BASE_PORT:-8601}
SESSIONS=${SESSIONS:-30}
LOAD_SECONDS=${LOAD_SECONDS:-60}
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || { echo "no $PY: run 'make install' first" >&2; exit 1; }

NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
if [ ! -x "$NGINX" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing Debian's nginx ..." >&2
        apt-get update -qq
        # with systemd, Debian also starts its own nginx on port 80: this script neither
        # uses nor stops it (it runs a private one on loopback)
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
        NGINX=/usr/sbin/nginx
    else
        echo "nginx is missing: sudo apt-get install --no-install-recommends nginx" >&2
        exit 1
    fi
fi

WORK=$(mktemp -d /tmp/rleaky-viz-deploy.XXXXXX)
chmod 755 "$WORK"   # nginx's workers (user nobody when started as root) use the temp dirs
PIDS=()
NGINX_PID=
cleanup() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One secret for every replica: the XSRF cookie a replica signs must verify on the others.
# From the environment (RLEAKY_VIZ_COOKIE_SECRET) or a fresh one; passed as an environment
# variable (Streamlit reads STREAMLIT_SERVER_COOKIE_SECRET), so it is not on a command line.
export STREAMLIT_SERVER_COOKIE_SECRET=${RLEAKY_VIZ_COOKIE_SECRET:-$("$PY" -c 'import secrets; print(secrets.token_hex(32))')}
# one thread per replica for torch and its OpenMP pool: a replica per core
export OMP_NUM_THREADS=1 RLEAKY_VIZ_TORCH_THREADS=1

SERVERS=""
for i in $(seq 0 $((REPLICAS - 1))); do
    port=$((BASE_PORT + i))
    "$PY" -m streamlit run app.py --server.address 127.0.0.1 --server.port "$port" \
        --server.headless true --browser.gatherUsageStats false --server.fileWatcherType none \
        >"$WORK/replica-$port.log" 2>&1 &
    PIDS+=($!)
    SERVERS="${SERVERS}server 127.0.0.1:$port; "
done

mkdir -p "$WORK/nginx"
sed -e "s|@LISTEN@|127.0.0.1:$PROXY_PORT|" -e "s|@SERVERS@|$SERVERS|" \
    deploy/rleaky-viz.nginx.conf >"$WORK/nginx/rleaky-viz.conf"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    include $WORK/nginx/rleaky-viz.conf;
}
CONF
"$NGINX" -t -q -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"

wait_ok() {  # url seconds
    "$PY" - "$1" "$2" <<'PYCODE' && return 0
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1] + "/_stcore/health", timeout=2) as r:
            if r.read().strip() == b"ok":
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.25)
sys.exit(1)
PYCODE
    echo "no answer from $1 within $2 s; logs in $WORK" >&2
    tail -n 20 "$WORK"/replica-*.log >&2
    return 1
}
for i in $(seq 0 $((REPLICAS - 1))); do
    wait_ok "http://127.0.0.1:$((BASE_PORT + i))" 90
    # warm each replica directly (imports, first runs), so "before" is a warm server
    "$PY" benchmarks/load_test.py --url "http://127.0.0.1:$((BASE_PORT + i))" --warm-only \
        >/dev/null || { echo "replica $((BASE_PORT + i)) fails" >&2; exit 1; }
done
"$NGINX" -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g "daemon off;" &
NGINX_PID=$!
wait_ok "http://127.0.0.1:$PROXY_PORT" 20
echo "nginx on http://127.0.0.1:$PROXY_PORT -> $REPLICAS replicas (pids ${PIDS[*]})" >&2

if [ -n "${KEEP:-}" ]; then
    echo "serving until Ctrl-C" >&2
    wait "$NGINX_PID"
    exit 0
fi

args=()
for pid in "${PIDS[@]}"; do args+=(--server-pid "$pid"); done
status=0
"$PY" benchmarks/load_test.py --url "http://127.0.0.1:$PROXY_PORT" "${args[@]}" \
    --sessions "$SESSIONS" --seconds "$LOAD_SECONDS" ${LOAD_ARGS:-} || status=$?
exit $status
