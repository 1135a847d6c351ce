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
# --build-arg TRACING=1 adds the `otel` extra to any of them (traces, off by default).
#
# docker-compose.yml builds them all. Every image runs `trainbridge <command>`.
#
# The dependencies come from the extra's hashed lock, requirements/${EXTRAS:-core}.txt
# (`make lock` writes them from pyproject.toml), as wheels only: every file pip installs is
# checked against its sha256, so a rebuild installs the same bytes. An extra without a lock
# file there cannot be built. No BuildKit frontend is fetched: the classic builder
# (DOCKER_BUILDKIT=0, Docker 20.10) builds it too.

# Pinned by tag; for byte-for-byte reproducible builds pass a digest instead, e.g.
# --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>. Any Debian-based CPython 3.11
# image whose interpreter is `python3` with the venv module will do.
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: install the extra's locked dependencies, then the wheel, into /opt/trainbridge
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python3 -m venv /opt/trainbridge

# The build backend, hashed too, in a venv of its own (not copied into the image): the wheel is
# built without build isolation, so nothing unhashed is fetched.
COPY requirements/build.txt /tmp/build-requirements.txt
RUN python3 -m venv /opt/build \
 && /opt/build/bin/python -m pip install --require-hashes --only-binary=:all: \
        -r /tmp/build-requirements.txt

# Empty: the core only (enough for `trainbridge migrate` and the operator tool).
ARG EXTRAS=""

# The dependencies before the source, from the lock file alone: this layer is rebuilt only
# when the lock changes, not on every change to the code.
COPY requirements/${EXTRAS:-core}.txt /tmp/requirements.txt
RUN /opt/trainbridge/bin/python -m pip install --require-hashes --only-binary=:all: \
        -r /tmp/requirements.txt

# TRACING=1 adds the `otel` extra (OpenTelemetry: docs/operations.md#traces) from its own
# lock, the same pins as dev.txt; without it the image holds none of it and setting
# OTEL_EXPORTER_OTLP_ENDPOINT is a configuration error.
ARG TRACING=""
COPY requirements/otel.txt /tmp/otel-requirements.txt
RUN if [ -n "${TRACING}" ]; then /opt/trainbridge/bin/python -m pip install --require-hashes \
        --only-binary=:all: -r /tmp/otel-requirements.txt; fi

# Only what the wheel is built from (see [tool.hatch.build.targets.wheel]); README.md is the
# package's readme.
COPY pyproject.toml README.md ./
COPY eventlog ./eventlog
COPY migrations ./migrations
COPY services ./services
COPY fake_labelbox ./fake_labelbox
COPY trainbridge ./trainbridge
# --no-deps: everything it needs is installed above. `pip check` proves the core's requirements
# are met (pip does not record which extras were asked for: tests/test_lock_files.py checks
# that each lock holds its extra), and `trainbridge --help` that the package imports.
RUN /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/trainbridge/bin/python -m pip install --no-deps /wheels/trainbridge-*.whl \
 && /opt/trainbridge/bin/python -m pip check \
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
