package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

const acceptFrames = `multipart/related; type=application/octet-stream; transfer-syntax=*`

// multipartStats is what reading a multipart/related response yields.
type multipartStats struct {
	parts       int
	bytes       int64 // part payload bytes
	wireBytes   int64 // body bytes including framing
	contentType string
}

// readMultipart consumes a multipart/related response body fully, counting
// parts and payload bytes.
func readMultipart(resp *http.Response) (multipartStats, error) {
	st := multipartStats{contentType: resp.Header.Get("Content-Type")}
	mt, boundary := parseMultipartType(st.contentType)
	if mt != "multipart/related" || boundary == "" {
		return st, fmt.Errorf("response content type %q is not multipart/related with a boundary", st.contentType)
	}
	cr := &countReader{r: resp.Body}
	mr := multipart.NewReader(cr, boundary)
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("multipart part %d: %w", st.parts+1, err)
		}
		n, err := io.Copy(io.Discard, p)
		if err != nil {
			return st, fmt.Errorf("multipart part %d body: %w", st.parts+1, err)
		}
		st.parts++
		st.bytes += n
	}
	// Anything after the closing delimiter (an epilogue) is read too.
	io.Copy(io.Discard, cr)
	st.wireBytes = cr.n
	return st, nil
}

// parseMultipartType returns the media type and boundary of a Content-Type.
// It accepts an unquoted type=application/octet-stream, which RFC 2045
// forbids ('/' is a tspecial) but which servers following OHIF's Accept
// header send, and which mime.ParseMediaType rejects.
func parseMultipartType(ct string) (mediaType, boundary string) {
	if mt, params, err := mime.ParseMediaType(ct); err == nil {
		return mt, params["boundary"]
	}
	fields := strings.Split(ct, ";")
	mediaType = strings.ToLower(strings.TrimSpace(fields[0]))
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "boundary") {
			boundary = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return mediaType, boundary
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// getMultipart GETs u with the given Accept and reads the multipart answer.
func getMultipart(ctx context.Context, client *http.Client, u, accept string) (int, multipartStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, multipartStats{}, fmt.Errorf("wado request: %w", err)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return 0, multipartStats{}, fmt.Errorf("wado get: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, multipartStats{}, fmt.Errorf("wado get: status %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	st, err := readMultipart(resp)
	return resp.StatusCode, st, err
}

func seriesURL(base string, ref seriesRef) string {
	return base + "/studies/" + url.PathEscape(ref.Study) + "/series/" + url.PathEscape(ref.Series)
}

func cmdWADOSeries(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("wado-series", stderr)
	var sf seriesFlags
	sf.register(fs)
	n := fs.Int("n", 3, "retrievals of the series")
	name := fs.String("name", "wado_series", "result name")
	syntax := fs.String("transfer-syntax", "*", "transfer syntax asked for (1.2.840.10008.1.2.1 makes the server decode compressed objects)")
	timeout := fs.Duration("timeout", 5*time.Minute, "timeout of the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return errors.New("wado-series: -n must be at least 1")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := newHTTPClient(1, 0)
	ref, err := sf.resolve(ctx, client)
	if err != nil {
		return fmt.Errorf("wado-series: %w", err)
	}
	r := newResult(*name)
	cnt := newCounters()
	var lat latencies
	var total int64
	var elapsed time.Duration
	parts := -1
	u := seriesURL(sf.base, ref)
	for range *n {
		t0 := time.Now()
		status, st, err := getMultipart(ctx, client, u, `multipart/related; type="application/dicom"; transfer-syntax=`+*syntax)
		if status != 0 {
			cnt.addStatus(status)
		}
		if err != nil {
			cnt.addError(err)
			continue
		}
		d := time.Since(t0)
		lat.add(d)
		elapsed += d
		total += st.wireBytes
		if parts >= 0 && parts != st.parts {
			cnt.addError(fmt.Errorf("retrievals returned %d and %d parts", parts, st.parts))
		}
		parts = st.parts
	}
	r.int("parts", int64(parts))
	if ref.Instances >= 0 && parts >= 0 && parts != ref.Instances {
		cnt.addError(fmt.Errorf("series has %d instances in QIDO, retrieve returned %d parts", ref.Instances, parts))
	}
	r.float("mb", mb(total))
	r.float("mb_per_s", mb(total)/elapsed.Seconds())
	lat.report(r)
	cnt.report(r)
	r.print(stdout, stderr)
	return nil
}

func cmdMetadata(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("metadata", stderr)
	var sf seriesFlags
	sf.register(fs)
	n := fs.Int("n", 100, "requests")
	warmup := fs.Int("warmup", 3, "unmeasured requests first")
	name := fs.String("name", "metadata", "result name")
	timeout := fs.Duration("timeout", 5*time.Minute, "timeout of the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *warmup < 0 {
		return errors.New("metadata: -n must be at least 1")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := newHTTPClient(1, 0)
	ref, err := sf.resolve(ctx, client)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	u := seriesURL(sf.base, ref) + "/metadata"
	r := newResult(*name)
	cnt := newCounters()
	var lat latencies
	var buf bytes.Buffer
	objects, size := -1, 0
	for i := range *warmup + *n {
		buf.Reset()
		t0 := time.Now()
		status, err := getInto(ctx, client, u, "application/dicom+json", &buf)
		d := time.Since(t0)
		if err != nil {
			cnt.addError(err)
			continue
		}
		if i < *warmup {
			continue
		}
		cnt.addStatus(status)
		if status != http.StatusOK {
			continue
		}
		lat.add(d)
		if objects < 0 {
			size = buf.Len()
			if objects, err = countJSONArray(&buf); err != nil {
				cnt.addError(fmt.Errorf("metadata response: %w", err))
			}
		}
	}
	r.int("instances", int64(objects))
	r.int("bytes", int64(size))
	if ref.Instances >= 0 && objects >= 0 && objects != ref.Instances {
		cnt.addError(fmt.Errorf("series has %d instances in QIDO, metadata returned %d", ref.Instances, objects))
	}
	lat.report(r)
	cnt.report(r)
	r.print(stdout, stderr)
	return nil
}

// getInto GETs u and copies the body (at most maxJSONResponseBytes) into w.
func getInto(ctx context.Context, client *http.Client, u, accept string, w io.Writer) (int, error) {
	return get(ctx, client, u, accept, w, maxJSONResponseBytes)
}

func cmdFrames(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("frames", stderr)
	var lf loadFlags
	lf.register(fs, "frames", 3)
	expect := fs.Int64("expect-bytes", 0, "expected frame size in bytes (0: do not check)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel, t, err := lf.prepare(ctx, "frames")
	defer cancel()
	if err != nil {
		return err
	}
	r := frames(ctx, t.client, t.series, t.sops, lf.clients, lf.rounds, *expect, lf.name)
	r.print(stdout, stderr)
	return nil
}

// frames fetches frames/1 of every instance, rounds times, from clients workers.
func frames(ctx context.Context, client *http.Client, series string, sops []string, clients, rounds int, expect int64, name string) *result {
	cnt := newCounters()
	var lat latencies
	var okFrames, payload atomic.Int64
	elapsed := runWorkers(ctx, clients, repeat(sops, rounds), cnt, func(sop string) {
		t0 := time.Now()
		status, st, err := getMultipart(ctx, client, series+"/instances/"+url.PathEscape(sop)+"/frames/1", acceptFrames)
		if status != 0 {
			cnt.addStatus(status)
		}
		if err != nil {
			cnt.addError(err)
			return
		}
		if st.parts != 1 {
			cnt.addError(fmt.Errorf("frames/1 of %s: %d parts", sop, st.parts))
			return
		}
		if expect > 0 && st.bytes != expect {
			cnt.addError(fmt.Errorf("frames/1 of %s: %d bytes, want %d", sop, st.bytes, expect))
			return
		}
		lat.add(time.Since(t0))
		okFrames.Add(1)
		payload.Add(st.bytes)
	})
	r := newResult(name)
	r.int("clients", int64(clients))
	r.int("instances", int64(len(sops)))
	r.int("frames", okFrames.Load())
	r.float("frames_per_s", float64(okFrames.Load())/elapsed.Seconds())
	r.float("mb_per_s", mb(payload.Load())/elapsed.Seconds())
	lat.report(r)
	cnt.report(r)
	return r
}
