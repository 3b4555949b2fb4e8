# Build stage: compile the release binaries with the same toolchain line as development.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin leadrouter

# Runtime stage: just the binary, its config and CA roots.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 leadrouter
WORKDIR /app
COPY --from=build /src/target/release/leadrouter /app/leadrouter
COPY config /app/config
USER leadrouter
ENV LEADROUTER_CONFIG_DIR=/app/config PORT=8080
EXPOSE 8080
# DATABASE_URL must point at the PostgreSQL to use (the default is localhost).
ENTRYPOINT ["/app/leadrouter"]
