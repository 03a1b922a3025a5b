# syntax=docker/dockerfile:1
# One image for the gateway, the worker, the migration job and the admin CLI.
#   gateway:   node --import tsx server/src/main.ts   (default command)
#   worker:    node --import tsx worker/src/main.ts
#   migration: node --import tsx scripts/migrate.ts
# Runs as uid/gid 10001 and writes only to /tmp and the attachments volume, so it works with a
# read-only root filesystem. No secret is baked in: configuration comes from the environment.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: full dependency tree, then the Prisma client (needs the dev dependency `prisma`) ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are not needed (esbuild and msgpackr load their platform packages) and
# some try to download binaries.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY prisma.config.ts ./
COPY migrations ./migrations
COPY scripts/prisma-generate ./scripts/prisma-generate
RUN bash scripts/prisma-generate

# --- prod-deps: production dependencies only ---
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="MobiVisor Messenger" \
      org.opencontainers.image.description="Self-hosted, end-to-end encrypted messenger: gateway, worker and migrations" \
      org.opencontainers.image.vendor="MobiVisor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/mobivisor/messenger" \
      org.opencontainers.image.licenses="UNLICENSED"

# tini as PID 1: forwards SIGTERM to node (graceful shutdown) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 mobivisor \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mobivisor \
 && mkdir -p /var/lib/mobivisor/attachments \
 && chown 10001:10001 /var/lib/mobivisor/attachments

ENV NODE_ENV=production
WORKDIR /app
# Code and dependencies stay owned by root: the app user can read but not change them.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY . .
COPY --from=build /app/core/generated ./core/generated

USER 10001:10001
EXPOSE 8443 9090
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "server/src/main.ts"]
