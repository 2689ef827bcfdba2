# qualifyd in a container: multi-stage, Debian slim, non-root, health-checked.
#   docker build -t qualifyd .
#   docker run -d -p 8080:8080 -v qualifyd-data:/var/lib/qualifyd \
#     -e QUALIFYD_MASTER_KEY=... -e QUALIFYD_ADMIN_TOKEN=... qualifyd
# See docs/operations.md (TLS goes in a reverse proxy in front; set public_url to its address).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin qualifyd

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 qualifyd \
    && useradd --system --uid 10001 --gid qualifyd --home-dir /var/lib/qualifyd --shell /usr/sbin/nologin qualifyd \
    && install -d -o qualifyd -g qualifyd -m 0700 /var/lib/qualifyd
COPY --from=build /src/target/release/qualifyd /usr/local/bin/qualifyd
COPY deploy/docker/config.yaml /etc/qualifyd/config.yaml
COPY workflows /etc/qualifyd/workflows
COPY prompts /etc/qualifyd/prompts
USER qualifyd:qualifyd
WORKDIR /var/lib/qualifyd
ENV QUALIFYD_LOG=info
EXPOSE 8080
VOLUME ["/var/lib/qualifyd"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/qualifyd"]
CMD ["serve", "--config", "/etc/qualifyd/config.yaml"]
