package dicomweb_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
)

// TestQIDOServerLimitWarningExact checks the Warning of a search whose
// limit is the server's cap (PS3.18 §8.3.4.4) at the edges: given exactly
// when a match exists past the page, with offsets, and streamed answers
// still hold the whole page.
func TestQIDOServerLimitWarningExact(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{QIDOMaxLimit: 3})
	for i := range 5 {
		mustStow(t, f, makeInst(inst{study: fmt.Sprintf("1.2.12.%d", i), series: fmt.Sprintf("1.2.12.%d.1", i),
			sop: fmt.Sprintf("1.2.12.%d.1.1", i), modality: "CT"}))
	}
	for _, c := range []struct {
		query string
		n     int
		warn  bool
	}{
		{"/studies", 3, true},
		{"/studies?offset=1", 3, true},
		{"/studies?offset=2", 3, false}, // exactly the cap left
		{"/studies?offset=3", 2, false},
		{"/studies?StudyInstanceUID=1.2.12.0,1.2.12.1,1.2.12.2", 3, false},
		{"/studies?StudyInstanceUID=1.2.12.0,1.2.12.1,1.2.12.2,1.2.12.3", 3, true},
		{"/instances", 3, true},
		{"/studies?limit=3", 3, false}, // the client's limit: no warning
	} {
		t.Run(c.query, func(t *testing.T) {
			resp, res := qido(t, f.base+c.query)
			warned := false
			for _, w := range resp.Header.Values("Warning") {
				warned = warned || strings.Contains(w, "Additional results can be requested")
			}
			if len(res) != c.n || warned != c.warn {
				t.Errorf("%d results, warning %v; want %d, %v (Warning %q)", len(res), warned, c.n, c.warn, resp.Header.Values("Warning"))
			}
		})
	}
}
