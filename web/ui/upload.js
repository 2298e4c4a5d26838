// Drag-and-drop upload of files and folders through STOW-RS.
import { T, values, reasonText, partTenInfo } from './dicom.js';
import { csrfToken, loadSession, signInAgain } from './session.js';

const STOW_URL = '/dicomweb/studies';
const BATCH_FILES = 25;           // parts per STOW request
const BATCH_BYTES = 64 << 20;     // bytes per STOW request

// filesFromDrop lists the files of a drop, walking dropped folders.
export async function filesFromDrop(dataTransfer) {
  const entries = [];
  for (const item of dataTransfer.items || []) {
    const e = item.kind === 'file' && item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (e) entries.push(e);
  }
  if (entries.length === 0) {
    return Array.from(dataTransfer.files || [], f => ({ file: f, path: f.name }));
  }
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) { // readEntries returns the children in slices
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, prefix + entry.name + '/');
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

export function filesFromInput(input) {
  return Array.from(input.files, f => ({ file: f, path: f.webkitRelativePath || f.name }));
}

// Uploader shows progress and per-file results in the page.
export class Uploader {
  constructor({ panel, progress, status, results, onDone }) {
    Object.assign(this, { panel, progress, status, results, onDone });
    this.busy = false;
  }

  row(path, text, cls) {
    const tr = document.createElement('tr');
    const a = document.createElement('td');
    a.textContent = path;
    const b = document.createElement('td');
    b.textContent = text;
    if (cls) b.className = cls;
    tr.append(a, b);
    this.results.append(tr);
  }

  async upload(items) {
    if (this.busy || items.length === 0) return;
    this.busy = true;
    this.panel.hidden = false;
    this.results.replaceChildren();
    const counts = { stored: 0, skipped: 0, failed: 0 };
    const total = items.reduce((n, it) => n + it.file.size, 0);
    let done = 0;
    const started = performance.now();
    const show = (sent) => {
      this.progress.max = Math.max(total, 1);
      this.progress.value = Math.min(done + sent, total);
      const mb = (done + sent) / 1e6;
      const secs = (performance.now() - started) / 1000;
      this.status.textContent = `${counts.stored} stored, ${counts.skipped} skipped, ${counts.failed} failed of ` +
        `${items.length} files — ${mb.toFixed(1)} of ${(total / 1e6).toFixed(1)} MB` +
        (secs > 1 ? `, ${(mb / secs).toFixed(1)} MB/s` : '');
    };
    show(0);
    try {
      // Check each file's Part-10 header; skip what is not DICOM.
      let batch = [], batchBytes = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        const sent = batch;
        batch = []; batchBytes = 0;
        await this.send(sent, counts, show);
        done += sent.reduce((n, it) => n + it.file.size, 0);
        show(0);
      };
      for (const it of items) {
        const name = it.path.split('/').pop();
        const info = await partTenInfo(it.file).catch(() => null);
        if (name.toUpperCase() === 'DICOMDIR' || !info) {
          counts.skipped++;
          done += it.file.size;
          this.row(it.path, name.toUpperCase() === 'DICOMDIR' ? 'skipped: DICOMDIR (the files it lists are uploaded on their own)'
            : 'skipped: not a DICOM Part-10 file', 'warning');
          show(0);
          continue;
        }
        it.info = info;
        if (batch.length >= BATCH_FILES || (batch.length > 0 && batchBytes + it.file.size > BATCH_BYTES)) await flush();
        batch.push(it);
        batchBytes += it.file.size;
      }
      await flush();
    } finally {
      this.busy = false;
      show(0);
      this.status.textContent = 'Done: ' + this.status.textContent.replace(/ — .*/, '');
      if (this.onDone) this.onDone(counts);
    }
  }

  // send posts one multipart/related request and records each file's result.
  async send(items, counts, show) {
    const boundary = 'minipacs-' + crypto.randomUUID();
    const parts = [];
    for (const it of items) {
      parts.push(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, it.file, '\r\n');
    }
    parts.push(`--${boundary}--\r\n`);
    const body = new Blob(parts); // the files are read by the browser as it sends
    let res;
    await loadSession();
    try {
      res = await new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', STOW_URL);
        xhr.setRequestHeader('Content-Type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
        xhr.setRequestHeader('Accept', 'application/dicom+json');
        if (csrfToken()) xhr.setRequestHeader('X-CSRF-Token', csrfToken()); // a browser session's
        xhr.upload.onprogress = e => show(Math.min(e.loaded, body.size) * (items.reduce((n, it) => n + it.file.size, 0) / body.size));
        xhr.onload = () => resolve(xhr);
        xhr.onerror = () => reject(new Error('network error'));
        xhr.send(body);
      });
    } catch (err) {
      for (const it of items) { counts.failed++; this.row(it.path, 'failed: ' + err.message, 'failed'); }
      return;
    }
    if (res.status === 401) signInAgain();
    let ds = null;
    if ((res.getResponseHeader('Content-Type') || '').includes('json')) {
      try { ds = JSON.parse(res.responseText); } catch { ds = null; }
    }
    if (!ds) {
      const why = res.status === 413 ? 'request too large' : `HTTP ${res.status}`;
      for (const it of items) { counts.failed++; this.row(it.path, 'failed: ' + why, 'failed'); }
      return;
    }
    const stored = new Map(), failed = new Map();
    for (const item of values(ds, T.ReferencedSOPSequence)) {
      stored.set(values(item, T.ReferencedSOPInstanceUID)[0], values(item, T.WarningReason)[0]);
    }
    const unattributed = [];
    for (const item of values(ds, T.FailedSOPSequence)) {
      const uid = values(item, T.ReferencedSOPInstanceUID)[0];
      const code = Number(values(item, T.FailureReason)[0] || 0x0110);
      if (uid) failed.set(uid, code); else unattributed.push(code);
    }
    for (const it of items) {
      const uid = it.info.sopInstanceUID;
      if (uid && stored.has(uid)) {
        counts.stored++;
        const w = stored.get(uid);
        this.row(it.path, w ? 'stored, warning: ' + reasonText(Number(w)) : 'stored', w ? 'warning' : '');
      } else if (uid && failed.has(uid)) {
        counts.failed++;
        this.row(it.path, 'failed: ' + reasonText(failed.get(uid)), 'failed');
      } else if (unattributed.length > 0) {
        counts.failed++;
        this.row(it.path, 'failed: ' + reasonText(unattributed.shift()), 'failed');
      } else {
        counts.failed++;
        this.row(it.path, `failed: not in the server's answer (HTTP ${res.status})`, 'failed');
      }
    }
  }
}
