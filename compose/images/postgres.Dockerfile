# Local stand-in for postgres:15-bookworm where no registry can be reached:
# Debian 12's PostgreSQL 15 with an entrypoint that honours the official
# image's POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and PGDATA.
#   scripts/compose-images.sh builds it as labqueue/local-postgres:15
ARG BASE_IMAGE=labqueue/base:bookworm
FROM ${BASE_IMAGE}

# no "main" cluster from the package: the entrypoint makes one in PGDATA
ARG DEBIAN_FRONTEND=noninteractive
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/labqueue.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
# a fresh named volume takes this directory's owner and mode
RUN mkdir -p "$PGDATA" /var/run/postgresql \
 && chown postgres:postgres "$PGDATA" /var/run/postgresql \
 && chmod 700 "$PGDATA"
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh

USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]
