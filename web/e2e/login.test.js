// Browser sign-in in headless Chromium: the OIDC authorization code flow
// with PKCE through a loopback test issuer (dicomweb/testkit/oidctest),
// the server-side session, its CSRF token, sign-out and a restricted
// reader. Run by go test ./web/ -run TestBrowserSignIn, which starts the
// issuer and minipacs and passes them in MINIPACS_* variables.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through go test ./web/ -run TestBrowserSignIn)`);
  return v;
};
const BASE = env('MINIPACS_URL');
const ISSUER = env('MINIPACS_ISSUER');
const CT_STUDY = env('MINIPACS_CT_STUDY');
const OTHER_STUDY = env('MINIPACS_OTHER_STUDY');
const noOHIF = process.env.MINIPACS_NO_OHIF ? 'OHIF not installed' : false;

let browser, admin;
before(async () => {
  browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});
after(async () => { if (browser) await browser.close(); });

// signIn opens /web/ (or url), which sends the browser to the issuer's
// login form; clicking the user's button comes back to the page.
async function signIn(page, user, url = `${BASE}/web/`) {
  const seen = [];
  page.on('framenavigated', f => { if (f === page.mainFrame()) seen.push(f.url()); });
  await page.goto(url);
  await page.waitForURL(u => u.href.startsWith(`${ISSUER}/authorize`));
  await page.click(`button[value="${user}"]`);
  await page.waitForURL(u => u.href.startsWith(BASE) && !u.pathname.startsWith('/auth/'));
  return seen;
}

async function rows(page) {
  await page.waitForFunction(() => {
    const s = document.getElementById('search-status').textContent;
    return s !== 'Searching…' && (s !== '' || document.querySelectorAll('#results tbody tr').length > 0);
  });
  return page.$$eval('#results tbody tr', trs => trs.map(tr => tr.dataset.study));
}

test('sign-in through the issuer, study list, session cookie', async () => {
  const page = await admin.newPage();
  const seen = await signIn(page, 'admin');
  assert.equal(page.url(), `${BASE}/web/`);
  // The code and state never stay in the page's URL.
  for (const u of seen.filter(u => u.startsWith(BASE))) assert.ok(!/[?&](code|state)=/.test(u), u);
  const studies = await rows(page);
  assert.ok(studies.includes(CT_STUDY) && studies.includes(OTHER_STUDY), JSON.stringify(studies));
  assert.equal(await page.textContent('#user'), 'admin');
  const cookies = await admin.cookies(BASE);
  const sess = cookies.find(c => c.name === 'minipacs_session');
  assert.ok(sess, JSON.stringify(cookies.map(c => c.name)));
  assert.equal(sess.httpOnly, true);
  assert.equal(sess.sameSite, 'Lax');
  assert.equal(cookies.some(c => c.name === 'minipacs_login'), false, 'the login cookie is gone');
  assert.equal(await page.evaluate(() => document.cookie.includes('minipacs_session')), false, 'HttpOnly');
  // /auth/session shows no token.
  const info = await page.evaluate(async () => (await fetch('/auth/session')).text());
  assert.ok(!info.includes('eyJ') && info.includes('csrfToken'), info);
  await page.close();
});

test('a DELETE without the CSRF header is refused', async () => {
  const page = await admin.newPage();
  await page.goto(`${BASE}/web/`);
  await rows(page);
  const status = await page.evaluate(async uid => (await fetch(`/dicomweb/studies/${uid}`, { method: 'DELETE' })).status, CT_STUDY);
  assert.equal(status, 403);
  const still = await page.evaluate(async uid => (await fetch(`/dicomweb/studies?StudyInstanceUID=${uid}`, { headers: { Accept: 'application/dicom+json' } })).status, CT_STUDY);
  assert.equal(still, 200, 'the study is still there');
  await page.close();
});

test('upload and delete through the page carry the CSRF token', async () => {
  const page = await admin.newPage();
  await page.goto(`${BASE}/web/`);
  await rows(page);
  await page.setInputFiles('#file-input', [env('MINIPACS_UPLOAD_FILE')]);
  await page.waitForFunction(() => document.getElementById('upload-status').textContent.startsWith('Done'), null, { timeout: 30000 });
  assert.equal(await page.$eval('#upload-results tbody tr td:nth-child(2)', td => td.textContent), 'stored');
  // The uploaded MR study (patient 4MR1): delete it from its page.
  await page.fill('#search [name=PatientID]', '4MR1');
  await page.click('#search button[type=submit]');
  await page.waitForSelector('#results tbody tr a');
  await page.click('#results tbody tr a');
  await page.waitForSelector('#series-list li');
  await page.click('#delete-study');
  await page.click('#confirm-delete button[value=delete]');
  await page.waitForFunction(() => location.hash === '');
  const left = await page.evaluate(async () => (await fetch('/dicomweb/studies?PatientID=4MR1', { headers: { Accept: 'application/dicom+json' } })).status);
  assert.equal(left, 204, 'the uploaded study is gone');
  await page.close();
});

// waitForPixels waits until a viewport-sized canvas holds an image, as
// browser.test.js and iid.test.js do.
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
  await page.screenshot({ path: path.join(env('MINIPACS_TMP'), 'login-ohif-failure.png') });
  assert.fail(`no image in OHIF within ${ms / 1000} s; best canvas ${JSON.stringify(stats)}`);
}

test('OHIF draws the CT series with the session cookie', { skip: noOHIF }, async () => {
  const page = await admin.newPage();
  const failed = [];
  page.on('response', r => { if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`); });
  await page.goto(`${BASE}/viewer/viewer?StudyInstanceUIDs=${CT_STUDY}`, { waitUntil: 'domcontentloaded' });
  await waitForPixels(page, 90000);
  assert.deepEqual(failed.filter(f => f.includes('/dicomweb/') && !/thumbnail|rendered/.test(f)), [], 'DICOMweb errors');
  await page.close();
});

test('sign-out ends the session and goes through the issuer', async () => {
  const page = await admin.newPage();
  await page.goto(`${BASE}/web/`);
  await rows(page);
  const ends = page.waitForRequest(r => r.url().startsWith(`${ISSUER}/logout?`));
  await page.click('#sign-out');
  await ends;
  // Back at /web/ without a session: sent to sign in again.
  await page.waitForURL(u => u.href.startsWith(`${ISSUER}/authorize`));
  assert.equal((await admin.cookies(BASE)).some(c => c.name === 'minipacs_session'), false, 'session cookie cleared');
  const res = await admin.request.get(`${BASE}/dicomweb/studies`, { headers: { Accept: 'application/dicom+json' } });
  assert.equal(res.status(), 401);
  // Signing in again works.
  await page.click('button[value="admin"]');
  await page.waitForURL(`${BASE}/web/`);
  assert.ok((await rows(page)).includes(CT_STUDY));
  await page.close();
});

test('a reader restricted to one patient sees only that patient', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, 'reader1');
  assert.deepEqual(await rows(page), [CT_STUDY]);
  await page.goto(`${BASE}/web/#/study/${OTHER_STUDY}`);
  await page.waitForFunction(() => document.getElementById('study-status').textContent !== 'Loading…');
  // The other patient's study does not exist for this reader (404).
  assert.match(await page.textContent('#study-status'), /not in the archive|HTTP 404/);
  assert.equal(await page.textContent('#study-title'), '');
  assert.equal(await page.$$eval('#series-list li', lis => lis.length), 0);
  const status = await page.evaluate(async uid => (await fetch(`/dicomweb/studies/${uid}/metadata`, { headers: { Accept: 'application/dicom+json' } })).status, OTHER_STUDY);
  assert.equal(status, 404, 'metadata of the other patient\'s study');
  // A reader may not delete, CSRF token or not.
  const del = await page.evaluate(async uid => {
    const s = await (await fetch('/auth/session')).json();
    return (await fetch(`/dicomweb/studies/${uid}`, { method: 'DELETE', headers: { 'X-CSRF-Token': s.csrfToken } })).status;
  }, CT_STUDY);
  assert.equal(del, 403);
  await ctx.close();
});

test('OHIF opened without a session signs in first and comes back', { skip: noOHIF }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const viewer = `${BASE}/viewer/viewer?StudyInstanceUIDs=${CT_STUDY}`;
  await signIn(page, 'reader1', viewer);
  assert.equal(page.url(), viewer);
  await waitForPixels(page, 90000);
  await ctx.close();
});
