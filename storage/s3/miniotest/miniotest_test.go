package miniotest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBinaryFromEnv(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "minio")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MINIPACS_MINIO", fake)
	if got, ok := Binary(); !ok || got != fake {
		t.Errorf("Binary() = %q, %v; want %q from $MINIPACS_MINIO", got, ok, fake)
	}
	// A non-executable or missing file is passed over.
	if err := os.Chmod(fake, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := Binary(); got == fake {
		t.Errorf("Binary() returned the non-executable %q", fake)
	}
	t.Setenv("MINIPACS_MINIO", "")
	t.Setenv("MINIPACS_TOOLS", dir)
	os.Chmod(fake, 0o755)
	if got, ok := Binary(); !ok || got != fake {
		t.Errorf("Binary() = %q, %v; want %q from $MINIPACS_TOOLS", got, ok, fake)
	}
}

func TestStartAndClose(t *testing.T) {
	s := StartT(t)
	if s.AccessKey == "" || len(s.SecretKey) < 8 {
		t.Errorf("credentials %q/%q", s.AccessKey, s.SecretKey)
	}
	resp, err := http.Get(s.URL() + "/minio/health/live")
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health check: %s", resp.Status)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("stopped in %v", time.Since(start))
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(s.URL() + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Errorf("server still answers after Close")
	}
}

// recTB records Skip and Fatal instead of acting on them.
type recTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recTB) Helper()              {}
func (r *recTB) Skip(...any)          { r.skipped = true }
func (r *recTB) Fatal(...any)         { r.failed = true }
func (r *recTB) Skipf(string, ...any) { r.skipped = true }

func TestSkipOrFail(t *testing.T) {
	tests := []struct {
		ci                  string
		wantSkip, wantFatal bool
	}{
		{"", true, false},
		{"true", false, true},
		{"1", false, true},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recTB{TB: t}
			SkipOrFail(r, "no binary")
			if r.skipped != tt.wantSkip || r.failed != tt.wantFatal {
				t.Errorf("skipped=%v failed=%v; want %v %v", r.skipped, r.failed, tt.wantSkip, tt.wantFatal)
			}
		})
	}
}

func TestSharedBucketHelpers(t *testing.T) {
	s, stop, err := StartShared("miniotest-shared-")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	s = Need(t, s)
	a, b := s.NewBucket(t, "shared"), BucketName("shared")
	if a == b || !strings.HasPrefix(a, "shared-") {
		t.Errorf("bucket names %q, %q", a, b)
	}
	ctx := context.Background()
	for bucket, want := range map[string]bool{a: true, b: false} {
		ok, err := s.Client(t).BucketExists(ctx, bucket)
		if err != nil || ok != want {
			t.Errorf("BucketExists(%s) = %v, %v; want %v", bucket, ok, err, want)
		}
	}
}
