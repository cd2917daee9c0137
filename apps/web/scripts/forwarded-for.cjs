// Preloaded into the standalone web server (`node --require ./forwarded-for.cjs server.js`).
//
// Next.js only sets X-Forwarded-For when the client did not send one (`??=`), so a client could name any IP and
// the API, which trusts the web server as a proxy, would believe it. Like any reverse proxy we append the peer
// address instead; the API then walks the list from the right past its trusted proxies (ADR 004).
const http = require('node:http');

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function emitWithForwardedFor(event, ...args) {
  if (event === 'request') {
    const request = args[0];
    const peer = request?.socket?.remoteAddress;
    if (peer) {
      const prior = request.headers['x-forwarded-for'];
      request.headers['x-forwarded-for'] = prior ? `${prior}, ${peer}` : peer;
    }
  }
  return emit.call(this, event, ...args);
};
