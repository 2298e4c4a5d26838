// Helpers for DICOM JSON (PS3.18 Annex F) values and Part-10 headers.

// Tags used by the browser, as DICOM JSON keys.
export const T = {
  PatientName: '00100010', PatientID: '00100020', PatientBirthDate: '00100030', PatientSex: '00100040',
  StudyInstanceUID: '0020000D', StudyDate: '00080020', StudyTime: '00080030', AccessionNumber: '00080050',
  ModalitiesInStudy: '00080061', StudyDescription: '00081030', ReferringPhysicianName: '00080090',
  NumberOfStudyRelatedSeries: '00201206', NumberOfStudyRelatedInstances: '00201208', StudyID: '00200010',
  SeriesInstanceUID: '0020000E', Modality: '00080060', SeriesNumber: '00200011', SeriesDescription: '0008103E',
  NumberOfSeriesRelatedInstances: '00201209', SOPInstanceUID: '00080018',
  RetrieveURL: '00081190', FailedSOPSequence: '00081198', ReferencedSOPSequence: '00081199',
  ReferencedSOPClassUID: '00081150', ReferencedSOPInstanceUID: '00081155',
  WarningReason: '00081196', FailureReason: '00081197',
};

// values returns the Value array of attribute tag of a DICOM JSON object.
export function values(obj, tag) {
  const a = obj && obj[tag];
  return a && Array.isArray(a.Value) ? a.Value : [];
}

// str returns the first value as a string ('' when absent). PN values are
// shown as "Family, Given Middle" from their first non-empty group.
export function str(obj, tag) {
  const v = values(obj, tag)[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return personName(v);
  return String(v);
}

export function personName(pn) {
  const raw = pn.Alphabetic || pn.Ideographic || pn.Phonetic || '';
  const parts = raw.split('^');
  if (parts.length === 1) return raw;
  const [family, given, middle, prefix, suffix] = parts;
  const rest = [prefix, given, middle, suffix].filter(Boolean).join(' ');
  return rest ? `${family}, ${rest}` : family;
}

// date formats a DA value (YYYYMMDD) as YYYY-MM-DD.
export function date(da) {
  return /^\d{8}$/.test(da) ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6)}` : da;
}

// Failure and warning reasons of STOW-RS (PS3.4 / our dicomweb.md).
const reasons = {
  0xC000: 'not parseable DICOM (truncated or damaged)',
  0x0120: 'a required attribute is missing',
  0x0121: 'a required attribute is empty',
  0xA900: 'data set does not match (UIDs)',
  0x0111: 'a different instance with the same SOP Instance UID is already stored',
  0xC122: 'transfer syntax not supported',
  0xA700: 'out of resources (storage full)',
  0x0110: 'processing failure',
  0xB000: 'values coerced',
  0xB006: 'elements discarded',
  0xB007: 'data set does not match the SOP class',
};

export function reasonText(code) {
  const hex = '0x' + code.toString(16).toUpperCase().padStart(4, '0');
  return reasons[code] ? `${reasons[code]} (${hex})` : `status ${hex}`;
}

// partTenInfo reads the file meta group of a Part-10 file: null when the
// file has no "DICM" prefix, else {sopInstanceUID, sopClassUID,
// transferSyntax} (empty strings when absent).
export async function partTenInfo(file) {
  const n = Math.min(file.size, 16384);
  if (n < 132) return null;
  const buf = await file.slice(0, n).arrayBuffer();
  const b = new Uint8Array(buf);
  if (b[128] !== 0x44 || b[129] !== 0x49 || b[130] !== 0x43 || b[131] !== 0x4D) return null;
  const dv = new DataView(buf);
  const out = { sopInstanceUID: '', sopClassUID: '', transferSyntax: '' };
  const ascii = (s, e) => String.fromCharCode(...b.subarray(s, e)).replace(/[\0 ]+$/, '');
  let p = 132;
  while (p + 8 <= b.length) {
    const group = dv.getUint16(p, true);
    const elem = dv.getUint16(p + 2, true);
    if (group !== 2) break;
    const vr = ascii(p + 4, p + 6);
    let len, hdr;
    if (['OB', 'OW', 'OF', 'SQ', 'UT', 'UN', 'UC', 'UR', 'OD', 'OL', 'OV', 'SV', 'UV'].includes(vr)) {
      if (p + 12 > b.length) break;
      len = dv.getUint32(p + 8, true); hdr = 12;
    } else {
      len = dv.getUint16(p + 6, true); hdr = 8;
    }
    if (p + hdr + len > b.length) break;
    const val = () => ascii(p + hdr, p + hdr + len);
    if (elem === 0x0002) out.sopClassUID = val();
    if (elem === 0x0003) out.sopInstanceUID = val();
    if (elem === 0x0010) out.transferSyntax = val();
    p += hdr + len;
  }
  return out;
}
