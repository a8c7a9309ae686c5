// tarGz packs files (File objects; a folder's carry webkitRelativePath)
// into a gzipped ustar archive, in the browser: CompressionStream does the
// gzip, so nothing is downloaded to build it.
const enc = new TextEncoder();

function octal(n, width) {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name, size, mode, mtime) {
  const h = new Uint8Array(512);
  let path = enc.encode(name), prefix = new Uint8Array(0);
  if (path.length > 100) {
    // ustar: a long path is split at a slash into prefix (155) and name (100).
    const cut = name.lastIndexOf('/', name.length - 1);
    prefix = enc.encode(name.slice(0, cut));
    path = enc.encode(name.slice(cut + 1));
    if (path.length > 100 || prefix.length > 155) throw new Error('path too long for an archive: ' + name);
  }
  const put = (off, bytes) => h.set(bytes, off);
  put(0, path);
  put(100, enc.encode(octal(mode, 8)));
  put(108, enc.encode(octal(0, 8)));
  put(116, enc.encode(octal(0, 8)));
  put(124, enc.encode(octal(size, 12)));
  put(136, enc.encode(octal(mtime, 12)));
  put(148, enc.encode('        '));
  h[156] = '0'.charCodeAt(0);
  put(257, enc.encode('ustar\0'));
  put(263, enc.encode('00'));
  put(345, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, enc.encode(sum.toString(8).padStart(6, '0') + '\0 '));
  return h;
}

export async function tarGz(files) {
  const parts = [];
  for (const f of files) {
    const name = (f.webkitRelativePath || f.name).replace(/^\/+/, '');
    if (!name || name.split('/').includes('..')) throw new Error('bad file name: ' + name);
    const data = new Uint8Array(await f.arrayBuffer());
    parts.push(header(name, data.length, 0o644, Math.floor((f.lastModified || Date.now()) / 1000)), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024)); // two empty blocks end the archive
  const tar = new Blob(parts);
  const gz = tar.stream().pipeThrough(new CompressionStream('gzip'));
  return await new Response(gz).blob();
}
