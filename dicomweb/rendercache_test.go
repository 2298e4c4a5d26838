package dicomweb_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRenderedCache: a repeated rendered request is answered from the
// render cache (the object is not read again: here it is gone from the
// disk) with the same bytes and ETag; other parameters or frames are
// rendered afresh; If-None-Match gives a 304.
func TestRenderedCache(t *testing.T) {
	f := newStoreFixture(t, nil)
	const study = "1.2.826.0.1.3680043.2.1125.9.4"
	const series = study + ".1"
	const sop = series + ".1"
	b, _ := pixelInst(study, series, sop, 3)
	mustStow(t, f, b)
	inst := f.base + "/studies/" + study + "/series/" + series + "/instances/" + sop
	first, body1 := get(t, inst+"/rendered", "Accept", "image/jpeg")
	if first.StatusCode != 200 || !bytes.HasPrefix(body1, []byte{0xFF, 0xD8}) {
		t.Fatalf("rendered: %d", first.StatusCode)
	}
	frame2, _ := get(t, inst+"/frames/2/rendered", "Accept", "image/jpeg")
	if frame2.StatusCode != 200 {
		t.Fatalf("frame 2: %d", frame2.StatusCode)
	}
	refs, _ := f.idx.Refs(context.Background(), study, series)
	if err := os.Remove(filepath.Join(f.data, "objects", filepath.FromSlash(refs[0].ObjectKey))); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{inst + "/rendered", inst + "/frames/1/rendered"} {
		resp, body := get(t, u, "Accept", "image/jpeg")
		if resp.StatusCode != 200 || !bytes.Equal(body, body1) || resp.Header.Get("ETag") != first.Header.Get("ETag") {
			t.Errorf("%s: %d, same bytes %v, ETag %q vs %q", u, resp.StatusCode, bytes.Equal(body, body1), resp.Header.Get("ETag"), first.Header.Get("ETag"))
		}
	}
	if resp, _ := get(t, inst+"/frames/2/rendered", "Accept", "image/jpeg"); resp.StatusCode != 200 {
		t.Errorf("frame 2 (cached): %d", resp.StatusCode)
	}
	// Not cached: other parameters need the object, which is gone.
	if resp, _ := get(t, inst+"/rendered?quality=50", "Accept", "image/jpeg"); resp.StatusCode == 200 {
		t.Errorf("quality=50 answered from a cache")
	}
	if resp, _ := get(t, inst+"/rendered", "Accept", "image/jpeg", "If-None-Match", first.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
}
