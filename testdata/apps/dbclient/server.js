// A test app that reads and writes the databases bound to it, through the
// variables the platform injects, with no npm dependency: a minimal RESP
// client for redis and a minimal PostgreSQL client (startup, SCRAM-SHA-256,
// simple queries).
const http = require('http');
const net = require('net');
const crypto = require('crypto');

function redis(commands) {
  const u = new URL(process.env.REDIS_URL);
  const all = [['AUTH', decodeURIComponent(u.password)], ...commands];
  const wire = all.map(c => `*${c.length}\r\n` + c.map(a => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')).join('');
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => s.write(wire));
    let buf = '';
    s.setTimeout(10000, () => { s.destroy(); reject(new Error('redis timeout')); });
    s.on('error', reject);
    s.on('data', d => {
      buf += d.toString();
      const replies = parseRESP(buf);
      if (replies && replies.length === all.length) { s.end(); resolve(replies.slice(1)); }
    });
  });
}

function parseRESP(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    const end = buf.indexOf('\r\n', i);
    if (end < 0) return null;
    const line = buf.slice(i, end);
    if (line[0] === '+' || line[0] === ':') { out.push(line.slice(1)); i = end + 2; }
    else if (line[0] === '-') { out.push(new Error(line.slice(1))); i = end + 2; }
    else if (line[0] === '$') {
      const n = Number(line.slice(1));
      if (n < 0) { out.push(null); i = end + 2; continue; }
      if (buf.length < end + 2 + n + 2) return null;
      out.push(buf.slice(end + 2, end + 2 + n)); i = end + 2 + n + 2;
    } else return null;
  }
  return out;
}

function pgMessage(type, body) {
  const head = Buffer.alloc(type ? 5 : 4);
  let o = 0;
  if (type) { head.write(type, 0); o = 1; }
  head.writeInt32BE(body.length + 4, o);
  return Buffer.concat([head, body]);
}

function pg(sql) {
  const user = process.env.PGUSER, password = process.env.PGPASSWORD;
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(process.env.PGPORT), process.env.PGHOST);
    s.setTimeout(10000, () => { s.destroy(); reject(new Error('postgres timeout')); });
    s.on('error', reject);
    const params = Buffer.from(`user\0${user}\0database\0${process.env.PGDATABASE}\0\0`);
    const ver = Buffer.alloc(4); ver.writeInt32BE(196608);
    s.on('connect', () => s.write(pgMessage('', Buffer.concat([ver, params]))));
    const nonce = crypto.randomBytes(18).toString('base64');
    const clientFirstBare = `n=,r=${nonce}`;
    let buf = Buffer.alloc(0), rows = [], serverSig = null;
    s.on('data', d => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5) {
        const type = String.fromCharCode(buf[0]), len = buf.readInt32BE(1);
        if (buf.length < 1 + len) break;
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (type === 'R') {
          const code = body.readInt32BE(0);
          if (code === 10) {
            const first = Buffer.from('n,,' + clientFirstBare);
            const l = Buffer.alloc(4); l.writeInt32BE(first.length);
            s.write(pgMessage('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), l, first])));
          } else if (code === 11) {
            const serverFirst = body.subarray(4).toString();
            const attrs = Object.fromEntries(serverFirst.split(',').map(kv => [kv[0], kv.slice(2)]));
            const salted = crypto.pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
            const clientKey = crypto.createHmac('sha256', salted).update('Client Key').digest();
            const storedKey = crypto.createHash('sha256').update(clientKey).digest();
            const withoutProof = `c=biws,r=${attrs.r}`;
            const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
            const sig = crypto.createHmac('sha256', storedKey).update(authMessage).digest();
            const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]));
            const serverKey = crypto.createHmac('sha256', salted).update('Server Key').digest();
            serverSig = crypto.createHmac('sha256', serverKey).update(authMessage).digest('base64');
            s.write(pgMessage('p', Buffer.from(`${withoutProof},p=${proof.toString('base64')}`)));
          } else if (code === 12) {
            if (body.subarray(4).toString() !== `v=${serverSig}`) { s.destroy(); reject(new Error('server signature mismatch')); }
          } else if (code !== 0) { s.destroy(); reject(new Error('unsupported auth ' + code)); }
        } else if (type === 'Z') {
          if (sql !== null) { s.write(pgMessage('Q', Buffer.from(sql + '\0'))); sql = null; }
          else { s.end(); resolve(rows); }
        } else if (type === 'D') {
          const n = body.readInt16BE(0); let o = 2; const row = [];
          for (let c = 0; c < n; c++) { const l = body.readInt32BE(o); o += 4; row.push(l < 0 ? null : body.subarray(o, o + l).toString()); o += Math.max(l, 0); }
          rows.push(row);
        } else if (type === 'E') {
          s.destroy(); reject(new Error('postgres: ' + body.toString().replace(/\0/g, ' ')));
        }
      }
    });
  });
}

const handlers = {
  '/redis/set': async q => { await redis([['SET', 'k', q.get('v')]]); return 'ok'; },
  '/redis/get': async () => String((await redis([['GET', 'k']]))[0]),
  '/pg/set': async q => {
    const v = q.get('v').replace(/[^A-Za-z0-9]/g, '');
    await pg(`CREATE TABLE IF NOT EXISTS kv (v text); DELETE FROM kv; INSERT INTO kv VALUES ('${v}')`);
    return 'ok';
  },
  '/pg/get': async () => String(((await pg('SELECT v FROM kv'))[0] || [''])[0]),
};

http.createServer(async (req, res) => {
  const u = new URL(req.url, 'http://x');
  const h = handlers[u.pathname];
  if (!h) { res.end('dbclient\n'); return; }
  try { res.end(await h(u.searchParams)); }
  catch (e) { res.statusCode = 500; res.end(String(e.message || e)); }
}).listen(Number(process.env.PORT || 8080));
