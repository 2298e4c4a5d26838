// The corpus files the interop test stores, with what we know about them
// (read with dcmdump), and a small locator of their Pixel Data, so that the
// bytes the server gives back can be compared with the file's own bytes.

import fs from 'node:fs/promises';
import path from 'node:path';

export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const IMPLICIT_LE = '1.2.840.10008.1.2';

// Files stored in one STOW request. Each is in a study of its own.
export const FILES = {
  ct: {
    rel: 'test_files/CT_small.dcm',
    ts: EXPLICIT_LE,
    study: '1.3.6.1.4.1.5962.1.2.1.20040119072730.12322',
    series: '1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322',
    sop: '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322',
    sopClass: '1.2.840.10008.5.1.4.1.1.2',
    patientName: 'CompressedSamples^CT1',
    patientID: '1CT1',
    studyDate: '20040119',
    modality: 'CT',
    rows: 128, columns: 128, samples: 1, bitsAllocated: 16, frames: 1,
  },
  mr: {
    rel: 'test_files/MR_small.dcm',
    ts: EXPLICIT_LE,
    study: '1.3.6.1.4.1.5962.1.2.4.20040826185059.5457',
    series: '1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457',
    sop: '1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457',
    sopClass: '1.2.840.10008.5.1.4.1.1.4',
    patientName: 'CompressedSamples^MR1',
    patientID: '4MR1',
    studyDate: '20040826',
    modality: 'MR',
    rows: 64, columns: 64, samples: 1, bitsAllocated: 16, frames: 1,
  },
  // JPEG 2000 (lossless or lossy) holding lossy data (LossyImageCompression 01).
  j2k: {
    rel: 'test_files/JPEG2000.dcm',
    ts: '1.2.840.10008.1.2.4.91',
    study: '1.3.6.1.4.1.5962.1.2.8.20040826185059.5457',
    series: '1.3.6.1.4.1.5962.1.3.8.1.20040826185059.5457',
    sop: '1.3.6.1.4.1.5962.1.1.8.1.3.20040826185059.5457',
    patientName: 'CompressedSamples^NM1',
    patientID: '8NM1',
    studyDate: '20040826',
    modality: 'NM',
    rows: 1024, columns: 256, samples: 1, bitsAllocated: 16, frames: 1,
  },
  // RLE Lossless, two RGB frames.
  rle: {
    rel: 'test_files/SC_rgb_rle_2frame.dcm',
    ts: '1.2.840.10008.1.2.5',
    study: '1.2.826.0.1.3680043.8.498.12406831542731051035295345080039845114',
    series: '1.2.826.0.1.3680043.8.498.16157229083793556332623330502397121062',
    sop: '1.2.826.0.1.3680043.8.498.49043964482360854182530167603505525116',
    patientName: 'Lestrade^G',
    patientID: 'ID1',
    studyDate: '20170101',
    rows: 100, columns: 100, samples: 3, bitsAllocated: 8, frames: 2,
  },
  // Implicit VR Little Endian with 32-bit native pixels.
  dose: {
    rel: 'test_files/rtdose_1frame.dcm',
    ts: IMPLICIT_LE,
    study: '1.2.999.999.99.9.9999.8888',
    series: '1.2.777.777.77.7.7777.7777',
    sop: '1.9.999.999.99.9.9999.9999.20030818153516',
    patientName: 'Lastname^Firstname',
    studyDate: '20030805',
    modality: 'RTDOSE',
    rows: 10, columns: 10, samples: 1, bitsAllocated: 32, frames: 1,
  },
};

export const frameLength = f => (f.rows * f.columns * f.samples * f.bitsAllocated) / 8;

// load reads a corpus file as a Uint8Array backed by its own ArrayBuffer.
export async function load(corpus, rel) {
  const b = await fs.readFile(path.join(corpus, rel));
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

// zeroPreamble is what the server stores and gives back: the file with its
// 128-byte preamble zeroed.
export function zeroPreamble(bytes) {
  const out = bytes.slice();
  out.fill(0, 0, Math.min(128, out.length));
  return out;
}

// pixelData finds the top-level Pixel Data element (7FE0,0010) of a Part-10
// file. For native data it returns {native}, the value bytes (whose length
// must be wantLength); for encapsulated data {fragments}, the items after the
// Basic Offset Table.
export function pixelData(bytes, explicit, wantLength) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = bytes.length - 8; i >= 132; i--) {
    if (bytes[i] !== 0xe0 || bytes[i + 1] !== 0x7f || bytes[i + 2] !== 0x10 || bytes[i + 3] !== 0x00) {
      continue;
    }
    let len;
    let off;
    if (explicit) {
      const vr = String.fromCharCode(bytes[i + 4], bytes[i + 5]);
      if ((vr !== 'OB' && vr !== 'OW') || bytes[i + 6] !== 0 || bytes[i + 7] !== 0) continue;
      len = dv.getUint32(i + 8, true);
      off = i + 12;
    } else {
      len = dv.getUint32(i + 4, true);
      off = i + 8;
    }
    if (len === 0xffffffff) {
      const items = [];
      let p = off;
      while (p + 8 <= bytes.length) {
        const g = dv.getUint16(p, true);
        const e = dv.getUint16(p + 2, true);
        const n = dv.getUint32(p + 4, true);
        if (g === 0xfffe && e === 0xe0dd) {
          if (items.length === 0) break;
          return { offsetTable: items[0], fragments: items.slice(1) };
        }
        if (g !== 0xfffe || e !== 0xe000 || p + 8 + n > bytes.length) break;
        items.push(bytes.subarray(p + 8, p + 8 + n));
        p += 8 + n;
      }
      continue;
    }
    if (len === wantLength && off + len <= bytes.length) {
      return { native: bytes.subarray(off, off + len) };
    }
  }
  throw new Error(`no Pixel Data element of length ${wantLength} found`);
}

// metaTransferSyntax reads TransferSyntaxUID (0002,0010) from the file meta
// group of a Part-10 file, or returns ''.
export function metaTransferSyntax(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM') return '';
  let p = 132;
  while (p + 8 <= bytes.length && dv.getUint16(p, true) === 0x0002) {
    const elem = dv.getUint16(p + 2, true);
    const vr = String.fromCharCode(bytes[p + 4], bytes[p + 5]);
    let n;
    let h;
    if (['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(vr)) {
      n = dv.getUint32(p + 8, true);
      h = 12;
    } else {
      n = dv.getUint16(p + 6, true);
      h = 8;
    }
    if (elem === 0x0010) {
      return String.fromCharCode(...bytes.subarray(p + h, p + h + n)).replace(/[\0 ]+$/, '');
    }
    p += h + n;
  }
  return '';
}

// contains reports whether needle occurs in haystack.
export function contains(haystack, needle) {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}
