# syntax=docker/dockerfile:1
# SPDX-License-Identifier: Apache-2.0
#
# redis-cart, the cart service's store, from Debian's redis-server: the same entrypoint, arguments and
# /data directory as the image make-images.sh builds (sconify-all.sh makes /data an encrypted volume).
#   docker build -f examples/online-boutique/redis.Dockerfile -t boutique/redis-cart:1 .
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
CMD ["--port", "6379", "--dir", "/data", "--appendonly", "yes", "--protected-mode", "no"]
LABEL org.opencontainers.image.title=redis-cart org.opencontainers.image.source=ensconce/examples/online-boutique
