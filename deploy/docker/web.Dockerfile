# syntax=docker/dockerfile:1
# GenZ AI web image (Next.js standalone output). Build from the repository root:
#   docker build -f deploy/docker/web.Dockerfile -t ghcr.io/genz-ai/genz-web:0.1.0 .
# `npm run build -w @genz/web` runs `next build` (output: 'standalone', tracing root = monorepo root) and the
# post-build step apps/web/scripts/copy-static.mjs, which completes apps/web/.next/standalone with static assets,
# public/ and the forwarded-for.cjs preload. The server is apps/web/server.js inside that tree.

# ---- build
FROM node:22-bookworm-slim AS build
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/package.json
COPY apps/web/package.json apps/web/package.json
COPY apps/cli/package.json apps/cli/package.json
COPY packages/contracts/package.json packages/contracts/package.json
COPY packages/db/package.json packages/db/package.json
COPY bench/package.json bench/package.json
COPY deploy/package.json deploy/package.json
RUN npm ci --ignore-scripts --no-audit --no-fund -w @genz/web
COPY tsconfig.base.json tsconfig.json ./
COPY packages/contracts ./packages/contracts
COPY apps/web ./apps/web
RUN npm run build -w @genz/web
# produces: /app/apps/web/.next/standalone

# ---- runtime: only the standalone tree
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    HOSTNAME=0.0.0.0 \
    NEXT_TELEMETRY_DISABLED=1
WORKDIR /app
COPY --from=build --chown=node:node /app/apps/web/.next/standalone ./
WORKDIR /app/apps/web
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "--require", "./forwarded-for.cjs", "server.js"]
