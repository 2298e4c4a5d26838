// End-to-end tests of the study browser and OHIF in headless Chromium,
// against a running minipacs (started and loaded by web/e2e_test.go, which
// passes its URL and the test data in MINIPACS_* variables).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through go test ./web/)`);
  return v;
};
const BASE = env('MINIPACS_URL');
const CT_STUDY = env('MINIPACS_CT_STUDY');
const CT_SERIES = env('MINIPACS_CT_SERIES');
const CT_PATIENT_ID = env('MINIPACS_CT_PATIENT_ID');
const HTML_NAME = '<script>alert(1)</script>';
const report = { ohif: {} };

let context;
const cspViolations = [];
const dialogs = [];

before(async () => {
  const profile = fs.mkdtempSync(path.join(env('MINIPACS_TMP'), 'chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: env('CHROMIUM'),
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Record CSP violations of every page.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', e => {
      (window.__csp ||= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  context.on('page', page => {
    page.on('dialog', d => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    page.on('console', m => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text().slice(0, 300)}`);
    });
  });
});

after(async () => {
  if (context) await context.close();
  report.cspViolations = cspViolations;
  report.dialogs = dialogs;
  fs.writeFileSync(env('MINIPACS_REPORT'), JSON.stringify(report, null, 2));
});

async function qido(query) {
  const res = await fetch(`${BASE}/dicomweb/studies?${query}`, { headers: { Accept: 'application/dicom+json' } });
  if (res.status === 204) return [];
  assert.equal(res.status, 200);
  return res.json();
}

async function rows(page) {
  return page.$$eval('#results tbody tr', trs => trs.map(tr => ({
    study: tr.dataset.study, cells: Array.from(tr.cells, c => c.textContent),
  })));
}

async function searchFor(page, fields) {
  await page.click('#search button[type=reset]');
  for (const [name, value] of Object.entries(fields)) {
    const sel = `#search [name=${name}]`;
    if (name === 'ModalitiesInStudy') await page.selectOption(sel, value);
    else await page.fill(sel, value);
  }
  const done = page.waitForResponse(r => r.url().includes('/dicomweb/studies?') && r.url().includes('offset=0'));
  await page.click('#search button[type=submit]');
  await done;
  await page.waitForFunction(() => document.getElementById('search-status').textContent !== 'Searching…');
}

test('search, pagination, escaping and page URLs', async () => {
  const page = await context.newPage();
  await page.goto(`${BASE}/web/`);
  assert.equal(page.url(), `${BASE}/web/`);
  await page.waitForSelector('#results tbody tr');

  // 33+ studies: a first page of 25 with a next page.
  let r = await rows(page);
  assert.equal(r.length, 25, 'first page');
  assert.equal(await page.isDisabled('#next'), false);
  const firstPage = new Set(r.map(x => x.study));
  await page.click('#next');
  await page.waitForFunction(() => document.getElementById('page-info').textContent.startsWith('Studies 26'));
  r = await rows(page);
  assert.ok(r.length >= 8, `second page has ${r.length} rows`);
  for (const x of r) assert.ok(!firstPage.has(x.study), 'pages overlap');
  await page.click('#prev');
  await page.waitForFunction(() => document.getElementById('page-info').textContent.startsWith('Studies 1–'));

  // The HTML patient name is shown as text, nothing of it runs.
  await searchFor(page, { PatientID: 'XSS-1' });
  r = await rows(page);
  assert.equal(r.length, 1);
  assert.equal(r[0].cells[0], HTML_NAME);
  assert.equal(r[0].cells[6], '<img src=x onerror=alert(2)>');
  assert.equal(await page.$$eval('#results script, #results img', n => n.length), 0);
  assert.deepEqual(dialogs, [], 'an alert() ran');

  // Patient name (prefix, case-insensitive), ID, modality, date range.
  await searchFor(page, { PatientID: CT_PATIENT_ID });
  r = await rows(page);
  assert.deepEqual(r.map(x => x.study), [CT_STUDY]);
  const ctName = r[0].cells[0];
  const family = ctName.split(',')[0];
  await searchFor(page, { PatientName: family.slice(0, 3).toLowerCase() });
  assert.ok((await rows(page)).some(x => x.study === CT_STUDY), `name search "${family.slice(0, 3).toLowerCase()}"`);
  await searchFor(page, { ModalitiesInStudy: 'OT' });
  assert.deepEqual((await rows(page)).map(x => x.cells[1]), ['XSS-1']);
  await searchFor(page, { from: '2024-01-02', to: '2024-01-02' });
  assert.ok((await rows(page)).some(x => x.cells[1] === 'XSS-1'));
  await searchFor(page, { from: '1900-01-01', to: '1900-01-02' });
  assert.equal((await rows(page)).length, 0);
  assert.equal(await page.textContent('#search-status'), 'No study matches.');

  // Search terms stay out of the URL; the form survives a reload.
  await searchFor(page, { PatientID: CT_PATIENT_ID });
  assert.equal(page.url(), `${BASE}/web/`);
  await page.reload();
  await page.waitForSelector('#results tbody tr');
  assert.equal(await page.inputValue('#search [name=PatientID]'), CT_PATIENT_ID);
  assert.deepEqual((await rows(page)).map(x => x.study), [CT_STUDY]);
  assert.deepEqual(await page.evaluate(() => window.__csp || []), []);
  await page.close();
});

test('study page: series, counts, thumbnails, OHIF link, ZIP download', async () => {
  const page = await context.newPage();
  await page.goto(`${BASE}/web/`);
  await searchFor(page, { PatientID: CT_PATIENT_ID });
  await page.click(`#results tbody tr[data-study="${CT_STUDY}"] a`);
  await page.waitForSelector('#series-list li');
  assert.equal(page.url(), `${BASE}/web/#/study/${CT_STUDY}`, 'only the UID in the URL');
  const series = await page.$$eval('#series-list li', lis => lis.map(li => ({
    uid: li.dataset.series, count: li.querySelector('.count').textContent,
  })));
  assert.deepEqual(series, [{ uid: CT_SERIES, count: '200 instances' }]);
  // Thumbnail: an image when the server renders one, else a placeholder.
  await page.waitForFunction(() => !document.querySelector('.thumb').textContent.includes('loading'));
  const thumb = await page.$eval('.thumb', el => {
    const img = el.querySelector('img');
    return img ? (img.complete && img.naturalWidth > 0 ? `image ${img.naturalWidth}x${img.naturalHeight}` : 'broken image') : el.textContent;
  });
  assert.ok(thumb.startsWith('image') || thumb === 'no preview', thumb);
  report.thumbnail = thumb;
  assert.equal(await page.getAttribute('#open-ohif', 'href'), `/viewer/viewer?StudyInstanceUIDs=${CT_STUDY}`);

  // The ZIP: one DICOM file per instance.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-zip')]);
  assert.equal(download.suggestedFilename(), `study-${CT_STUDY}.zip`);
  const zip = fs.readFileSync(await download.path());
  const entries = readZip(zip);
  assert.equal(entries.length, 200);
  for (const e of entries) {
    assert.match(e.name, new RegExp(`^${CT_SERIES.replaceAll('.', '\\.')}/[0-9.]+\\.dcm$`));
    assert.equal(e.data.subarray(128, 132).toString('latin1'), 'DICM', e.name);
  }
  report.zip = { entries: entries.length, bytes: zip.length, uncompressed: entries.reduce((n, e) => n + e.data.length, 0) };
  assert.deepEqual(await page.evaluate(() => window.__csp || []), []);
  await page.close();
});

// mllp sends one HL7 v2 message over MLLP and resolves with its ACK.
function mllp(addr, message) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port }, () => sock.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(message, 'utf8'), Buffer.from([0x1c, 0x0d])])));
    let got = Buffer.alloc(0);
    sock.on('data', d => {
      got = Buffer.concat([got, d]);
      if (got.includes(0x1c)) { sock.end(); resolve(got.toString('utf8')); }
    });
    sock.on('error', reject);
    sock.setTimeout(10000, () => { sock.destroy(); reject(new Error('no ACK')); });
  });
}

test('study page shows the study\'s reports (HL7 ORU)', async () => {
  const [study] = await qido(`StudyInstanceUID=${CT_STUDY}`);
  const accession = study['00080050'].Value[0];
  const oru = [
    'MSH|^~\\&|RIS|GENHOSP|MINIPACS|RADIOLOGY|20261206120000||ORU^R01|BR1|P|2.5.1||||||UNICODE UTF-8',
    `PID|1||${CT_PATIENT_ID}`,
    `OBR|1|PLC1|FIL1|CTH^CT of the phantom|||20261206110000|||||||||||${accession}||||20261206120000|||F`,
    'OBX|1|TX|CTH||Findings: <b>no</b> lesion; façade intact.||||||F',
    `ZDS|${CT_STUDY}`,
  ].join('\r') + '\r';
  const ack = await mllp(env('MINIPACS_HL7'), oru);
  assert.match(ack, /MSA\|AA\|BR1/);
  const page = await context.newPage();
  await page.goto(`${BASE}/web/#/study/${CT_STUDY}`);
  await page.waitForSelector('#reports:not([hidden]) .report');
  const text = await page.$eval('#report-list', el => el.textContent);
  assert.ok(text.includes('CT of the phantom') && text.includes('final'), text);
  assert.ok(text.includes('Findings: <b>no</b> lesion; façade intact.'), `text as written, not as markup: ${text}`);
  assert.equal(await page.$$eval('#report-list b', bs => bs.length), 0, 'no markup from the report');
  assert.deepEqual(await page.evaluate(() => window.__csp || []), []);
  await page.close();
});

test('upload: file input, drag and drop, per-file results', async () => {
  const page = await context.newPage();
  await page.goto(`${BASE}/web/`);
  await page.setInputFiles('#file-input', [env('MINIPACS_UPLOAD_FILE'), env('MINIPACS_UPLOAD_JUNK')]);
  await page.waitForFunction(() => document.getElementById('upload-status').textContent.startsWith('Done'), null, { timeout: 30000 });
  const results = await page.$$eval('#upload-results tbody tr', trs => trs.map(tr => [tr.cells[0].textContent, tr.cells[1].textContent]));
  const byName = Object.fromEntries(results);
  assert.equal(byName['MR_small.dcm'], 'stored');
  assert.match(byName['notes.txt'], /^skipped: not a DICOM/);
  assert.equal(await page.$eval('#upload-progress', p => p.value === p.max), true);
  assert.equal((await qido('PatientID=4MR1')).length, 1, 'the uploaded MR study is searchable');

  // Drag and drop: the same file again (identical bytes: stored again).
  const bytes = fs.readFileSync(env('MINIPACS_UPLOAD_FILE')).toString('base64');
  await page.evaluate(async b64 => {
    const bin = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bin], 'dropped.dcm', { type: 'application/dicom' }));
    const zone = document.getElementById('dropzone');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, bytes);
  await page.waitForFunction(() => {
    const rows = Array.from(document.querySelectorAll('#upload-results tbody tr'));
    return rows.length === 1 && rows[0].cells[0].textContent === 'dropped.dcm' &&
      document.getElementById('upload-status').textContent.startsWith('Done');
  }, null, { timeout: 30000 });
  assert.equal(await page.$eval('#upload-results tbody tr td:nth-child(2)', td => td.textContent), 'stored');
  assert.deepEqual(await page.evaluate(() => window.__csp || []), []);
  await page.close();
});

test('delete asks first', async () => {
  const page = await context.newPage();
  await page.goto(`${BASE}/web/`);
  await searchFor(page, { PatientID: 'XSS-1' });
  const uid = (await rows(page))[0].study;
  await page.click(`#results tbody tr[data-study="${uid}"] a`);
  await page.waitForSelector('#series-list li');
  assert.equal(await page.textContent('#study-title'), `${HTML_NAME} — <img src=x onerror=alert(2)>`);
  await page.click('#delete-study');
  await page.click('#confirm-delete button[value=cancel]');
  assert.equal((await qido('PatientID=XSS-1')).length, 1, 'cancel kept the study');
  await page.click('#delete-study');
  await page.click('#confirm-delete button[value=delete]');
  await page.waitForFunction(() => location.hash === '');
  assert.equal((await qido('PatientID=XSS-1')).length, 0, 'the study is gone');
  assert.deepEqual(dialogs, []);
  await page.close();
});

test('OHIF shows the CT series', { skip: process.env.MINIPACS_NO_OHIF ? 'OHIF not installed' : false }, async () => {
  const page = await context.newPage();
  const requests = [];
  const t0 = Date.now();
  page.on('request', r => requests.push({ url: r.url(), t: Date.now() - t0, accept: r.headers()['accept'] || '' }));
  const serverMs = {};
  page.on('requestfinished', r => {
    const k = kind(r.url());
    const tm = r.timing();
    if (k === 'viewerAssets' || k === 'other' || tm.responseEnd < 0) return;
    const s = (serverMs[k] ||= { n: 0, totalMs: 0, maxMs: 0 });
    const d = tm.responseEnd - Math.max(tm.requestStart, 0);
    s.n++; s.totalMs += d; s.maxMs = Math.max(s.maxMs, d);
  });
  const failed = [];
  page.on('response', r => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${BASE}/viewer/viewer?StudyInstanceUIDs=${CT_STUDY}`, { waitUntil: 'domcontentloaded' });
  const domReady = Date.now() - t0;
  // Wait for pixels: the viewport canvas holds the phantom (a bright disc
  // with noise), not a blank or uniform canvas.
  let firstImage = null, stats = null;
  const deadline = Date.now() + 90000;
  while (Date.now() < deadline) {
    stats = await page.evaluate(() => {
      const best = { n: 0, nonBlack: 0, mean: 0, sd: 0, w: 0, h: 0 };
      for (const c of document.querySelectorAll('canvas')) {
        if (c.width < 300 || c.height < 300) continue; // the viewport, not a thumbnail
        let ctx;
        try { ctx = c.getContext('2d', { willReadFrequently: true }); } catch { ctx = null; }
        if (!ctx) continue;
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0, nonBlack = 0, sum = 0, sum2 = 0;
        for (let i = 0; i < d.length; i += 4 * 7) {
          const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
          n++; sum += v; sum2 += v * v;
          if (v > 10) nonBlack++;
        }
        const mean = sum / n, sd = Math.sqrt(Math.max(0, sum2 / n - mean * mean));
        if (nonBlack > best.nonBlack) Object.assign(best, { n, nonBlack, mean, sd, w: c.width, h: c.height, cls: c.className, viewport: !!c.closest('[data-viewport-uid], [data-viewportid], .viewport-element') });
      }
      return best;
    });
    if (stats.n > 0 && stats.nonBlack / stats.n > 0.05 && stats.sd > 10) {
      firstImage = Date.now() - t0;
      break;
    }
    await new Promise(r => setTimeout(r, 100));
  }
  if (firstImage === null) {
    await page.screenshot({ path: path.join(env('MINIPACS_TMP'), 'ohif-failure.png') });
  }
  assert.ok(firstImage !== null, `no image in OHIF within 90 s; best canvas ${JSON.stringify(stats)}; failed requests ${failed.slice(0, 10)}`);
  const atFirst = classify(requests);
  // Let the series load to the end (OHIF prefetches the stack), then count.
  await page.waitForLoadState('networkidle', { timeout: 60000 }).catch(() => {});
  const all = classify(requests);
  report.ohif = { firstImageMs: firstImage, canvas: stats, requestsAtFirstImage: atFirst, requestsTotal: all, failed: failed.slice(0, 20) };
  report.ohif.examples = groupExamples(requests);
  report.ohif.firstRequestMs = {};
  for (const r of requests) report.ohif.firstRequestMs[kind(r.url)] ??= r.t;
  report.ohif.domContentLoadedMs = domReady;
  report.ohif.dicomwebResponseMs = serverMs;
  assert.ok(all.frames >= 1, 'OHIF fetched frames');
  assert.ok(all.metadata >= 1, 'OHIF fetched metadata');
  assert.deepEqual(failed.filter(f => f.includes('/dicomweb/') && !/thumbnail|rendered/.test(f)), [], 'DICOMweb errors');
  report.ohif.csp = await page.evaluate(() => window.__csp || []);
  assert.deepEqual(report.ohif.csp, [], 'CSP violations in OHIF');
  await page.close();
});

function kind(url) {
  const u = new URL(url);
  if (!u.pathname.startsWith('/dicomweb/')) return u.pathname.startsWith('/viewer/') ? 'viewerAssets' : 'other';
  const p = u.pathname;
  if (/\/frames\/[^/]+\/rendered$|\/rendered$/.test(p)) return 'rendered';
  if (/\/thumbnail$/.test(p)) return 'thumbnail';
  if (/\/frames\//.test(p)) return 'frames';
  if (/\/metadata$/.test(p)) return 'metadata';
  if (/\/bulkdata\//.test(p)) return 'bulkdata';
  if (/\/(studies|series|instances)$/.test(p)) return 'qido';
  return 'wado';
}

function classify(requests) {
  const out = { qido: 0, metadata: 0, frames: 0, rendered: 0, thumbnail: 0, bulkdata: 0, wado: 0, viewerAssets: 0, other: 0 };
  for (const r of requests) out[kind(r.url)]++;
  return out;
}

function groupExamples(requests) {
  const ex = {};
  for (const r of requests) {
    const k = kind(r.url);
    if (k === 'viewerAssets' || k === 'other') continue;
    (ex[k] ||= []);
    if (ex[k].length < 3) ex[k].push(`${r.url.replace(BASE, '')} [Accept: ${r.accept}]`);
  }
  return ex;
}

// readZip lists a ZIP archive's entries from its central directory and
// inflates each one (the CRC-32 is checked by comparing with zlib.crc32
// when available).
function readZip(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  assert.ok(eocd >= 0, 'no end of central directory');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = [];
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, 'central directory entry');
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28), xlen = buf.readUInt16LE(p + 30), clen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nlen).toString('utf8');
    p += 46 + nlen + xlen + clen;
    assert.equal(buf.readUInt32LE(local), 0x04034b50, 'local header');
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + csize);
    const data = method === 8 ? zlib.inflateRawSync(raw) : method === 0 ? raw : assert.fail(`method ${method}`);
    assert.equal(data.length, usize, name);
    if (zlib.crc32) assert.equal(zlib.crc32(data) >>> 0, crc, `${name}: CRC-32`);
    out.push({ name, data });
  }
  return out;
}
