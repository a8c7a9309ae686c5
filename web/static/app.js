// The web UI: plain JavaScript, talking to the platform only through its
// HTTP API (the Nodejitsu face's /apps routes). The session token lives
// in memory only (no cookie), so no other site can make the browser act
// with it. Every text from the API is put in the page as text, never as HTML.
import { tarGz } from './tar.js';

const $ = (id) => document.getElementById(id);
let session = null; // {token, user, owner}: owner is whose objects are shown (the user or a team)
let liveAbort = null, logsAbort = null;
let current = null; // the app shown

const show = (id, on) => { $(id).hidden = !on; };

function fail(err) {
  $('error').textContent = err.message || String(err);
  show('error', true);
}

function clearError() { show('error', false); }

async function call(method, path, body, raw) {
  const headers = { 'Accept': 'application/json' };
  if (session) headers['Authorization'] = 'Bearer ' + session.token;
  if (raw) headers['Content-Type'] = 'application/octet-stream';
  else if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: raw ? body : body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const e = data && data.error;
    throw new Error((e && (e.message || e)) || (data && data.message) || text || res.statusText);
  }
  return data;
}

const owner = () => session.owner || session.user;
// tsuru calls a Tsuru route whose answer streams {"Message"} lines and
// reports a failure as an {"Error"} line.
async function tsuru(method, path, body) {
  const res = await fetch('/tsuru' + path, { method, headers: { 'Authorization': 'Bearer ' + session.token,
    'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    const m = JSON.parse(line);
    if (m.Error || (m.error && !res.ok)) throw new Error(m.Error || m.error.message || m.error);
  }
  if (!res.ok) throw new Error(text || res.statusText);
}

const appPath = (name, rest = '') => '/apps/' + encodeURIComponent(owner()) + '/' + encodeURIComponent(name) + rest;
// teamQuery is the now face's ?teamId= for a team owner.
const teamQuery = () => owner() === session.user ? '' : '?teamId=' + encodeURIComponent(owner());

// lines streams an NDJSON answer to each(line) until aborted.
async function lines(path, signal, each) {
  const res = await fetch(path, { headers: { 'Authorization': 'Bearer ' + session.token }, signal });
  if (!res.ok) throw new Error(path + ': ' + res.status);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      if (line.startsWith('{')) await each(JSON.parse(line));
    }
  }
}

// ---- sign in and out ----

async function signIn(ev) {
  ev.preventDefault();
  clearError();
  try {
    session = await call('POST', '/ui/api/login', { user: $('user').value, password: $('password').value });
    $('password').value = '';
    $('who').textContent = session.user;
    show('signin', false); show('nav', true); show('tabs', true);
    await loadOwners();
    const me = await call('GET', '/api/me').catch(() => null);
    session.admin = !!(me && me.user && me.user.admin);
    show('users-tab', session.admin);
    live();
    route();
  } catch (err) { fail(err); }
}

async function signOut() {
  try { await call('DELETE', '/ui/api/login'); } catch { /* the session ends here anyway */ }
  session = null;
  for (const a of [liveAbort, logsAbort]) if (a) a.abort();
  show('nav', false); show('tabs', false);
  for (const id of sections) show(id, false);
  show('signin', true);
  $('user').focus();
}

// ---- the list ----

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function link(href, text) {
  const a = document.createElement('a');
  a.href = href; a.textContent = text;
  return a;
}

const runningUnits = (a) => (a.running && a.running.drones || []).filter(d => d.running).length;

async function loadApps() {
  const data = await call('GET', '/apps/' + encodeURIComponent(owner()));
  if (owner() !== session.user) {
    const team = await call('GET', '/tsuru/teams/' + encodeURIComponent(owner()));
    $('members').textContent = 'Team ' + team.name + ': ' + (team.users || []).map(u => u.name || u).join(', ');
  }
  show('members', owner() !== session.user);
  const body = $('apps-body');
  body.replaceChildren();
  const apps = (data && data.apps) || [];
  show('apps-empty', apps.length === 0);
  for (const a of apps) {
    const tr = document.createElement('tr');
    cell(tr, '').appendChild(link('#/app/' + encodeURIComponent(a.name), a.name));
    cell(tr, a.state, 'state-' + a.state);
    cell(tr, a.snapshot || '—');
    cell(tr, runningUnits(a) + ' / ' + a.drones);
    const td = cell(tr, '');
    if (a.url) td.appendChild(link(a.url, a.url.replace(/^https?:\/\//, '')));
    body.appendChild(tr);
  }
}

async function createApp(ev) {
  ev.preventDefault();
  clearError();
  const name = $('new-app').value.trim();
  try {
    await call('POST', '/apps/' + encodeURIComponent(owner()) + '/' + encodeURIComponent(name), { name });
    $('new-app').value = '';
    location.hash = '#/app/' + encodeURIComponent(name);
  } catch (err) { fail(err); }
}

// live re-reads what is shown on each change the server announces: a
// streamed answer, one line per change, instead of polling.
async function live() {
  liveAbort = new AbortController();
  try {
    await lines('/ui/api/changes', liveAbort.signal, async () => {
      $('live').textContent = 'Updated ' + new Date().toLocaleTimeString();
      await refresh().catch(fail);
    });
  } catch (err) {
    if (err.name !== 'AbortError') fail(err);
  }
}

// ---- one app ----

async function loadApp(name) {
  const { app: a } = await call('GET', appPath(name));
  $('app-name').textContent = a.name;
  $('app-state').textContent = a.state;
  $('app-state').className = 'state-' + a.state;
  $('app-url').href = a.url; $('app-url').textContent = a.url.replace(/^https?:\/\//, '');
  $('resources').textContent = `${a.drones} unit(s) wanted, ${a.memory} MB and ${a.cpus} CPU each`;
  if (document.activeElement !== $('scale-units')) $('scale-units').value = a.drones;
  const units = $('units');
  units.replaceChildren();
  const unitSel = $('log-unit');
  const chosen = unitSel.value;
  unitSel.replaceChildren(new Option('every unit', ''));
  for (const d of (a.running && a.running.drones) || []) unitSel.appendChild(new Option('unit ' + d.index, d.id));
  unitSel.value = [...unitSel.options].some(o => o.value === chosen) ? chosen : '';
  for (const d of (a.running && a.running.drones) || []) {
    const li = document.createElement('li');
    li.textContent = `unit ${d.index}: ${d.running ? 'running' : 'not running'} (${d.id.slice(0, 12)})`;
    units.appendChild(li);
  }
  if (!units.children.length) units.appendChild(Object.assign(document.createElement('li'), { textContent: 'none running' }));
  const snaps = $('snapshots');
  snaps.replaceChildren();
  for (const s of [...a.snapshots].reverse()) {
    const tr = document.createElement('tr');
    cell(tr, s.id + (s.id === a.snapshot ? ' (active)' : ''));
    cell(tr, new Date(s.ctime).toLocaleString());
    const td = cell(tr, '');
    if (s.id !== a.snapshot) {
      const b = document.createElement('button');
      b.type = 'button'; b.className = 'quiet'; b.textContent = 'Roll back to ' + s.id;
      b.addEventListener('click', () => act(() => call('POST', appPath(name, '/snapshots/' + encodeURIComponent(s.id) + '/activate'))));
      td.appendChild(b);
    }
    snaps.appendChild(tr);
  }
  const deps = await call('GET', '/now/list?app=' + encodeURIComponent(name) + teamQuery().replace('?', '&'));
  const dl = $('deployments'); dl.replaceChildren();
  for (const d of deps.deployments) {
    const li = document.createElement('li');
    li.append(d.state + ' · ');
    if (d.url) li.appendChild(link('http://' + d.url, d.url));
    else li.append('(files still uploading)');
    li.append(' · ' + new Date(d.created).toLocaleString());
    dl.appendChild(li);
  }
  if (!dl.children.length) dl.appendChild(Object.assign(document.createElement('li'), { textContent: 'none (deploy with the now CLI or POST /now/deployments)' }));
  if (!$('env').dataset.dirty) await loadEnv(name);
}

// The env comes from the Tsuru face, which masks private values: they are
// shown as such and sent back only when changed.
let envLoaded = {}; // name → {value, public}

async function loadEnv(name) {
  const vars = await call('GET', '/tsuru/apps/' + encodeURIComponent(name) + '/env');
  envLoaded = {};
  $('env-rows').replaceChildren();
  for (const v of vars.sort((a, b) => a.name.localeCompare(b.name))) {
    envLoaded[v.name] = v;
    addEnvRow(v.name, v.public ? v.value : '', !v.public);
  }
}

function addEnvRow(k = '', v = '', priv = false) {
  const tr = document.createElement('tr');
  const n = $('env-rows').children.length + 1;
  const key = Object.assign(document.createElement('input'), { className: 'env-key', value: k });
  key.setAttribute('aria-label', 'Name ' + n);
  const val = Object.assign(document.createElement('input'), { className: 'env-value', value: v });
  val.setAttribute('aria-label', 'Value ' + n);
  if (priv && k) val.placeholder = 'private: type a new value to change it';
  const box = Object.assign(document.createElement('input'), { type: 'checkbox', className: 'env-private', checked: priv });
  box.setAttribute('aria-label', 'Private ' + n);
  if (k) { key.readOnly = true; box.disabled = true; }
  for (const el of [key, val, box]) {
    el.addEventListener('input', () => { $('env').dataset.dirty = '1'; });
    const td = document.createElement('td'); td.appendChild(el); tr.appendChild(td);
  }
  const td = document.createElement('td');
  const rm = Object.assign(document.createElement('button'), { type: 'button', className: 'quiet', textContent: 'Remove' });
  rm.setAttribute('aria-label', 'Remove variable ' + n);
  rm.addEventListener('click', () => { tr.remove(); $('env').dataset.dirty = '1'; });
  td.appendChild(rm); tr.appendChild(td);
  $('env-rows').appendChild(tr);
}

async function saveEnv(ev) {
  ev.preventDefault();
  const pub = {}, priv = {}, kept = new Set();
  for (const tr of $('env-rows').children) {
    const k = tr.querySelector('.env-key').value.trim();
    if (!k) continue;
    kept.add(k);
    const v = tr.querySelector('.env-value').value;
    const old = envLoaded[k];
    const isPrivate = tr.querySelector('.env-private').checked;
    if (old && !old.public && v === '') continue; // a private value left as it was
    if (old && old.public && old.value === v) continue;
    (isPrivate ? priv : pub)[k] = v;
  }
  const gone = Object.keys(envLoaded).filter(k => !kept.has(k));
  const app = '/apps/' + encodeURIComponent(current) + '/env';
  await act(async () => {
    if (Object.keys(pub).length) await tsuru('POST', app + '?noRestart=true', pub);
    if (Object.keys(priv).length) await tsuru('POST', app + '?noRestart=true&private=true', priv);
    if (gone.length) await tsuru('DELETE', app + '?noRestart=true&' + gone.map(k => 'env=' + encodeURIComponent(k)).join('&'));
    delete $('env').dataset.dirty;
    await call('POST', appPath(current, '/restart'));
  });
}

// act runs an action on the app and shows what it answered.
async function act(fn) {
  clearError();
  try { await fn(); await loadApp(current); } catch (err) { fail(err); }
}

function step(text, state) {
  const li = document.createElement('li');
  li.textContent = text;
  if (state) li.className = state;
  $('deploy-steps').appendChild(li);
  return li;
}

// deploy packs the chosen files into a .tgz in the browser (or takes a
// .tgz as it is), uploads it as a new snapshot, activates and starts it.
async function deploy(ev) {
  ev.preventDefault();
  const files = [...$('deploy-files').files];
  if (!files.length) { fail(new Error('choose the app\'s files first, or drop them')); return; }
  await deployFiles(files);
}

// filesOf reads what was dropped: files, and folders walked whole (each
// file given its path inside the folder).
async function filesOf(items) {
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const f = await new Promise((ok, ko) => entry.file(ok, ko));
      Object.defineProperty(f, 'webkitRelativePath', { value: prefix + f.name });
      out.push(f);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, ko) => reader.readEntries(ok, ko));
        if (!batch.length) break;
        for (const e of batch) await walk(e, prefix + entry.name + '/');
      }
    }
  };
  for (const it of items) {
    const entry = it.webkitGetAsEntry && it.webkitGetAsEntry();
    if (entry) await walk(entry, '');
  }
  return out;
}

async function deployFiles(files) {
  clearError();
  $('deploy-steps').replaceChildren();
  try {
    let archive;
    if (files.length === 1 && /\.(tgz|tar\.gz)$/.test(files[0].name)) {
      archive = files[0];
      step('archive ' + files[0].name, 'done');
    } else {
      const s = step('packing ' + files.length + ' files');
      archive = await tarGz(files);
      s.className = 'done'; s.textContent = `packed ${files.length} files (${archive.size} bytes)`;
    }
    const id = 'ui-' + new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    let s = step('uploading snapshot ' + id);
    await call('POST', appPath(current, '/snapshots/' + id), archive, true);
    s.className = 'done'; s.textContent = 'uploaded snapshot ' + id;
    s = step('starting it');
    await call('POST', appPath(current, '/snapshots/' + id + '/activate'));
    const { app } = await call('POST', appPath(current, '/start'));
    s.className = 'done'; s.textContent = 'serving';
    const li = step('');
    li.appendChild(link(app.url, 'open ' + app.url.replace(/^https?:\/\//, '')));
    li.className = 'done';
    $('deploy-files').value = '';
    await loadApp(current);
  } catch (err) {
    step(err.message, 'failed');
    fail(err);
  }
}

function follow() {
  if (logsAbort) logsAbort.abort();
  logsAbort = new AbortController();
  const pre = $('logs');
  pre.textContent = '';
  const source = $('log-source').value, unit = $('log-unit').value;
  lines(appPath(current, '/logs?rows=200&follow=1'), logsAbort.signal, (e) => {
    const j = e.json || {};
    if (source && j.source !== source) return;
    if (unit && j.unit !== unit) return;
    pre.textContent += `${e.timestamp.slice(11, 19)} ${j.source}${j.unit ? '/' + j.unit.slice(0, 8) : ''} ${j.message}\n`;
    if (pre.textContent.length > 200000) pre.textContent = pre.textContent.slice(-150000);
    pre.scrollTop = pre.scrollHeight;
  }).catch((err) => { if (err.name !== 'AbortError') fail(err); });
}

async function deleteApp(ev) {
  ev.preventDefault();
  if ($('delete-confirm').value !== current) {
    fail(new Error('type ' + current + ' to delete it'));
    return;
  }
  try {
    await call('DELETE', appPath(current));
    $('delete-confirm').value = '';
    location.hash = '#/';
  } catch (err) { fail(err); }
}

// ---- owners: the user's own objects, or a team's ----

async function loadOwners() {
  const sel = $('owner');
  sel.replaceChildren(new Option(session.user + ' (you)', session.user));
  try {
    for (const t of await call('GET', '/tsuru/teams') || []) sel.appendChild(new Option('team ' + t.name, t.name));
  } catch (err) { fail(err); }
  sel.value = owner();
}

// ---- the other sections ----

function row(body, values) {
  const tr = document.createElement('tr');
  for (const v of values) cell(tr, v === undefined || v === null || v === '' ? '—' : String(v));
  body.appendChild(tr);
  return tr;
}

async function loadDomains() {
  const q = teamQuery();
  const [{ domains }, { aliases }, { certs }] = await Promise.all([
    call('GET', '/domains' + q), call('GET', '/now/aliases' + q), call('GET', '/now/certs' + q)]);
  const d = $('domains-body'); d.replaceChildren();
  for (const x of domains) row(d, [x.name, x.isExternal ? 'external' : 'this platform', x.verified ? 'yes' : 'not yet', x.aliases.length]);
  const a = $('aliases-body'); a.replaceChildren();
  for (const x of aliases) row(a, [x.alias, x.deploymentId, new Date(x.created).toLocaleString()]);
  const sel = $('record-domain'), chosen = sel.value;
  sel.replaceChildren(...domains.filter(x => !x.isExternal && x.verified).map(x => new Option(x.name, x.name)));
  if (chosen) sel.value = chosen;
  const r = $('records-body'); r.replaceChildren();
  for (const x of domains.filter(x => !x.isExternal && x.verified)) {
    const { records } = await call('GET', '/domains/' + encodeURIComponent(x.name) + '/records' + q);
    for (const rec of records) row(r, [(rec.name ? rec.name + '.' : '') + x.name, rec.type, rec.value]);
  }
  const c = $('certs-body'); c.replaceChildren();
  for (const x of certs) {
    const tr = row(c, [x.cn, x.expiration ? new Date(x.expiration).toLocaleDateString() : '', x.error ? 'error: ' + x.error : (x.custom ? 'uploaded' : 'managed')]);
    if (x.error) tr.lastChild.className = 'bad';
  }
}

async function addDomain(ev) {
  ev.preventDefault();
  clearError();
  try {
    const d = await call('POST', '/domains' + teamQuery(), { name: $('domain-name').value.trim(), isExternal: $('domain-external').checked });
    if (!d.verified) fail(new Error(`to verify it, add a TXT record _now.${$('domain-name').value.trim()} with ${d.verifyToken}, then add it again`));
    $('domain-name').value = '';
    await loadDomains();
  } catch (err) { fail(err); }
}

async function addRecord(ev) {
  ev.preventDefault();
  clearError();
  try {
    await call('POST', '/domains/' + encodeURIComponent($('record-domain').value) + '/records' + teamQuery(),
      { name: $('record-name').value.trim(), type: $('record-type').value, value: $('record-value').value.trim() });
    $('record-name').value = ''; $('record-value').value = '';
    await loadDomains();
  } catch (err) { fail(err); }
}

async function loadServices() {
  const [{ databases }, { apps }] = await Promise.all([
    call('GET', '/databases/' + encodeURIComponent(owner())), call('GET', '/apps/' + encodeURIComponent(owner()))]);
  const body = $('services-body'); body.replaceChildren();
  for (const db of databases) {
    const tr = row(body, [db.name, db.type, db.status, '']);
    const bound = tr.children[3];
    bound.textContent = '';
    for (const app of db.apps) {
      const b = document.createElement('button');
      b.type = 'button'; b.className = 'quiet'; b.textContent = 'Unbind ' + app;
      b.addEventListener('click', () => bindCall('DELETE', db.name, app));
      bound.appendChild(b);
    }
    if (!db.apps.length) bound.textContent = 'nothing';
    const td = cell(tr, '');
    const free = apps.filter(a => !db.apps.includes(a.name));
    if (free.length) {
      const sel = document.createElement('select');
      sel.setAttribute('aria-label', 'App to bind ' + db.name + ' to');
      for (const a of free) sel.appendChild(new Option(a.name, a.name));
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = 'Bind';
      b.addEventListener('click', () => bindCall('PUT', db.name, sel.value));
      td.append(sel, ' ', b);
    }
  }
}

async function bindCall(method, instance, app) {
  clearError();
  try {
    await call(method, '/tsuru/services/instances/' + encodeURIComponent(instance) + '/' + encodeURIComponent(app));
    await loadServices();
  } catch (err) { fail(err); }
}

async function loadEvents() {
  const ws = encodeURIComponent(owner());
  const [links, streams, dests] = await Promise.all(['link', 'stream', 'destination'].map(t => call('GET', '/api/' + ws + '/config/' + t)));
  const body = $('links-body'); body.replaceChildren();
  for (const l of links.objects) {
    const st = l.status || {};
    const tr = row(body, [l.id, l.fromId, l.toId, st.delivered, st.pending, st.failed, st.lastError]);
    if (st.lastError) tr.lastChild.className = 'bad';
  }
  const list = (id, objs, text) => {
    const ul = $(id); ul.replaceChildren();
    for (const o of objs) ul.appendChild(Object.assign(document.createElement('li'), { textContent: text(o) }));
  };
  list('streams-list', streams.objects, s => `${s.id}: ${s.kind || 'ingest'}${s.app ? ' of app ' + s.app : ''}, ${(s.publicKeys || []).length + (s.privateKeys || []).length} key(s)`);
  list('destinations-list', dests.objects, d => `${d.id}: ${d.destinationType} ${d.url || d.path || d.instance || ''}`);
}

// ---- routing: #/ apps, #/app/<name>, #/domains, #/services, #/events ----

const sections = ['apps', 'app', 'domains', 'services', 'events', 'users'];

async function loadUsers() {
  const { users } = await call('GET', '/ui/api/users');
  const body = $('users-body'); body.replaceChildren();
  for (const u of users) row(body, [u.name, u.email, u.confirmed ? 'yes' : 'not yet', u.admin ? 'yes' : '']);
}
let view = 'apps';

async function refresh() {
  switch (view) {
    case 'app': return loadApp(current);
    case 'domains': return loadDomains();
    case 'services': return loadServices();
    case 'events': return loadEvents();
    case 'users': return loadUsers();
    default: return loadApps();
  }
}

async function route() {
  if (!session) return;
  clearError();
  if (logsAbort) logsAbort.abort();
  const m = location.hash.match(/^#\/app\/(.+)$/);
  current = m ? decodeURIComponent(m[1]) : null;
  view = current ? 'app' : ({ '#/domains': 'domains', '#/services': 'services', '#/events': 'events', '#/users': 'users' })[location.hash] || 'apps';
  for (const id of sections) show(id, id === view);
  for (const a of $('tabs').querySelectorAll('a')) {
    if (a.getAttribute('href') === (location.hash || '#/')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    if (current) {
      delete $('env').dataset.dirty;
      $('deploy-steps').replaceChildren();
      await loadApp(current);
      follow();
    } else {
      await refresh();
    }
  } catch (err) { fail(err); }
}

$('signin').addEventListener('submit', signIn);
$('signout').addEventListener('click', signOut);
$('create').addEventListener('submit', createApp);
$('start').addEventListener('click', () => act(() => call('POST', appPath(current, '/start'))));
$('restart').addEventListener('click', () => act(() => call('POST', appPath(current, '/restart'))));
$('stop').addEventListener('click', () => act(() => call('POST', appPath(current, '/stop'))));
$('env').addEventListener('submit', saveEnv);
$('add-domain').addEventListener('submit', addDomain);
$('add-record').addEventListener('submit', addRecord);
$('env-add').addEventListener('click', () => { $('env').dataset.dirty = '1'; addEnvRow(); });
$('deploy').addEventListener('submit', deploy);
$('log-source').addEventListener('change', follow);
$('log-unit').addEventListener('change', follow);
$('scale').addEventListener('submit', (ev) => {
  ev.preventDefault();
  act(() => call('POST', appPath(current, '/cloud'), [{ drones: Number($('scale-units').value) }]));
});
const drop = $('dropzone');
drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', async (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const files = await filesOf([...ev.dataTransfer.items]);
  if (files.length) await deployFiles(files);
});
$('delete').addEventListener('submit', deleteApp);
window.addEventListener('hashchange', route);
$('owner').addEventListener('change', () => { session.owner = $('owner').value; location.hash = '#/'; route(); });
show('signin', true);
