// IHE Invoke Image Display in headless Chromium: an EHR's launch URL
// opens OHIF on the study, whose pixels get drawn. Run by go test ./web/
// (TestInvokeImageDisplayBrowser alone, or with the rest of the browser
// tests by TestBrowserEndToEnd), which passes the server's URL and the CT
// study in MINIPACS_* variables.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through go test ./web/)`);
  return v;
};
const BASE = env('MINIPACS_URL');
const CT_STUDY = env('MINIPACS_CT_STUDY');
const CT_PATIENT_ID = env('MINIPACS_CT_PATIENT_ID');
const noOHIF = process.env.MINIPACS_NO_OHIF ? 'OHIF not installed' : false;

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { if (browser) await browser.close(); });

// waitForPixels waits until a viewport-sized canvas holds an image (the
// phantom: a bright disc with noise), not a blank or uniform canvas, as
// browser.test.js's OHIF test does.
async function waitForPixels(page, ms) {
  let stats = null;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    stats = await page.evaluate(() => {
      const best = { n: 0, nonBlack: 0, sd: 0 };
      for (const c of document.querySelectorAll('canvas')) {
        if (c.width < 300 || c.height < 300) continue;
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
        if (nonBlack > best.nonBlack) Object.assign(best, { n, nonBlack, sd });
      }
      return best;
    });
    if (stats.n > 0 && stats.nonBlack / stats.n > 0.05 && stats.sd > 10) return stats;
    await new Promise(r => setTimeout(r, 100));
  }
  await page.screenshot({ path: path.join(env('MINIPACS_TMP'), 'iid-failure.png') });
  assert.fail(`no image in OHIF within ${ms / 1000} s; best canvas ${JSON.stringify(stats)}`);
}

async function launch(query) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const failed = [];
  page.on('response', r => { if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`); });
  const first = await page.goto(`${BASE}/IHEInvokeImageDisplay?${query}`, { waitUntil: 'domcontentloaded' });
  return { page, failed, first };
}

for (const [name, query] of [
  ['PATIENT', `requestType=PATIENT&patientID=${encodeURIComponent(CT_PATIENT_ID)}&modalitiesInStudy=CT&mostRecentResults=1`],
  ['STUDY by UID', `requestType=STUDY&studyUID=${CT_STUDY}&diagnosticQuality=true`],
]) {
  test(`IID ${name} launch opens OHIF on the CT study`, { skip: noOHIF }, async () => {
    const { page, failed, first } = await launch(query);
    // The launch answered 303 and the browser followed it to OHIF's route.
    assert.equal(first.request().redirectedFrom()?.url().startsWith(`${BASE}/IHEInvokeImageDisplay?`), true);
    assert.equal(page.url(), `${BASE}/viewer/viewer?StudyInstanceUIDs=${CT_STUDY}`);
    await waitForPixels(page, 90000);
    assert.deepEqual(failed.filter(f => f.includes('/dicomweb/') && !/thumbnail|rendered/.test(f)), [], 'DICOMweb errors');
    await page.close();
  });
}

test('IID launch of an unknown patient: 404 with a text', async () => {
  const page = await browser.newPage();
  const res = await page.goto(`${BASE}/IHEInvokeImageDisplay?requestType=PATIENT&patientID=NO-SUCH-PATIENT`);
  assert.equal(res.status(), 404);
  assert.match(await page.textContent('body'), /No study matches/);
  await page.close();
});

test('IID launch with a bad parameter: 400 explains it', async () => {
  const page = await browser.newPage();
  const res = await page.goto(`${BASE}/IHEInvokeImageDisplay?requestType=PATIENT`);
  assert.equal(res.status(), 400);
  assert.match(await page.textContent('body'), /needs patientID/);
  await page.close();
});
