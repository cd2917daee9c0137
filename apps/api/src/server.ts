import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, configFilePath, loadConfig } from './config/index.ts';
import { startTracing } from './infra/tracing.ts';

/**
 * The process: configuration, listen, socket timeouts suited to running behind a load balancer, and graceful
 * shutdown. On SIGTERM readiness flips to 503 first, the listener stays open for the drain delay so the load
 * balancer notices, then in-flight requests and streams get the grace period and the process exits 0.
 */
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

// Tracing starts before app.ts is imported: its loader hook only wraps fastify, pg, ioredis and undici if they load
// after it (ESM). Without OTEL_EXPORTER_OTLP_ENDPOINT this loads nothing.
const tracing = await startTracing(config);
const { buildApp } = await import('./app.ts');
// genz.yaml is watched: providers, aliases and plans apply without a restart (docs/providers.md).
const app = await buildApp({ config, configSource: { file: configFilePath(), load: () => loadConfig() } }).catch(
  (err: Error) => {
    // Another process (a second server, or a `genz data` command) holds the embedded data dir: say so, no stack.
    if (err.name !== 'DataDirInUse') throw err;
    console.error(err.message);
    process.exit(1);
  },
);
await app.listen({ host: config.server.host, port: config.server.port });
app.server.headersTimeout = config.server.headersTimeoutMs;

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) {
    app.log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  app.draining = true;
  const { shutdownDrainDelayMs, shutdownGraceMs } = config.server;
  app.log.info({ signal, shutdownDrainDelayMs, shutdownGraceMs }, 'draining: readiness is now 503');
  await sleep(shutdownDrainDelayMs);
  const force = setTimeout(() => {
    app.log.warn('grace period over: closing remaining connections');
    app.server.closeAllConnections();
  }, shutdownGraceMs);
  force.unref();
  await app.close();
  clearTimeout(force);
  if (tracing) {
    // The last batch of spans (the drain included) is flushed, but a dead collector cannot hold the exit.
    await Promise.race([tracing.shutdown(), sleep(5000)]).catch((err: Error) =>
      app.log.warn({ reason: err.message }, 'trace export on shutdown failed'),
    );
  }
  app.log.info('stopped');
  process.exit(0);
}
// A rejection nobody handled (seen once: a late ioredis "Command timed out" on a starved CPU) must not end every
// stream this process serves; it is logged as an error with its stack so the missing handler gets fixed.
process.on('unhandledRejection', (reason) => app.log.error({ err: reason }, 'unhandled promise rejection'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
