// Package web serves what a person opens in a browser: the study browser
// (our own small page, embedded in the binary), the OHIF viewer (installed
// next to the binary by `make viewer`, served from a directory), a streamed
// ZIP download of a study, and the CORS policy for viewers hosted on other
// origins.
//
// Paths, all on the same origin as /dicomweb:
//
//	/                         redirects to /web/
//	/web/                     the study browser (ui/, embedded with go:embed)
//	/web/studies/{study}/zip  the study's DICOM files as a ZIP, streamed
//	/viewer/                  OHIF; /viewer/app-config.js is generated
//	/IHEInvokeImageDisplay    IHE Invoke Image Display: redirects to OHIF (iid.go)
//
// The browser talks to the archive only through DICOMweb (QIDO-RS search,
// STOW-RS upload, DELETE) from JavaScript; its page URLs carry no patient
// data, only UIDs. Everything that comes from DICOM is inserted as text,
// never as markup, and the pages are sent with a strict
// Content-Security-Policy (scripts from 'self' only, no inline script).
//
// OHIF's published build assumes it is served at the root: index.html and
// its CSS use absolute paths and its webpack runtime has the public path "/"
// compiled in. The handler serves it under /viewer/ by rewriting those few
// places on the fly (see viewer.go), so the root stays ours and the OHIF
// files on disk stay exactly as published. install.sh writes a gzip copy
// (name.gz) beside each compressible file; clients that accept gzip get it
// (encoding.go), and the rewritten files are gzipped once in memory.
package web
