# Causeway container: Node 24 runs the TypeScript sources directly (type stripping), so the image
# holds the sources and the production dependencies only. libsignal's prebuilt binary needs glibc,
# hence Debian bookworm rather than Alpine. No `# syntax=` line: nothing here needs more than the
# builder's built-in Dockerfile frontend, and naming one makes BuildKit pull docker/dockerfile from
# Docker Hub, which fails where only the base image is at hand (docs/containers.md).

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY adapters ./adapters
COPY config ./config
# /app is root's; the media store's default directory (media.store.dir: data/media, relative to
# the working directory) must be writable by the user Causeway runs as.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 7310 7300
# The sidecar answers /healthz on its server port; the mock hub service overrides this in compose.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.CAUSEWAY_HEALTH_PORT||7310)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/causeway.js"]
CMD ["help"]
