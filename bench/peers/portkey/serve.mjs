import { Server } from 'node:net';

/**
 * Starts Portkey's gateway (`@portkey-ai/gateway`, its own start-server.js, unmodified) on loopback only: it listens
 * on every interface when given just a port, so `listen` is given 127.0.0.1 here. Port from PORT; headless.
 */
const listen = Server.prototype.listen;
Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number')
    return listen.call(this, args[0], '127.0.0.1', ...args.slice(1).filter((a) => typeof a === 'function'));
  if (args[0] && typeof args[0] === 'object' && !args[0].path) args[0] = { ...args[0], host: '127.0.0.1' };
  return listen.apply(this, args);
};
process.argv.push(`--port=${process.env.PORT ?? 8787}`, '--headless');
console.clear = () => {};
try {
  await import('./node_modules/@portkey-ai/gateway/build/start-server.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  console.error('Portkey is not installed: run `npm ci --prefix bench/peers/portkey` first.');
  process.exit(1);
}
