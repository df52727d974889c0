# syntax=docker/dockerfile:1
# Node 24 (LTS) on Debian 13; engines still admit Node 20, and .ci/run tests both (ADR 014).
# Build stage: install with dev dependencies, compile TypeScript, drop dev deps.
FROM node:24-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY queries ./queries
COPY examples ./examples
# `npm run build` (scripts/build.js) also copies the SQL migrations beside the compiled store.
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

# Runtime stage: compiled JavaScript only, non-root.
FROM node:24-trixie-slim
ENV NODE_ENV=production \
    STEADYSTATE_LISTEN=0.0.0.0:8080 \
    STEADYSTATE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Read at run time relative to dist/: the query library (`queries`) and the demo's specs (`demo`).
COPY --from=build /app/queries ./queries
COPY --from=build /app/examples ./examples
# /data is PGlite's home when DATABASE_URL is not set; with PostgreSQL the root fs can be read-only.
RUN mkdir -p /data /app/reports && chown -R node:node /data /app/reports
# The `node` user of the base image, by uid, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
