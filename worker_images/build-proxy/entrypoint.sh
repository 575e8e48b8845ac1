#!/bin/sh
# Write the consumer's configuration to /tmp (the root filesystem is read-only) and run tinyproxy in the foreground.
set -eu
: "${LABQUEUE_PROXY_CONFIG:?the consumer passes the tinyproxy configuration}"
: "${LABQUEUE_PROXY_FILTER:?the consumer passes the filter of allowed URLs}"
printf '%s\n' "$LABQUEUE_PROXY_CONFIG" >/tmp/tinyproxy.conf
printf '%s\n' "$LABQUEUE_PROXY_FILTER" >/tmp/filter
exec tinyproxy -d -c /tmp/tinyproxy.conf
