// Package stowclient sends DICOM Part-10 files to a DICOMweb archive over
// STOW-RS and asks it, over QIDO-RS, what it already holds.
//
// It is the engine of `minipacs import`: Scan classifies the files of a
// folder, Importer uploads them in parallel multipart requests, streamed from
// disk (a request never holds a file in memory), and skips the instances the
// archive already has, so an interrupted import can simply be run again.
package stowclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Client talks to one DICOMweb root, e.g. http://127.0.0.1:8080/dicomweb.
type Client struct {
	// Base is the DICOMweb root URL, without a trailing slash.
	Base string
	// HTTP is the client used (http.DefaultClient when nil).
	HTTP *http.Client
	// Authorize, when set, adds credentials to each request.
	Authorize func(*http.Request)
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	if c.Authorize != nil {
		c.Authorize(req)
	}
	h := c.HTTP
	if h == nil {
		h = http.DefaultClient
	}
	return h.Do(req)
}

// Outcome is what the archive said of one file.
type Outcome struct {
	File *File
	// Stored is true when the archive acknowledged the instance.
	Stored bool
	// Reason explains a failure (the archive's failure reason, or the
	// HTTP or transport error), or a warning on a stored instance.
	Reason string
}

// Store sends files in one STOW-RS request, streamed from disk, and returns
// one Outcome per file, in order. An error is returned only when the
// request could not be made at all (transport failure, context).
func (c *Client) Store(ctx context.Context, files []*File) ([]Outcome, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, files))
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/studies", pr)
	if err != nil {
		pr.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := c.do(req)
	pr.Close()
	if err != nil {
		return nil, fmt.Errorf("stow: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("stow: read response: %w", err)
	}
	return outcomes(files, resp.StatusCode, body), nil
}

func writeParts(mw *multipart.Writer, files []*File) error {
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/dicom")
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if err := copyFile(w, f.Path); err != nil {
			return err
		}
	}
	return mw.Close()
}

func copyFile(w io.Writer, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = io.Copy(w, fh)
	return err
}

// dicomJSON is a DICOM JSON data set (PS3.18 F.2), the parts used here.
type dicomJSON map[string]struct {
	Value []json.RawMessage
}

func (d dicomJSON) str(tag string) string {
	a, ok := d[tag]
	if !ok || len(a.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(a.Value[0], &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(a.Value[0], &n) == nil {
		return n.String()
	}
	return ""
}

func (d dicomJSON) items(tag string) []dicomJSON {
	var out []dicomJSON
	for _, raw := range d[tag].Value {
		var item dicomJSON
		if json.Unmarshal(raw, &item) == nil {
			out = append(out, item)
		}
	}
	return out
}

// failureReasons names the failure reasons of PS3.18 Table I.2-3 (and
// PS3.4 C.4.2.1.4) an archive returns in FailedSOPSequence.
var failureReasons = map[int]string{
	0x0110: "processing failure",
	0x0111: "duplicate SOP Instance with different content",
	0x0112: "no such object instance",
	0x0117: "invalid object instance",
	0x0118: "no such SOP class",
	0x0119: "class-instance conflict",
	0x0120: "missing attribute",
	0x0121: "missing attribute value",
	0x0122: "referenced SOP class not supported",
	0x0124: "refused: not authorized",
	0x0211: "unrecognized operation",
	0xA700: "out of resources",
	0xA900: "data set does not match SOP class",
	0xC000: "cannot understand",
	0xC122: "referenced transfer syntax not supported",
	0xC123: "transfer syntax not supported",
}

func describeReason(n int) string {
	if s, ok := failureReasons[n]; ok {
		return fmt.Sprintf("0x%04X %s", n, s)
	}
	return fmt.Sprintf("0x%04X", n)
}

// outcomes matches a STOW-RS response to the files sent: by SOP Instance
// UID where the file's is known; files the response does not name get the
// HTTP status as their outcome.
func outcomes(files []*File, status int, body []byte) []Outcome {
	out := make([]Outcome, len(files))
	var resp dicomJSON
	parsed := json.Unmarshal(body, &resp) == nil
	stored := map[string]string{}
	failed := map[string]string{}
	var unnamed []string // failures without a SOP Instance UID, in order
	if parsed {
		for _, it := range resp.items("00081199") {
			warn := ""
			if r := it.str("00081196"); r != "" {
				if n, err := strconv.Atoi(r); err == nil {
					warn = fmt.Sprintf("warning 0x%04X", n)
				}
			}
			stored[it.str("00081155")] = warn
		}
		for _, it := range resp.items("00081198") {
			reason := "failed"
			if r := it.str("00081197"); r != "" {
				if n, err := strconv.Atoi(r); err == nil {
					reason = describeReason(n)
				}
			}
			if uid := it.str("00081155"); uid != "" {
				failed[uid] = reason
			} else {
				unnamed = append(unnamed, reason)
			}
		}
	}
	for i, f := range files {
		out[i].File = f
		if w, ok := stored[f.SOPInstanceUID]; ok && f.SOPInstanceUID != "" {
			out[i].Stored, out[i].Reason = true, w
			continue
		}
		if r, ok := failed[f.SOPInstanceUID]; ok && f.SOPInstanceUID != "" {
			out[i].Reason = r
			continue
		}
		switch {
		case len(unnamed) > 0:
			out[i].Reason, unnamed = unnamed[0], unnamed[1:]
		case status == http.StatusOK && parsed && len(files) == 1 && len(stored) == 1:
			out[i].Stored = true
		default:
			out[i].Reason = httpReason(status, body)
		}
	}
	return out
}

// httpReason describes a response that did not name a file.
func httpReason(status int, body []byte) string {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 || strings.HasPrefix(msg, "{") || msg == "" {
		return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return fmt.Sprintf("HTTP %d: %s", status, msg)
}

// ErrStatus is returned for QIDO answers other than 200 and 204.
var ErrStatus = errors.New("unexpected HTTP status")

// StoredInstances returns the SOP Instance UIDs the archive holds in the
// study (empty when it holds none), paging through QIDO-RS answers.
func (c *Client) StoredInstances(ctx context.Context, studyUID string) (map[string]bool, error) {
	have := map[string]bool{}
	const page = 1000
	for offset := 0; ; offset += page {
		u := fmt.Sprintf("%s/studies/%s/instances?includefield=00080018&limit=%d&offset=%d", c.Base, url.PathEscape(studyUID), page, offset)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/dicom+json")
		resp, err := c.do(req)
		if err != nil {
			return nil, fmt.Errorf("qido: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("qido: read: %w", err)
		}
		switch resp.StatusCode {
		case http.StatusNoContent, http.StatusNotFound:
			return have, nil
		case http.StatusOK:
		default:
			return nil, fmt.Errorf("qido study %s: %w: %s", studyUID, ErrStatus, httpReason(resp.StatusCode, body))
		}
		var list []dicomJSON
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("qido: decode answer: %w", err)
		}
		for _, d := range list {
			if uid := d.str("00080018"); uid != "" {
				have[uid] = true
			}
		}
		// A server-capped page comes back shorter than asked (with a
		// Warning); go on until a page is empty or short of the cap.
		if len(list) == 0 || len(list) < page && resp.Header.Get("Warning") == "" {
			return have, nil
		}
		if len(list) < page {
			offset += len(list) - page
		}
	}
}
