// The web UI: plain JavaScript, talking to the platform only through its
// HTTP API. The session token lives in memory only (no cookie), so no
// other site can make the browser act with it.
const $ = (id) => document.getElementById(id);
let session = null; // {token, user}
let liveAbort = null;

function show(id, on) { $(id).hidden = !on; }

function fail(err) {
  $('error').textContent = err.message || String(err);
  show('error', true);
}

async function call(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (session) headers['Authorization'] = 'Bearer ' + session.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const e = data && data.error;
    const msg = (e && (e.message || e)) || (data && data.message) || text || res.statusText;
    throw new Error(`${msg}`);
  }
  return data;
}

async function signIn(ev) {
  ev.preventDefault();
  show('error', false);
  try {
    session = await call('POST', '/ui/api/login', { user: $('user').value, password: $('password').value });
    $('password').value = '';
    await enter();
  } catch (err) { fail(err); }
}

async function signOut() {
  try { await call('DELETE', '/ui/api/login'); } catch { /* the session ends here anyway */ }
  session = null;
  if (liveAbort) liveAbort.abort();
  show('nav', false); show('apps', false); show('signin', true);
  $('user').focus();
}

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

async function loadApps() {
  const data = await call('GET', '/apps/' + encodeURIComponent(session.user));
  const body = $('apps-body');
  body.replaceChildren();
  const apps = (data && data.apps) || [];
  show('apps-empty', apps.length === 0);
  for (const a of apps) {
    const tr = document.createElement('tr');
    cell(tr, a.name);
    cell(tr, a.state, 'state-' + a.state);
    cell(tr, a.snapshot || '—');
    cell(tr, String((a.running && a.running.drones || []).filter(d => d.running).length) + ' / ' + a.drones);
    const td = cell(tr, '');
    if (a.url) {
      const link = document.createElement('a');
      link.href = a.url; link.textContent = a.url.replace(/^https?:\/\//, ''); link.rel = 'noopener';
      td.appendChild(link);
    }
    body.appendChild(tr);
  }
}

// live reloads the list on each change the server announces: a streamed
// answer, one line per change, instead of polling.
async function live() {
  liveAbort = new AbortController();
  try {
    const res = await fetch('/ui/api/changes', { headers: { 'Authorization': 'Bearer ' + session.token }, signal: liveAbort.signal });
    if (!res.ok) throw new Error('live updates: ' + res.status);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (line.startsWith('{')) {
          $('live').textContent = 'Updated ' + new Date().toLocaleTimeString();
          await loadApps().catch(fail);
        }
      }
    }
  } catch (err) {
    if (err.name !== 'AbortError') fail(err);
  }
}

async function enter() {
  $('who').textContent = session.user;
  show('signin', false); show('nav', true); show('apps', true);
  await loadApps();
  live();
}

$('signin').addEventListener('submit', signIn);
$('signout').addEventListener('click', signOut);
show('signin', true);
