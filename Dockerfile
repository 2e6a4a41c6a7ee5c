# syntax=docker/dockerfile:1
# Build stage: everything needed to compile the gateway and the SDK it imports the protocol from.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/
# The image's npm (node:22's) does not read package.json's allowScripts: no install script runs, as here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY sdk ./sdk
COPY src ./src
# The build also bundles the operator console and writes the OpenAPI document (scripts/build-*.mjs).
COPY scripts ./scripts
COPY console ./console
RUN npm run build

# Runtime stage: production dependencies and compiled output only; no sources, no dev tools.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/sdk/dist ./sdk/dist
USER node
EXPOSE 3001
# node is PID 1 and handles SIGTERM/SIGINT itself (graceful drain; a second signal exits at once).
STOPSIGNAL SIGTERM
# Node flags: package.json config.nodeFlags (a 2 MiB young generation, one V8 worker thread and an old generation that at most doubles between full GCs keep idle and burst RSS low; see docs/benchmarks.md).
CMD ["node", "--max-semi-space-size=2", "--v8-pool-size=1", "--heap-growing-percent=100", "dist/main.js"]
