# syntax=docker/dockerfile:1
# tokend: a small, non-root image. Pure Go (the embedded SQLite is
# modernc's), so the binary is static and the runtime image has nothing else.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tokend ./cmd/tokend \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokend /usr/local/bin/tokend
# The SQLite default and its generated key live in /data; mount a volume
# there, or set TOKEND_DATABASE_URL to PostgreSQL.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
# Metrics on their own port, reachable from the container's network only
# when the operator publishes it (never on the API port).
ENV TOKEND_LISTEN=0.0.0.0:8080 \
    TOKEND_METRICS_LISTEN=0.0.0.0:9464 \
    TOKEND_DATABASE_URL=sqlite:/data/tokend.db
EXPOSE 8080 9464
VOLUME ["/data"]
# No HEALTHCHECK: distroless has no shell or curl; orchestrators probe
# GET /healthz (liveness) and GET /readyz (database reachable) over HTTP.
ENTRYPOINT ["/usr/local/bin/tokend"]
CMD ["serve"]
