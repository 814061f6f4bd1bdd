# syntax=docker/dockerfile:1
# ordersync as a container: `docker build -t ordersync .`, then `docker run --rm ordersync --help`.
# Nothing secret is in the image: Google credentials (GOOGLE_APPLICATION_CREDENTIALS, a mounted
# file), SQUARE_ACCESS_TOKEN and a PostgreSQL password come from the environment at run time.
# See compose.yaml (a local trial on PostgreSQL) and deploy/kubernetes/ (a CronJob).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sync ./sync
# Wheels of ordersync and every dependency (with the PostgreSQL driver), built once here.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "ordersync[postgres]"
# A fixed, numeric non-root user (Kubernetes' runAsNonRoot can check a number, not a name).
RUN groupadd --system --gid 10001 ordersync \
    && useradd --system --uid 10001 --gid 10001 --home-dir /srv/ordersync --create-home ordersync
USER 10001:10001
WORKDIR /srv/ordersync
# The working layout (config from the packaged example, feeds/, state/ 0700, reports/); mount a
# volume on /srv/ordersync (or on state/ and reports/) to keep the ledger and the reports.
RUN ordersync init .
ENTRYPOINT ["ordersync"]
CMD ["--log-format", "json", "run"]
