# syntax=docker/dockerfile:1.7
# Basketry: one image for the server (the default command) and the training job.
#   docker build -t basketry .
#   docker run -v snapshots:/snapshots -v textfile:/metrics -v $PWD/data:/data:ro basketry \
#     train --orders /data/orders.csv.gz
#   docker run -p 50051:50051 -p 9464:9464 -v snapshots:/snapshots basketry
# Settings: /etc/basketry/basketry.toml (below) < BASKETRY_<OPTION> variables < flags.
# tests/deploy/test_dockerfile.py builds the wheel as the build stage does and runs this
# file's ENTRYPOINT, CMD and HEALTHCHECK against a real server.

# A version, not "latest": rebuilds get the same Python; bump it on purpose.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- build: the wheel (its hatch hook generates the gRPC stubs), installed into a venv
FROM ${PYTHON_IMAGE} AS build
# Every package at the exact version the tests ran with (constraints.txt), the wheel's
# build backend in its isolated environment included.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CONSTRAINT=/src/constraints.txt
WORKDIR /src
COPY constraints.txt ./
RUN python -m pip install build==1.2.2.post1
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY service ./service
COPY training ./training
COPY clients ./clients
RUN python -m build --wheel --outdir /dist
# The venv gets no pip of its own: the runtime stage installs nothing.
RUN python -m venv --without-pip /opt/basketry \
 && python -m pip --python /opt/basketry/bin/python install /dist/*.whl

# --- runtime: the venv alone (no compiler, no build packages), run as a non-root user
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="basketry" \
      org.opencontainers.image.description="Recommendations from order history, over gRPC" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 basketry \
 && useradd --system --uid 10001 --gid basketry --create-home --home-dir /home/basketry \
      --shell /usr/sbin/nologin basketry \
 && mkdir -p /snapshots /metrics \
 && chown basketry:basketry /snapshots /metrics
COPY --from=build /opt/basketry /opt/basketry
# The image's settings, per command (so `evaluate` never publishes its partial models where
# the server reads). BASKETRY_<OPTION> variables (e.g. BASKETRY_REDIS_URL, BASKETRY_PORT)
# and flags override them; BASKETRY_CONFIG=FILE replaces the file. (No line of the document
# starts with "#": older Dockerfile parsers would take it for a comment of this file.)
COPY <<'EOF' /etc/basketry/basketry.toml
[serve]
snapshot_dir = "/snapshots"
host = "0.0.0.0"  # every interface of the container, not only its loopback

[train]
snapshot_dir = "/snapshots"
metrics_file = "/metrics/basketry_training.prom"  # for node-exporter's textfile collector

[evaluate]
metrics_file = "/metrics/basketry_evaluation.prom"

[publish]
snapshot_dir = "/snapshots"
EOF
# One BLAS thread per process: more only slows per-request linear algebra (see README).
ENV PATH=/opt/basketry/bin:$PATH \
    BASKETRY_CONFIG=/etc/basketry/basketry.toml \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /home/basketry
EXPOSE 50051 9464
VOLUME ["/snapshots"]
# The gRPC health service on the serving port (BASKETRY_PORT, else the default 50051):
# NOT_SERVING until a snapshot is loaded and while draining.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, grpc\nfrom grpc_health.v1 import health_pb2, health_pb2_grpc\ntarget = '127.0.0.1:' + (os.environ.get('BASKETRY_PORT') or '50051')\nwith grpc.insecure_channel(target) as channel:\n    try:\n        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)\n    except grpc.RpcError as exc:\n        sys.exit(f'unhealthy: {target}: {exc.code().name}')\nif reply.status != health_pb2.HealthCheckResponse.SERVING:\n    sys.exit('unhealthy: ' + health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))"]
ENTRYPOINT ["basketry"]
CMD ["serve"]
