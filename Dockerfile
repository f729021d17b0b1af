# syntax=docker/dockerfile:1
# A small image with the binary only, running as a non-root user.
#   docker build -t tokenbroker .
#   docker run -e DATABASE_URL=postgres://… -e TOKENBROKER_MASTER_KEY_FILE=/run/secrets/master_keys \
#     -v "$PWD/master.keys:/run/secrets/master_keys:ro" -p 8080:8080 tokenbroker
# deploy/compose.yaml and deploy/k8s/ run it with the master keys as a mounted file.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# Cached registry and target dir: a rebuild after a source change compiles only this crate.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tokenbroker \
    && cp target/release/tokenbroker /tokenbroker

# glibc, libgcc, CA certificates (for vendor TLS) and user 65532: nothing else, no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /tokenbroker /usr/local/bin/tokenbroker
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# Not secrets: the variable names merely contain "TOKEN".
# hadolint ignore=DL3064
ENV TOKENBROKER_LISTEN=0.0.0.0:8080 TOKENBROKER_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tokenbroker"]
CMD ["serve"]
