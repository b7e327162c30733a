# One image for every Sluice binary, from Debian 12 packages only:
#   docker build -t sluice .
#   docker run --rm sluice sluice-worker --help
# The build stage compiles with the same Makefile as a checkout (`make
# progs`: the binaries, no package install); the runtime stage has only the
# shared libraries they load and runs as an unprivileged user. The command
# picks the binary (deploy/compose.yaml, deploy/kubernetes/). SIGTERM is
# the drain: run the binary as PID 1 (exec form), no shell in front.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config libhiredis-dev libev-dev libcurl4-openssl-dev libcjson-dev \
      libsqlite3-dev libmicrohttpd-dev libpango1.0-dev libcairo2-dev libssl-dev libsystemd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" progs \
 && install -d /out \
 && install -m 755 bin/sluice-worker bin/sluice-scheduler bin/sluice-producer bin/sluice-ctl \
      bin/sluice-bench /out/

FROM debian:12-slim
# What the binaries load (readelf -d: NEEDED), each from its Debian package;
# fonts for PDF jobs, CA certificates for HTTPS to Discord and Telegram.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 libev4 libcurl4 libcjson1 libsqlite3-0 libmicrohttpd12 libssl3 \
      libsystemd0 libpango-1.0-0 libpangocairo-1.0-0 libcairo2 libfontconfig1 libglib2.0-0 \
      fonts-dejavu-core ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
 && install -d -m 750 -o sluice -g sluice /var/lib/sluice /tmp/sluice
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/sluice
# the intake's default port, and the metrics port the manifests use
EXPOSE 8787 9100
CMD ["sluice-worker", "--help"]
