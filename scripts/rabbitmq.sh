#!/usr/bin/env bash
# Usage: scripts/rabbitmq.sh
# Installs Debian's rabbitmq-server if missing, configures it to listen on
# loopback only (AMQP 127.0.0.1:5672, epmd and Erlang distribution on
# 127.0.0.1; node name rabbit@localhost), with consumer_timeout =
# LABQUEUE_MAX_TIME_LIMIT (default 3600 s) + 900 s. Starts it if not running
# (init.d script, no systemd needed), restarts it only when the configuration
# changed. Then: vhosts labqueue and labqueue-test, user labqueue with the
# password of LABQUEUE_BROKER_URL in var/labqueue.env and full permissions on
# both; user guest deleted. Plugins: rabbitmq_mqtt (devices publish readings;
# MQTT on LABQUEUE_MQTT_BIND:LABQUEUE_MQTT_PORT, default 127.0.0.1:1883, no
# anonymous logins) and rabbitmq_management (its HTTP API on 127.0.0.1:15672
# only: the web makes each device's broker user through it, as user
# labqueue-admin, tag administrator, password of LABQUEUE_BROKER_ADMIN_URL).
# Users, vhosts and permissions are applied as a definitions import through
# stdin, so the password never shows in a process list. Needs
# var/labqueue.env (scripts/secrets.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
load_env

VHOSTS=(labqueue labqueue-test)
USER_NAME=labqueue
ADMIN_NAME=labqueue-admin
PLUGINS=(rabbitmq_management rabbitmq_mqtt)
MQTT_BIND=${LABQUEUE_MQTT_BIND:-127.0.0.1}
MQTT_PORT=${LABQUEUE_MQTT_PORT:-1883}
[[ $MQTT_PORT =~ ^[0-9]+$ ]] || die "LABQUEUE_MQTT_PORT must be a port number, got '$MQTT_PORT'"
[[ $MQTT_BIND =~ ^[0-9a-fA-F.:]+$ ]] || die "LABQUEUE_MQTT_BIND must be an IP address, got '$MQTT_BIND'"
WALL=${LABQUEUE_MAX_TIME_LIMIT:-3600}
[[ $WALL =~ ^[0-9]+$ ]] || die "LABQUEUE_MAX_TIME_LIMIT must be whole seconds, got '$WALL'"
CONSUMER_TIMEOUT_MS=$(( (WALL + 900) * 1000 ))
# what the running broker was started with; kept with the broker, not the checkout
STATE=/var/lib/rabbitmq/.labqueue-config.sha256
TIMEOUT=${LABQUEUE_RABBITMQ_START_TIMEOUT:-120}

apt_install python3 iproute2

# password_of URL USER SETTING: the password from scheme://user:password@host:port/...
password_of() {
    python3 -c '
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
if u.username != sys.argv[2] or not u.password:
    sys.exit("%s must be %s://%s:<password>@..." % (sys.argv[3], u.scheme or "scheme", sys.argv[2]))
print(urllib.parse.unquote(u.password))' "$1" "$2" "$3"
}
pw="$(password_of "$LABQUEUE_BROKER_URL" "$USER_NAME" LABQUEUE_BROKER_URL)"
admin_pw="$(password_of "${LABQUEUE_BROKER_ADMIN_URL:-}" "$ADMIN_NAME" LABQUEUE_BROKER_ADMIN_URL)"

# --- configuration (written before installing, so the first start uses it) --
mkdir -p /etc/rabbitmq
conf_new="$(cat <<EOF
# Managed by labqueue scripts/rabbitmq.sh: edits are overwritten.
# AMQP on loopback only.
listeners.tcp.1 = 127.0.0.1:5672
# An unacknowledged delivery may stay with a consumer for the longest job
# (LABQUEUE_MAX_TIME_LIMIT = ${WALL} s) plus 900 s of margin.
consumer_timeout = ${CONSUMER_TIMEOUT_MS}
# the guest user is deleted; should it come back, it stays loopback-only
loopback_users.guest = true
# MQTT for devices (LABQUEUE_MQTT_BIND, LABQUEUE_MQTT_PORT): each logs in as its
# own user, as vhost:user; messages land on amq.topic.
mqtt.listeners.tcp.1 = ${MQTT_BIND}:${MQTT_PORT}
mqtt.allow_anonymous = false
mqtt.vhost = labqueue
mqtt.exchange = amq.topic
# The management HTTP API (device users are made through it), loopback only.
management.tcp.ip = 127.0.0.1
management.tcp.port = 15672
EOF
)"
plugins_new="[$(IFS=,; echo "${PLUGINS[*]}")]."
env_new="$(cat <<'EOF'
# Managed by labqueue scripts/rabbitmq.sh: edits are overwritten.
# A fixed node name, so the node's data survives a change of host name.
NODENAME=rabbit@localhost
# Nothing listens beyond loopback: AMQP, epmd, Erlang distribution.
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
)"

write_if_changed() {  # path content -> prints "changed" when it wrote
    local path=$1 content=$2
    if [[ -f $path ]] && [[ "$(cat "$path")" == "$content" ]]; then return 0; fi
    printf '%s\n' "$content" >"$path.labqueue-tmp"
    chmod 644 "$path.labqueue-tmp"
    if getent passwd rabbitmq >/dev/null; then chown rabbitmq:rabbitmq "$path.labqueue-tmp"; fi
    mv -f "$path.labqueue-tmp" "$path"
    echo changed
}
changed=""
changed+="$(write_if_changed /etc/rabbitmq/rabbitmq.conf "$conf_new")"
changed+="$(write_if_changed /etc/rabbitmq/rabbitmq-env.conf "$env_new")"
changed+="$(write_if_changed /etc/rabbitmq/enabled_plugins "$plugins_new")"
[[ -z $changed ]] || step "wrote /etc/rabbitmq/rabbitmq.conf, rabbitmq-env.conf and enabled_plugins (consumer_timeout ${CONSUMER_TIMEOUT_MS} ms, MQTT on ${MQTT_BIND}:${MQTT_PORT})"

apt_install rabbitmq-server
# the package owns /etc/rabbitmq; keep our files readable by the broker
chown rabbitmq:rabbitmq /etc/rabbitmq/rabbitmq.conf /etc/rabbitmq/rabbitmq-env.conf /etc/rabbitmq/enabled_plugins

conf_sum="$(cat /etc/rabbitmq/rabbitmq.conf /etc/rabbitmq/rabbitmq-env.conf /etc/rabbitmq/enabled_plugins | sha256sum | awk '{print $1}')"

rabbit_pid() {
    local pid
    pid="$(cat /var/run/rabbitmq/pid 2>/dev/null || true)"
    if [[ -n $pid ]] && pid_alive "$pid"; then echo "$pid"; fi
}
running() { [[ -n "$(rabbit_pid)" ]] || port_open 127.0.0.1 5672; }

# an epmd started earlier without ERL_EPMD_ADDRESS (e.g. by a rabbitmqctl run
# before this configuration existed) listens on every interface
public_epmd_pids() {
    ss -ltnpH 'sport = :4369' 2>/dev/null |
        awk '$4 !~ /^(127\.|\[::1\]|::1)/' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

stop_rabbit() {
    step "stopping rabbitmq-server"
    if [[ -x /etc/init.d/rabbitmq-server ]]; then
        quiet /etc/init.d/rabbitmq-server stop || true
    fi
    rabbitmqctl -q stop >/dev/null 2>&1 || true
    local start=$SECONDS pid
    pid="$(rabbit_pid)"
    while port_open 127.0.0.1 5672 || { [[ -n $pid ]] && pid_alive "$pid"; }; do
        (( SECONDS - start < TIMEOUT )) || die "rabbitmq-server did not stop within ${TIMEOUT}s"
        sleep 0.5
    done
}

start_rabbit() {
    local p
    for p in $(public_epmd_pids); do
        step "stopping epmd (pid $p): it listens beyond loopback"
        kill "$p" 2>/dev/null || true
    done
    step "starting rabbitmq-server (logs: /var/log/rabbitmq/)"
    if [[ -x /etc/init.d/rabbitmq-server ]]; then
        quiet /etc/init.d/rabbitmq-server start ||
            { tail -n 30 /var/log/rabbitmq/startup_err /var/log/rabbitmq/startup_log 2>/dev/null >&2 || true; die "rabbitmq-server did not start"; }
    else
        quiet rabbitmq-server -detached
    fi
    quiet rabbitmqctl -q await_startup --timeout "$TIMEOUT"
    echo "$conf_sum" >"$STATE"
}

if running; then
    if [[ "$(cat "$STATE" 2>/dev/null || true)" != "$conf_sum" ]]; then
        step "configuration changed: restarting rabbitmq-server"
        stop_rabbit
        start_rabbit
    fi
else
    start_rabbit
fi

# --- users, vhosts, permissions ----------------------------------------------
# The wanted definitions, with a salt derived from the password so that the
# hash is stable and can be compared with what the broker has.
export LQ_PW=$pw LQ_ADMIN_PW=$admin_pw
wanted="$(python3 - "$USER_NAME" "$ADMIN_NAME" "${VHOSTS[@]}" <<'EOF'
import base64, hashlib, json, os, sys
user, admin, vhosts = sys.argv[1], sys.argv[2], sys.argv[3:]

def account(name, pw, tags):
    pw = pw.encode()
    salt = hashlib.sha256(b"labqueue-rabbitmq-salt:" + pw).digest()[:4]
    pw_hash = base64.b64encode(salt + hashlib.sha256(salt + pw).digest()).decode()
    return {"name": name, "password_hash": pw_hash, "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": tags, "limits": {}}

print(json.dumps({
    # the admin has no vhost permissions: it manages the devices' users over HTTP and reaches no queue
    "users": [account(user, os.environ["LQ_PW"], []), account(admin, os.environ["LQ_ADMIN_PW"], ["administrator"])],
    "vhosts": [{"name": v} for v in vhosts],
    "permissions": [{"user": user, "vhost": v, "configure": ".*", "write": ".*", "read": ".*"}
                    for v in vhosts],
}))
EOF
)"
unset LQ_PW LQ_ADMIN_PW

current="$(rabbitmqctl -q export_definitions - --format json 2>/dev/null)" ||
    die "rabbitmqctl export_definitions failed"
verdict="$(WANTED=$wanted python3 -c '
import json, os, sys
want = json.loads(os.environ["WANTED"]); have = json.load(sys.stdin)
users = {u["name"]: u for u in have.get("users", [])}
vhosts = {v["name"] for v in have.get("vhosts", [])}
perms = {(p["user"], p["vhost"]): (p["configure"], p["write"], p["read"]) for p in have.get("permissions", [])}
def tags(u):  # a list, or a comma-separated string from older brokers
    t = u.get("tags") or []
    return sorted(t.split(",") if isinstance(t, str) else t)
ok = all(users.get(u["name"], {}).get("password_hash") == u["password_hash"]
         and tags(users[u["name"]]) == u["tags"] for u in want["users"]) \
    and all(v["name"] in vhosts for v in want["vhosts"]) \
    and all(perms.get((p["user"], p["vhost"])) == (p["configure"], p["write"], p["read"]) for p in want["permissions"])
print(("ok" if ok else "import") + (" guest" if "guest" in users else ""))
' <<<"$current")"

if [[ $verdict == import* ]]; then
    step "applying user $USER_NAME, vhosts ${VHOSTS[*]} and permissions"
    printf '%s' "$wanted" | quiet rabbitmqctl -q import_definitions --format json
fi
if [[ $verdict == *guest ]]; then
    step "deleting user guest"
    quiet rabbitmqctl -q delete_user guest
fi

if [[ -n "$(public_epmd_pids)" ]]; then
    step "WARNING: epmd listens beyond loopback (started by something else before this configuration); restart it to fix"
fi
step "rabbitmq ready on 127.0.0.1:5672 (vhosts ${VHOSTS[*]}), MQTT on ${MQTT_BIND}:${MQTT_PORT}"
