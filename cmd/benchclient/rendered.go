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
	var sf seriesFlags
	sf.register(fs)
	clients := fs.Int("clients", 4, "concurrent clients")
	rounds := fs.Int("rounds", 1, "passes over every instance of the series")
	accept := fs.String("accept", "image/jpeg", "media type asked for (image/jpeg or image/png)")
	resource := fs.String("resource", "rendered", "rendered or thumbnail")
	name := fs.String("name", "", "result name (default rendered_c<clients>)")
	timeout := fs.Duration("timeout", 5*time.Minute, "timeout of the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clients < 1 || *rounds < 1 {
		return errors.New("rendered: -clients and -rounds must be at least 1")
	}
	if *name == "" {
		*name = fmt.Sprintf("rendered_c%d", *clients)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := newHTTPClient(*clients, 0)
	ref, err := sf.resolve(ctx, client)
	if err != nil {
		return fmt.Errorf("rendered: %w", err)
	}
	sops, err := listInstances(ctx, client, sf.base, ref.Study, ref.Series)
	if err != nil {
		return fmt.Errorf("rendered: %w", err)
	}
	if len(sops) == 0 {
		return errors.New("rendered: the series has no instances")
	}
	if *resource != "rendered" && *resource != "thumbnail" {
		return errors.New("rendered: -resource must be rendered or thumbnail")
	}
	r := rendered(ctx, client, seriesURL(sf.base, ref), sops, *clients, *rounds, *accept, *resource, *name)
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
func rendered(ctx context.Context, client *http.Client, series string, sops []string, clients, rounds int, accept, resource, name string) *result {
	cnt := newCounters()
	var lat latencies
	var okImages, payload atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for sop := range work {
				buf.Reset()
				t0 := time.Now()
				status, ctype, err := getImage(ctx, client, series+"/instances/"+url.PathEscape(sop)+"/"+resource, accept, &buf)
				if status != 0 {
					cnt.addStatus(status)
				}
				if err != nil {
					cnt.addError(err)
					continue
				}
				if status != http.StatusOK {
					continue
				}
				if magic, ok := imageMagic[accept]; ok && !bytes.HasPrefix(buf.Bytes(), magic) {
					cnt.addError(fmt.Errorf("rendered %s: body (%s, %d bytes) is not %s", sop, ctype, buf.Len(), accept))
					continue
				}
				lat.add(time.Since(t0))
				okImages.Add(1)
				payload.Add(int64(buf.Len()))
			}
		}()
	}
	start := time.Now()
feed:
	for range rounds {
		for _, s := range sops {
			select {
			case work <- s:
			case <-ctx.Done():
				cnt.addError(ctx.Err())
				break feed
			}
		}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
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
