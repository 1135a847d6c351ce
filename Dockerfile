# syntax=docker/dockerfile:1
#
# One Dockerfile, one image per service: the build argument EXTRAS picks the pyproject.toml
# extra installed next to the shared core, so each image holds only its own dependencies
# (the ingest image never contains labelbox or scikit-learn):
#
#   docker build --build-arg EXTRAS=ingest        -t trainbridge-ingest .
#   docker build --build-arg EXTRAS=trainer       -t trainbridge-trainer .
#   docker build --build-arg EXTRAS=reporter      -t trainbridge-reporter .
#   docker build --build-arg EXTRAS=fake-labelbox -t trainbridge-fake-labelbox .
#   docker build                                  -t trainbridge-migrate .   # core only
#
# docker-compose.yml builds them all. Every image runs `trainbridge <command>`.

# Pinned by tag; for byte-for-byte reproducible builds pass a digest instead, e.g.
# --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: build the wheel, install it with the chosen extra into /opt/trainbridge -----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/trainbridge

# Only what the wheel is built from (see [tool.hatch.build.targets.wheel]); README.md is the
# package's readme. Nothing here depends on EXTRAS, so every image shares these layers.
COPY pyproject.toml README.md ./
COPY eventlog ./eventlog
COPY migrations ./migrations
COPY services ./services
COPY trainbridge ./trainbridge
RUN python -m pip wheel --no-deps --wheel-dir /wheels .

# Empty: the core only (enough for `trainbridge migrate`).
ARG EXTRAS=""
RUN wheel="$(ls /wheels/trainbridge-*.whl)" \
 && /opt/trainbridge/bin/pip install "${wheel}${EXTRAS:+[${EXTRAS}]}" \
 && /opt/trainbridge/bin/trainbridge --help >/dev/null

# --- runtime: the venv on a clean slim image, run as a non-root user ----------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG EXTRAS=""
LABEL org.opencontainers.image.title="trainbridge" \
      org.opencontainers.image.description="Trainbridge with the '${EXTRAS}' extra" \
      io.trainbridge.extras="${EXTRAS}"

ENV PATH=/opt/trainbridge/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A fixed uid/gid, so named volumes and Kubernetes' runAsNonRoot agree on the owner. The
# artifacts directory exists in the image owned by that user: an empty named volume mounted
# there copies the ownership, so the trainer and the reporter can write to it.
RUN groupadd --system --gid 10001 trainbridge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin trainbridge \
 && mkdir -p /app /var/lib/trainbridge/artifacts \
 && chown 10001:10001 /app /var/lib/trainbridge/artifacts

COPY --from=builder /opt/trainbridge /opt/trainbridge

WORKDIR /app
USER 10001:10001
ENTRYPOINT ["trainbridge"]
CMD ["--help"]
