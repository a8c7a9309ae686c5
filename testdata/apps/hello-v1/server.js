'use strict';
// Test app: answers "hello v1" on every path, on the port the platform gives.
const http = require('http');

const port = Number(process.env.PORT) || 8080;
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('hello v1');
});

server.listen(port, () => {
  console.log(`hello v1 listening on ${port}`);
});

// The platform stops units with SIGTERM; exit cleanly instead of being killed.
process.on('SIGTERM', () => {
  console.log('hello v1 got SIGTERM, shutting down');
  server.close(() => process.exit(0));
  // Keep-alive connections can hold close() open; do not outlive the grace.
  setTimeout(() => process.exit(0), 2000).unref();
});
