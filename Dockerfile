# syntax=docker/dockerfile:1
# Basketry: one image for the server (default) and the training job.
#   docker build -t basketry .
#   docker run -v $PWD/snapshots:/snapshots basketry train --orders /data/orders.csv.gz --snapshot-dir /snapshots
#   docker run -p 50051:50051 -p 9464:9464 -v $PWD/snapshots:/snapshots basketry

# --- build: the wheel (its build hook generates the gRPC stubs)
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.*
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY service ./service
COPY training ./training
COPY clients ./clients
RUN python -m build --wheel --outdir /dist

# --- runtime: slim, non-root
FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /home/basketry basketry \
 && mkdir -p /snapshots && chown basketry /snapshots
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
# One BLAS thread per process: more only slows per-request linear algebra (see README).
ENV OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    PYTHONUNBUFFERED=1
USER basketry
WORKDIR /home/basketry
EXPOSE 50051 9464
VOLUME ["/snapshots"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import grpc, sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; ch = grpc.insecure_channel('127.0.0.1:50051'); r = g.HealthStub(ch).Check(h.HealthCheckRequest(service=''), timeout=2); sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)"]
ENTRYPOINT ["basketry"]
CMD ["serve", "--snapshot-dir", "/snapshots", "--host", "0.0.0.0", "--port", "50051", "--metrics-port", "9464"]
