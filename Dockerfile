# syntax=docker/dockerfile:1
#
# One image for the three anidex binaries; the compose `command:` picks which one runs.
#   docker build -t anidex .
#   docker run --rm anidex query-api --help

# ---- build ------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder

# rdkafka builds librdkafka from source (its `cmake-build` feature).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libcurl4-openssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# target/ lives in a cache mount, so the binaries are copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins -p command-api -p query-api -p consumers \
    && mkdir -p /out \
    && cp target/release/command-api target/release/query-api target/release/consumers /out/

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

# curl is for the compose healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 anidex \
    && useradd --system --uid 10001 --gid anidex --no-create-home --shell /usr/sbin/nologin anidex

COPY --from=builder /out/command-api /out/query-api /out/consumers /usr/local/bin/

# The binaries default to 127.0.0.1; in a container they must listen on every interface.
ENV LOG_FORMAT=json \
    COMMAND_API_LISTEN=0.0.0.0:8080 \
    QUERY_API_LISTEN=0.0.0.0:8081 \
    CONSUMERS_LISTEN=0.0.0.0:8082

USER anidex
EXPOSE 8080 8081 8082
CMD ["command-api"]
