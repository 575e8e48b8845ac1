# Local stand-in for rabbitmq:3.13-management where no registry can be reached:
# Debian 12's rabbitmq-server (3.10) with the management plugin, run the way
# the official image runs it: in the foreground as user rabbitmq, node
# rabbit@<hostname>, logs on stdout, data in /var/lib/rabbitmq. RabbitMQ
# itself reads RABBITMQ_DEFAULT_USER, _PASS and _VHOST on its first start.
#   scripts/compose-images.sh builds it as labqueue/local-rabbitmq:3.10
ARG BASE_IMAGE=labqueue/base:bookworm
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends rabbitmq-server \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/lib/rabbitmq/* /var/log/rabbitmq/*

# the official image's defaults: listen on every interface of the container,
# guest (if it exists at all) only from loopback
RUN printf 'loopback_users.guest = true\nlisteners.tcp.default = 5672\nmanagement.tcp.port = 15672\n' >/etc/rabbitmq/rabbitmq.conf \
 && rabbitmq-plugins enable --offline rabbitmq_management \
 && chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq

ENV RABBITMQ_LOGS=- \
    HOME=/var/lib/rabbitmq
USER rabbitmq
WORKDIR /var/lib/rabbitmq
VOLUME /var/lib/rabbitmq
EXPOSE 5672 15672
# RabbitMQ's own start script, not Debian's /usr/sbin wrapper: that one sends
# the log to a file and does not pass SIGTERM on (a clean stop).
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
