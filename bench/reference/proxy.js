// The least a Node gateway does, for bench/gateway.py: keep-alive HTTP in,
// parse the JSON request (a gateway reads the model), forward on pooled
// keep-alive connections, parse the JSON answer (a gateway reads the usage),
// reply. No auth, no limits, no storage: a floor for Node gateways' cost.
// env: PROXY_PORT, UPSTREAM_PORT.
'use strict';
const http = require('node:http');

const upstreamPort = Number(process.env.UPSTREAM_PORT);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let parsed;
    try {
      parsed = JSON.parse(Buffer.concat(chunks));
    } catch (e) {
      return reply(res, 400, JSON.stringify({ error: { message: 'invalid JSON' } }));
    }
    const body = JSON.stringify(parsed);
    const up = http.request({
      host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (ur) => {
      const out = [];
      ur.on('data', (c) => out.push(c));
      ur.on('end', () => {
        try {
          const answer = JSON.parse(Buffer.concat(out));
          reply(res, ur.statusCode, JSON.stringify(answer));
        } catch (e) {
          reply(res, 502, JSON.stringify({ error: { message: 'bad upstream answer' } }));
        }
      });
    });
    up.on('error', (e) => reply(res, 502, JSON.stringify({ error: { message: String(e) } })));
    up.end(body);
  });
}).listen(Number(process.env.PROXY_PORT), '127.0.0.1');
