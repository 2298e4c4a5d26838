// The minipacs study browser: search (QIDO-RS), a study page, upload
// (STOW-RS), delete and ZIP download. Every value that comes from DICOM is
// inserted with textContent, never as markup. The page URL holds only UIDs
// (#/study/<uid>); the search form lives in sessionStorage.
import { T, values, str, date } from './dicom.js';
import { Uploader, filesFromDrop, filesFromInput } from './upload.js';
import { api, loadSession, needsSignIn, sessionInfo, signInAgain, signOut } from './session.js';

const DICOMWEB = '/dicomweb';
const PAGE_SIZE = 25;
const STATE_KEY = 'minipacs.search';
const $ = id => document.getElementById(id);

// ---- QIDO ----

async function qido(path, params) {
  const q = new URLSearchParams(params);
  const res = await api(`${DICOMWEB}${path}?${q}`, { headers: { Accept: 'application/dicom+json' } });
  if (res.status === 204) return []; // PS3.18 §8.3.4.4.1: no match
  if (!res.ok) throw new Error(`search failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// ---- search ----

function formState() {
  const f = new FormData($('search'));
  return Object.fromEntries(f.entries());
}

function restoreForm(state) {
  for (const [k, v] of Object.entries(state || {})) {
    const input = $('search').elements.namedItem(k);
    if (input) input.value = v;
  }
}

function loadState() {
  try { return JSON.parse(sessionStorage.getItem(STATE_KEY)) || { form: {}, offset: 0 }; }
  catch { return { form: {}, offset: 0 }; }
}

function saveState(s) { sessionStorage.setItem(STATE_KEY, JSON.stringify(s)); }

// queryOf turns the form into QIDO query parameters.
export function queryOf(form, offset) {
  const p = [['includefield', 'StudyDescription'], ['limit', String(PAGE_SIZE + 1)], ['offset', String(offset)]];
  const name = (form.PatientName || '').trim();
  if (name) p.push(['PatientName', /[*?]/.test(name) ? name : name + '*']);
  for (const k of ['PatientID', 'AccessionNumber', 'ModalitiesInStudy']) {
    const v = (form[k] || '').trim();
    if (v) p.push([k, v]);
  }
  const from = (form.from || '').replaceAll('-', ''), to = (form.to || '').replaceAll('-', '');
  if (from || to) p.push(['StudyDate', from === to ? from : `${from}-${to}`]);
  return p;
}

async function search(offset) {
  const state = { form: formState(), offset };
  saveState(state);
  const status = $('search-status');
  status.textContent = 'Searching…';
  let studies;
  try {
    studies = await qido('/studies', queryOf(state.form, offset));
  } catch (err) {
    status.textContent = err.message;
    return;
  }
  const more = studies.length > PAGE_SIZE;
  studies = studies.slice(0, PAGE_SIZE);
  const tbody = $('results').tBodies[0];
  tbody.replaceChildren();
  for (const s of studies) {
    const uid = str(s, T.StudyInstanceUID);
    const tr = document.createElement('tr');
    tr.dataset.study = uid;
    const link = el('a', str(s, T.PatientName) || '(no name)');
    link.href = '#/study/' + encodeURIComponent(uid);
    const first = el('td');
    first.append(link);
    tr.append(first,
      el('td', str(s, T.PatientID)), el('td', date(str(s, T.PatientBirthDate))), el('td', date(str(s, T.StudyDate))),
      el('td', values(s, T.ModalitiesInStudy).join(', ')), el('td', str(s, T.AccessionNumber)),
      el('td', str(s, T.StudyDescription)), el('td', str(s, T.NumberOfStudyRelatedSeries)),
      el('td', str(s, T.NumberOfStudyRelatedInstances)));
    tr.addEventListener('click', e => { if (e.target.tagName !== 'A') location.hash = link.getAttribute('href'); });
    tbody.append(tr);
  }
  $('results').hidden = studies.length === 0;
  status.textContent = studies.length === 0 ? (offset > 0 ? 'No more studies.' : 'No study matches.') : '';
  $('pager').hidden = offset === 0 && !more;
  $('prev').disabled = offset === 0;
  $('next').disabled = !more;
  $('page-info').textContent = studies.length ? `Studies ${offset + 1}–${offset + studies.length}` : '';
}

// ---- study page ----

let thumbURLs = [];

async function showStudy(uid) {
  $('search-view').hidden = true;
  $('study-view').hidden = false;
  for (const u of thumbURLs) URL.revokeObjectURL(u);
  thumbURLs = [];
  $('series-list').replaceChildren();
  $('study-info').replaceChildren();
  $('report-list').replaceChildren();
  $('reports').hidden = true;
  $('study-title').textContent = '';
  $('study-status').textContent = 'Loading…';
  const enc = encodeURIComponent(uid);
  $('open-ohif').href = `/viewer/viewer?StudyInstanceUIDs=${enc}`;
  $('download-zip').href = `/web/studies/${enc}/zip`;
  $('delete-study').dataset.study = uid;
  let study, series;
  try {
    [study, series] = await Promise.all([
      qido('/studies', [['StudyInstanceUID', uid], ['includefield', 'StudyDescription']]),
      qido(`/studies/${enc}/series`, [['includefield', 'SeriesDescription']]),
    ]);
  } catch (err) {
    $('study-status').textContent = err.message;
    return;
  }
  if (study.length === 0) {
    $('study-status').textContent = 'This study is not in the archive (any more).';
    return;
  }
  const s = study[0];
  $('study-title').textContent = `${str(s, T.PatientName) || '(no name)'} — ${str(s, T.StudyDescription) || 'study'}`;
  const info = [
    ['Patient ID', str(s, T.PatientID)], ['Birth date', date(str(s, T.PatientBirthDate))], ['Sex', str(s, T.PatientSex)],
    ['Study date', date(str(s, T.StudyDate))], ['Accession', str(s, T.AccessionNumber)],
    ['Modalities', values(s, T.ModalitiesInStudy).join(', ')], ['Series', str(s, T.NumberOfStudyRelatedSeries)],
    ['Instances', str(s, T.NumberOfStudyRelatedInstances)], ['Study UID', uid],
  ];
  for (const [k, v] of info) $('study-info').append(el('dt', k), el('dd', v));
  $('study-status').textContent = '';
  loadReports(uid, str(s, T.AccessionNumber));
  series.sort((a, b) => Number(str(a, T.SeriesNumber) || 0) - Number(str(b, T.SeriesNumber) || 0));
  for (const r of series) {
    const ruid = str(r, T.SeriesInstanceUID);
    const li = el('li');
    li.dataset.series = ruid;
    const thumb = el('div', 'loading…', 'thumb');
    li.append(thumb,
      el('div', `#${str(r, T.SeriesNumber) || '?'} ${str(r, T.Modality)}`, 'series-title'),
      el('div', str(r, T.SeriesDescription) || '(no description)'),
      el('div', `${str(r, T.NumberOfSeriesRelatedInstances) || '?'} instances`, 'muted count'));
    $('series-list').append(li);
    loadThumbnail(thumb, `${DICOMWEB}/studies/${enc}/series/${encodeURIComponent(ruid)}/thumbnail?viewport=160,160`);
  }
}

// loadReports shows the study's reports (HL7 ORU results, served by the
// FHIR facade as DiagnosticReport): those of its accession number that
// point at this study or at none.
async function loadReports(uid, accession) {
  if (!accession) return;
  try {
    const res = await api(`/fhir/DiagnosticReport?identifier=${encodeURIComponent(accession)}`, { headers: { Accept: 'application/fhir+json' } });
    if (!res.ok) return;
    const bundle = await res.json();
    for (const e of bundle.entry || []) {
      const r = e.resource;
      if (!r || r.resourceType !== 'DiagnosticReport') continue;
      const ref = (r.imagingStudy || [])[0]?.reference;
      if (ref && ref !== `ImagingStudy/${uid}`) continue;
      const form = (r.presentedForm || [])[0];
      const text = form && form.data ? new TextDecoder().decode(Uint8Array.from(atob(form.data), c => c.charCodeAt(0))) : '';
      const box = el('article', '', 'report');
      box.append(
        el('div', `${r.code?.text || 'Report'} — ${r.status}${r.issued ? ', ' + r.issued.slice(0, 10) : ''}`, 'report-title'),
        el('pre', text, 'report-text'));
      $('report-list').append(box);
      $('reports').hidden = false;
    }
  } catch {
    // No FHIR facade or no access: the page works without reports.
  }
}

// loadThumbnail shows a series thumbnail, or a placeholder when the server
// has none (404, 406: not renderable, or no thumbnail support).
async function loadThumbnail(box, url) {
  try {
    const res = await api(url, { headers: { Accept: 'image/jpeg' } });
    if (!res.ok || !(res.headers.get('Content-Type') || '').startsWith('image/')) throw new Error(String(res.status));
    const u = URL.createObjectURL(await res.blob());
    thumbURLs.push(u);
    const img = el('img');
    img.alt = 'series thumbnail';
    img.onerror = () => { box.replaceChildren(); box.textContent = 'no preview'; box.classList.add('placeholder'); };
    img.src = u;
    box.replaceChildren(img);
  } catch {
    box.textContent = 'no preview';
    box.classList.add('placeholder');
  }
}

async function deleteStudy() {
  const uid = $('delete-study').dataset.study;
  const dlg = $('confirm-delete');
  dlg.querySelector('.what').textContent = $('study-title').textContent;
  dlg.returnValue = '';
  dlg.showModal();
  const answer = await new Promise(res => dlg.addEventListener('close', () => res(dlg.returnValue), { once: true }));
  if (answer !== 'delete') return;
  const res = await api(`${DICOMWEB}/studies/${encodeURIComponent(uid)}`, { method: 'DELETE' });
  if (!res.ok && res.status !== 404) {
    $('study-status').textContent = `Delete failed: HTTP ${res.status}`;
    return;
  }
  location.hash = '';
}

// ---- routing ----

function route() {
  const m = /^#\/study\/([0-9.]+)$/.exec(decodeURIComponent(location.hash));
  if (m) {
    showStudy(m[1]);
    return;
  }
  $('study-view').hidden = true;
  $('search-view').hidden = false;
  search(loadState().offset || 0);
}

async function init() {
  // Browser sign-in: without a session, sign in first and come back.
  await loadSession();
  if (needsSignIn() && signInAgain()) return;
  const who = sessionInfo();
  if (who) {
    $('user').textContent = who.user;
    $('user').hidden = false;
    $('sign-out').hidden = false;
    $('sign-out').addEventListener('click', signOut);
  }
  const state = loadState();
  restoreForm(state.form);
  $('search').addEventListener('submit', e => { e.preventDefault(); search(0); });
  $('search').addEventListener('reset', () => setTimeout(() => search(0)));
  $('prev').addEventListener('click', () => search(Math.max(0, loadState().offset - PAGE_SIZE)));
  $('next').addEventListener('click', () => search(loadState().offset + PAGE_SIZE));
  $('back').addEventListener('click', e => { e.preventDefault(); location.hash = ''; });
  $('delete-study').addEventListener('click', deleteStudy);

  const uploader = new Uploader({
    panel: $('upload-panel'), progress: $('upload-progress'), status: $('upload-status'),
    results: $('upload-results').tBodies[0],
    onDone: () => { if ($('study-view').hidden) search(loadState().offset || 0); },
  });
  const zone = $('dropzone');
  zone.addEventListener('dragover', e => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async e => {
    e.preventDefault();
    zone.classList.remove('over');
    uploader.upload(await filesFromDrop(e.dataTransfer));
  });
  for (const id of ['file-input', 'dir-input']) {
    $(id).addEventListener('change', e => { uploader.upload(filesFromInput(e.target)); e.target.value = ''; });
  }
  window.addEventListener('hashchange', route);
  route();
}

init();
