# deno-mqtt as a container image: the broker program under the flags of `deno task start`,
# dependencies cached at build time (the container starts without the network), running as
# the image's unprivileged `deno` user, with its state on a volume. See docs/deploy.md.
FROM denoland/deno:2.9.6

WORKDIR /app
RUN chown deno:deno /app
USER deno

# Dependencies first: this layer is rebuilt only when deno.json or deno.lock change. It holds the
# program's dependencies (deno.json `imports`); the test tools are scoped to tests/ and locked in
# tests/deno.lock, so a bare `deno install` would try to add them to deno.lock and fail --frozen.
COPY --chown=deno:deno deno.json deno.lock ./
RUN deno eval 'const { imports } = JSON.parse(Deno.readTextFileSync("deno.json")); Deno.writeTextFileSync("imports.ts", Object.keys(imports).map((name) => `import "${name}";\n`).join(""));' \
  && deno install --frozen --entrypoint imports.ts && rm imports.ts

COPY --chown=deno:deno main.ts ./
COPY --chown=deno:deno src/ ./src/
COPY --chown=deno:deno examples/container.yaml ./config/broker.yaml
# Nothing left to download; this fails the build if the lock file and the code disagree.
RUN deno install --frozen --entrypoint main.ts && mkdir -p /app/data

VOLUME /app/data
# MQTT, MQTT over WebSocket, admin API and dashboard (as in config/broker.yaml).
EXPOSE 1883 8083 18083

ENTRYPOINT ["deno", "run", "--unstable-kv", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys", "main.ts"]
CMD ["--config", "config/broker.yaml"]
