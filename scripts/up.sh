#!/usr/bin/env bash
# Usage: scripts/up.sh   (make up)
# Sets up the services, then starts labqueue itself: web (gunicorn), the producer
# service, and one consumer per runtime, each in the background with a pid file
# under var/run and a log under var/log. Running processes are left alone.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$LABQUEUE_ROOT/scripts/services.sh"
load_env
cd "$LABQUEUE_ROOT"

LABQUEUE_BIND="${LABQUEUE_BIND:-127.0.0.1:8000}"
LABQUEUE_WEB_WORKERS="${LABQUEUE_WEB_WORKERS:-4}"
LABQUEUE_PYTHON_SLOTS="${LABQUEUE_PYTHON_SLOTS:-2}"
LABQUEUE_MATLAB_SLOTS="${LABQUEUE_MATLAB_SLOTS:-1}"

# start NAME COMMAND... — run COMMAND in the background unless NAME's pid is alive.
start() {
    local name=$1; shift
    local pidfile="$LABQUEUE_VAR/run/$name.pid"
    local pid
    if pid="$(pidfile_pid "$pidfile")"; then
        step "$name already running (pid $pid)"
        return
    fi
    nohup "$@" >>"$LABQUEUE_VAR/log/$name.log" 2>&1 &
    write_pidfile "$pidfile" $!
    step "started $name (pid $!, log var/log/$name.log)"
}

"$LABQUEUE_VENV/bin/labqueue-admin" migrate  # the only step that migrates: web, producer and the commands below refuse an old schema
"$LABQUEUE_VENV/bin/labqueue-admin" ensure-admin --password-file "$LABQUEUE_VAR/admin-password"
"$LABQUEUE_VENV/bin/labqueue-admin" seed-demo
start producer "$LABQUEUE_VENV/bin/python" -m producer
start consumer-python "$LABQUEUE_VENV/bin/python" -m consumer --runtime python --slots "$LABQUEUE_PYTHON_SLOTS"
start consumer-matlab "$LABQUEUE_VENV/bin/python" -m consumer --runtime matlab --slots "$LABQUEUE_MATLAB_SLOTS"
# Worker class, workers and timeouts: webapp/gunicorn_conf.py (gevent: open live pages hold no thread).
start web "$LABQUEUE_VENV/bin/gunicorn" --config "$LABQUEUE_ROOT/webapp/gunicorn_conf.py" --bind "$LABQUEUE_BIND" \
    --workers "$LABQUEUE_WEB_WORKERS" --access-logfile - --logger-class webapp.weblogging.StructuredLogger 'webapp:create_app()'
wait_for_port "${LABQUEUE_BIND%:*}" "${LABQUEUE_BIND##*:}" 60

cat <<MSG

labqueue is running: http://$LABQUEUE_BIND
  log in as:  admin
  password:   $(cat "$LABQUEUE_VAR/admin-password" 2>/dev/null || echo "(set earlier; reset with: .venv/bin/labqueue-admin create-user ...)")
  logs:       var/log/   stop with: make down
MSG
