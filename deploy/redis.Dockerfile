# Redis for deploy/compose.yaml, from Debian 12's redis-server (7.0), run
# with deploy/redis.conf and deploy/users.acl mounted by compose.
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -m 750 -o redis -g redis /data /run/redis
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "/etc/redis/redis.conf"]
