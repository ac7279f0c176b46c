# syntax=docker/dockerfile:1.7
# The web console (docs/console.md): Next.js standalone output on Node 20,
# run as a non-root user. Build from the repository root:
#
#   docker build -f deploy/docker/console.Dockerfile -t aionos/console:0.1.0 .
#   docker run --rm -p 3000:3000 -e NEXTAUTH_SECRET=... -e NEXTAUTH_URL=http://localhost:3000 \
#     -e NEXT_PUBLIC_GATEWAY_URL=http://HOST:8080 -e NEXT_PUBLIC_CONTROL_URL=http://HOST:8000 aionos/console:0.1.0
#
# console.Dockerfile.dockerignore (beside this file) lets only the console's
# sources into the context. tests/e2e/test_deploy.py lints this file.

# ---------------------------------------------------------------------------
# Dependencies: pnpm pinned (TOOLCHAIN.md), the committed lock, nothing else.
FROM node:20.20.2-bookworm-slim AS deps
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV NEXT_TELEMETRY_DISABLED=1
RUN npm install -g pnpm@12.4.2
WORKDIR /app
COPY console/package.json console/pnpm-lock.yaml ./
RUN pnpm install --frozen-lockfile

# ---------------------------------------------------------------------------
# Build: `next build` with output: "standalone" (a server.js and only the
# node_modules files it needs).
FROM deps AS build
COPY console/next.config.ts console/tsconfig.json ./
COPY console/src ./src
RUN pnpm run build

# ---------------------------------------------------------------------------
# Runtime: the standalone server and the static files, owned by root and
# read-only to the server's user; Next's cache goes to a writable folder.
FROM node:20.20.2-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=3000 \
    HOSTNAME=0.0.0.0
RUN groupadd --system --gid 10001 console \
 && useradd --system --uid 10001 --gid console --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin console
WORKDIR /app
COPY --from=build /app/.next/standalone ./
COPY --from=build /app/.next/static ./.next/static
RUN install -d -o 10001 -g 10001 -m 0750 /app/.next/cache
USER 10001:10001
EXPOSE 3000
# 200 once the server answers and can sign people in (NEXTAUTH_SECRET set).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/api/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "server.js"]
