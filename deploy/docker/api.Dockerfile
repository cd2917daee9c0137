# syntax=docker/dockerfile:1
# GenZ AI API image. Build from the repository root:
#   docker build -f deploy/docker/api.Dockerfile -t ghcr.io/genz-ai/genz-api:0.1.0 .
# Node 22 runs the TypeScript sources directly (type stripping): no build step. Checked by
# deploy/docker/docker.ops.test.ts (every COPY source exists or comes from a named stage; the CMD target exists).

# ---- deps: production dependencies of the API workspace and the packages it uses
FROM node:22-bookworm-slim AS deps
WORKDIR /app
# every workspace manifest, so `npm ci` sees the same workspace set as package-lock.json
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/package.json
COPY apps/web/package.json apps/web/package.json
COPY apps/cli/package.json apps/cli/package.json
COPY packages/contracts/package.json packages/contracts/package.json
COPY packages/db/package.json packages/db/package.json
COPY bench/package.json bench/package.json
COPY deploy/package.json deploy/package.json
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund -w @genz/api
# produces: /app/node_modules

# ---- runtime
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/tmp/genz-data
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node packages/contracts ./packages/contracts
COPY --chown=node:node packages/db ./packages/db
COPY --chown=node:node apps/api ./apps/api
# uid 1000 from the node image; the root filesystem can be read-only (writes go to /tmp)
USER node
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "apps/api/src/server.ts"]
