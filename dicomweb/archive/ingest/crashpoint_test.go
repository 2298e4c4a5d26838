package ingest

import "testing"

func TestParseCrashPoint(t *testing.T) {
	cases := []struct {
		in      string
		name    string
		n       int64
		wantErr bool
	}{
		{"", "", 0, false},
		{"after-spool", "after-spool", 1, false},
		{"after-index-commit@7", "after-index-commit", 7, false},
		{"before-response@0", "", 0, true},
		{"after-object-write@x", "", 0, true},
		{"nowhere", "", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			cp, err := parseCrashPoint(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if tc.name == "" {
				if cp != nil {
					t.Fatalf("got %+v, want none", cp)
				}
				return
			}
			if cp.name != tc.name || cp.n != tc.n {
				t.Errorf("got %s@%d, want %s@%d", cp.name, cp.n, tc.name, tc.n)
			}
		})
	}
	// Without a crash point, CrashPoint is inert.
	(&Ingester{}).CrashPoint(CrashAfterSpool)
}
