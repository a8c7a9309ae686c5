// A test app that reads and writes the databases bound to it, through the
// variables the platform injects, with no npm dependency: a minimal RESP
// client for redis, a minimal PostgreSQL client (startup, SCRAM-SHA-256,
// simple queries) and a minimal MongoDB client (OP_MSG, BSON, SCRAM-SHA-256).
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

// scram is SCRAM-SHA-256's client side after the server's first message
// (RFC 7677): the client's final message and the server signature to expect.
function scram(password, clientFirstBare, serverFirst) {
  const attrs = Object.fromEntries(serverFirst.split(',').map(kv => [kv[0], kv.slice(2)]));
  const salted = crypto.pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
  const clientKey = crypto.createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = crypto.createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=biws,r=${attrs.r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const sig = crypto.createHmac('sha256', storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]));
  const serverKey = crypto.createHmac('sha256', salted).update('Server Key').digest();
  return {
    clientFinal: `${withoutProof},p=${proof.toString('base64')}`,
    serverSig: crypto.createHmac('sha256', serverKey).update(authMessage).digest('base64'),
  };
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
            const sc = scram(password, clientFirstBare, body.subarray(4).toString());
            serverSig = sc.serverSig;
            s.write(pgMessage('p', Buffer.from(sc.clientFinal)));
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

// BSON, the types MongoDB's answers to these commands use.
function bsonEncode(doc) {
  const parts = [];
  for (const [k, v] of Object.entries(doc)) {
    const name = Buffer.from(k + '\0');
    if (typeof v === 'string') {
      const b = Buffer.from(v); const l = Buffer.alloc(4); l.writeInt32LE(b.length + 1);
      parts.push(Buffer.from([0x02]), name, l, b, Buffer.from([0]));
    } else if (typeof v === 'number') {
      const b = Buffer.alloc(4); b.writeInt32LE(v); parts.push(Buffer.from([0x10]), name, b);
    } else if (typeof v === 'boolean') {
      parts.push(Buffer.from([0x08]), name, Buffer.from([v ? 1 : 0]));
    } else if (Buffer.isBuffer(v)) {
      const l = Buffer.alloc(4); l.writeInt32LE(v.length);
      parts.push(Buffer.from([0x05]), name, l, Buffer.from([0]), v);
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from([0x04]), name, bsonEncode(Object.fromEntries(v.map((x, i) => [String(i), x]))));
    } else {
      parts.push(Buffer.from([0x03]), name, bsonEncode(v));
    }
  }
  const body = Buffer.concat(parts);
  const l = Buffer.alloc(4); l.writeInt32LE(body.length + 5);
  return Buffer.concat([l, body, Buffer.from([0])]);
}

function bsonDecode(b, array) {
  const out = array ? [] : {};
  let o = 4;
  while (b[o] !== 0) {
    const t = b[o++]; const end = b.indexOf(0, o); const k = b.subarray(o, end).toString(); o = end + 1;
    let v;
    switch (t) {
      case 0x01: v = b.readDoubleLE(o); o += 8; break;
      case 0x02: { const l = b.readInt32LE(o); v = b.subarray(o + 4, o + 3 + l).toString(); o += 4 + l; break; }
      case 0x03: case 0x04: { const l = b.readInt32LE(o); v = bsonDecode(b.subarray(o, o + l), t === 0x04); o += l; break; }
      case 0x05: { const l = b.readInt32LE(o); v = b.subarray(o + 5, o + 5 + l); o += 5 + l; break; }
      case 0x07: v = b.subarray(o, o + 12).toString('hex'); o += 12; break;
      case 0x08: v = b[o] === 1; o += 1; break;
      case 0x09: case 0x11: case 0x12: v = Number(b.readBigInt64LE(o)); o += 8; break;
      case 0x0A: v = null; break;
      case 0x10: v = b.readInt32LE(o); o += 4; break;
      default: throw new Error('bson type ' + t);
    }
    if (array) out.push(v); else out[k] = v;
  }
  return out;
}

// mongo runs commands on one connection: authenticates as the URL's user
// against its authSource, then runs each command against the URL's database.
function mongo(commands) {
  const u = new URL(process.env.MONGODB_URI);
  const db = u.pathname.slice(1), authDb = u.searchParams.get('authSource') || db;
  const user = decodeURIComponent(u.username), password = decodeURIComponent(u.password);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname);
    s.setTimeout(10000, () => { s.destroy(); reject(new Error('mongo timeout')); });
    s.on('error', reject);
    let id = 0, buf = Buffer.alloc(0), waiting = null;
    const run = cmd => new Promise((ok, fail) => {
      const doc = bsonEncode(cmd);
      const head = Buffer.alloc(21);
      head.writeInt32LE(21 + doc.length, 0); head.writeInt32LE(++id, 4); head.writeInt32LE(0, 8); head.writeInt32LE(2013, 12);
      head.writeUInt32LE(0, 16); head[20] = 0;
      waiting = reply => reply.ok === 1 ? ok(reply) : fail(new Error('mongo: ' + (reply.errmsg || JSON.stringify(reply))));
      s.write(Buffer.concat([head, doc]));
    });
    s.on('data', d => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < buf.readInt32LE(0)) return;
      const msg = buf.subarray(0, buf.readInt32LE(0)); buf = buf.subarray(msg.length);
      const w = waiting; waiting = null;
      w(bsonDecode(msg.subarray(21)));
    });
    s.on('connect', async () => {
      try {
        const nonce = crypto.randomBytes(18).toString('base64');
        const clientFirstBare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`;
        let r = await run({ saslStart: 1, mechanism: 'SCRAM-SHA-256', payload: Buffer.from('n,,' + clientFirstBare), autoAuthorize: 1, $db: authDb });
        const sc = scram(password, clientFirstBare, r.payload.toString());
        r = await run({ saslContinue: 1, conversationId: r.conversationId, payload: Buffer.from(sc.clientFinal), $db: authDb });
        if (r.payload.toString() !== `v=${sc.serverSig}`) throw new Error('server signature mismatch');
        while (!r.done) r = await run({ saslContinue: 1, conversationId: r.conversationId, payload: Buffer.alloc(0), $db: authDb });
        const replies = [];
        for (const c of commands) replies.push(await run({ ...c, $db: db }));
        s.end(); resolve(replies);
      } catch (e) { s.destroy(); reject(e); }
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
  '/mongo/set': async q => {
    await mongo([{ update: 'kv', updates: [{ q: { _id: 'k' }, u: { _id: 'k', v: q.get('v') }, upsert: true }] }]);
    return 'ok';
  },
  '/mongo/get': async () => {
    const [r] = await mongo([{ find: 'kv', filter: { _id: 'k' } }]);
    return String((r.cursor.firstBatch[0] || {}).v);
  },
};

http.createServer(async (req, res) => {
  const u = new URL(req.url, 'http://x');
  const h = handlers[u.pathname];
  if (!h) { res.end('dbclient\n'); return; }
  try { res.end(await h(u.searchParams)); }
  catch (e) { res.statusCode = 500; res.end(String(e.message || e)); }
}).listen(Number(process.env.PORT || 8080));
