# labqueue's own services in one image: web (gunicorn), producer, consumer and
# the labqueue-admin command. Built by docker compose (docker-compose.override.yml)
# from the repository's root; .dockerignore keeps the context to the packages.
# Where no registry can be reached: PYTHON_IMAGE=labqueue/local-python:3.11
# (compose/.env.local, built by scripts/compose-images.sh).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/labqueue/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The dependencies first, read from setup.cfg alone (with the postgres extra),
# so that this layer outlives changes to the code.
COPY setup.cfg /tmp/setup.cfg
RUN python3 -m venv /opt/labqueue \
 && python3 -c 'import configparser; c = configparser.ConfigParser(); c.read("/tmp/setup.cfg"); print(c["options"]["install_requires"] + c["options.extras_require"]["postgres"])' >/tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/setup.cfg /tmp/requirements.txt

COPY . /tmp/src
RUN pip install --no-deps /tmp/src \
 && install -m 755 /tmp/src/compose/labqueue-consumer.py /opt/labqueue/bin/labqueue-consumer \
 && install -m 644 /tmp/src/webapp/gunicorn_conf.py /opt/labqueue/gunicorn_conf.py \
 && rm -rf /tmp/src

# Non-root. The consumer runs with the Docker socket's group as well
# (docker-compose.yml: user 10001:$LABQUEUE_DOCKER_GID).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/labqueue labqueue
USER 10001:10001
WORKDIR /home/labqueue
EXPOSE 8000
CMD ["gunicorn", "--config", "/opt/labqueue/gunicorn_conf.py", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "webapp:create_app()"]
