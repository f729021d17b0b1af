# syntax=docker/dockerfile:1
# Build: docker build -t tokenbroker .
# Run:   docker run -e DATABASE_URL=postgres://… -e TOKENBROKER_MASTER_KEYS=… \
#          -e TOKENBROKER_LISTEN=0.0.0.0:8080 -p 8080:8080 tokenbroker
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin tokenbroker

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home tokenbroker
COPY --from=build /src/target/release/tokenbroker /usr/local/bin/tokenbroker
USER 10001
ENV TOKENBROKER_LISTEN=0.0.0.0:8080 TOKENBROKER_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["tokenbroker"]
CMD ["serve"]
