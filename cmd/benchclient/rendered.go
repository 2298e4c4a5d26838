package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func cmdRendered(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rendered", stderr)
	var lf loadFlags
	lf.register(fs, "rendered", 1)
	accept := fs.String("accept", "image/jpeg", "media type asked for (image/jpeg or image/png)")
	resource := fs.String("resource", "rendered", "rendered or thumbnail")
	query := fs.String("query", "", "query string added to each URL, e.g. quality=85 (a new value per round defeats server-side caches)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *resource != "rendered" && *resource != "thumbnail" {
		return errors.New("rendered: -resource must be rendered or thumbnail")
	}
	ctx, cancel, t, err := lf.prepare(ctx, "rendered")
	defer cancel()
	if err != nil {
		return err
	}
	path := *resource
	if *query != "" {
		path += "?" + *query
	}
	r := rendered(ctx, t.client, t.series, t.sops, lf.clients, lf.rounds, *accept, path, lf.name)
	r.print(stdout, stderr)
	return nil
}

// imageMagic are the first bytes of the image formats a rendered answer may
// carry; an answer whose body starts otherwise is counted as an error.
var imageMagic = map[string][]byte{
	"image/jpeg": {0xFF, 0xD8, 0xFF},
	"image/png":  {0x89, 'P', 'N', 'G'},
}

// rendered fetches .../instances/{sop}/rendered for every instance, rounds
// times, from clients workers, and checks that each answer is an image of
// the asked type. A server without the resource shows as status_404 counts
// and zero images.
// resource is "rendered" or "thumbnail", possibly with a query string.
func rendered(ctx context.Context, client *http.Client, series string, sops []string, clients, rounds int, accept, resource, name string) *result {
	cnt := newCounters()
	var lat latencies
	var okImages, payload atomic.Int64
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	elapsed := runWorkers(ctx, clients, repeat(sops, rounds), cnt, func(sop string) {
		buf := bufs.Get().(*bytes.Buffer)
		defer bufs.Put(buf)
		buf.Reset()
		t0 := time.Now()
		status, ctype, err := getImage(ctx, client, series+"/instances/"+url.PathEscape(sop)+"/"+resource, accept, buf)
		if status != 0 {
			cnt.addStatus(status)
		}
		if err != nil {
			cnt.addError(err)
			return
		}
		if status != http.StatusOK {
			return
		}
		if magic, ok := imageMagic[accept]; ok && !bytes.HasPrefix(buf.Bytes(), magic) {
			cnt.addError(fmt.Errorf("rendered %s: body (%s, %d bytes) is not %s", sop, ctype, buf.Len(), accept))
			return
		}
		lat.add(time.Since(t0))
		okImages.Add(1)
		payload.Add(int64(buf.Len()))
	})
	r := newResult(name)
	r.int("clients", int64(clients))
	r.int("instances", int64(len(sops)))
	r.int("images", okImages.Load())
	r.float("images_per_s", float64(okImages.Load())/elapsed.Seconds())
	if n := okImages.Load(); n > 0 {
		r.int("mean_bytes", payload.Load()/n)
	}
	lat.report(r)
	cnt.report(r)
	return r
}

// getImage GETs u and copies at most 64 MiB of the body into w, returning
// the status and content type.
func getImage(ctx context.Context, client *http.Client, u, accept string, w io.Writer) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", fmt.Errorf("rendered request: %w", err)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("rendered get: %w", err)
	}
	defer resp.Body.Close()
	ctype := resp.Header.Get("Content-Type")
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, ctype, nil
	}
	if _, err := io.Copy(w, io.LimitReader(resp.Body, 64<<20)); err != nil {
		return resp.StatusCode, ctype, fmt.Errorf("rendered read body: %w", err)
	}
	if !strings.HasPrefix(strings.ToLower(ctype), accept) {
		return resp.StatusCode, ctype, fmt.Errorf("rendered: content type %q, asked for %s", ctype, accept)
	}
	return resp.StatusCode, ctype, nil
}
