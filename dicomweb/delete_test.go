package dicomweb_test

// DELETE through the HTTP handlers, and what searches and retrieves see
// after it (first written as review probes).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/minipacs/minipacs/dicomweb"
)

// Reference "WADO-RS": DELETE removes index entries then objects; a later
// re-upload of the same instance works and the store holds one object.
func TestDeleteThenRestore(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	x := makeInst(inst{study: "1.2.19", series: "1.2.19.1", sop: "1.2.19.1.1", modality: "CT"})
	mustStow(t, f, x)
	for _, p := range []string{"/studies/1.2.19/series/1.2.19.1/instances/1.2.19.1.1", "/studies/1.2.19/series/1.2.19.1", "/studies/1.2.19"} {
		req, _ := http.NewRequest("DELETE", f.base+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p == "/studies/1.2.19/series/1.2.19.1/instances/1.2.19.1.1" && resp.StatusCode != 204 {
			t.Fatalf("DELETE instance: %d", resp.StatusCode)
		}
		if p != "/studies/1.2.19/series/1.2.19.1/instances/1.2.19.1.1" && resp.StatusCode != 404 {
			t.Errorf("DELETE %s after its last instance went: %d, want 404", p, resp.StatusCode)
		}
	}
	if _, res := qido(t, f.base+"/studies"); len(res) != 0 {
		t.Fatalf("study still listed after its last instance was deleted: %d", len(res))
	}
	mustStow(t, f, x)
	if c := countObjects(t, f.data); c != 1 {
		t.Errorf("%d objects after re-upload, want 1", c)
	}
}

// Concurrency: a DELETE racing STOWs of the same study leaves the index and
// the store consistent: every indexed instance has its object, and no
// object is left without an index entry.
func TestDeleteRacingIngest(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	var wg sync.WaitGroup
	for i := range 20 {
		x := makeInst(inst{study: "1.2.20", series: "1.2.20.1", sop: fmt.Sprintf("1.2.20.1.%d", i), modality: "CT"})
		wg.Add(2)
		go func() {
			defer wg.Done()
			body, ct := multipartBody(t, x)
			f.stow(t, "/studies", body, ct)
		}()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("DELETE", f.base+"/studies/1.2.20", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	_, res := qido(t, f.base+"/instances")
	if c := countObjects(t, f.data); c != len(res) {
		t.Errorf("%d objects but %d indexed instances", c, len(res))
	}
	for _, r := range res {
		var sop string
		json.Unmarshal(jsonValues(t, r, "00080018")[0], &sop)
		resp, _ := get(t, f.base+"/studies/1.2.20/series/1.2.20.1/instances/"+sop, "Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
		if resp.StatusCode != 200 {
			t.Errorf("indexed instance %s cannot be retrieved: %d", sop, resp.StatusCode)
		}
	}
}

// PS3.4 C.6.2.1.2 / issue 2: "study and series counts and ModalitiesInStudy
// kept current" — also when series and instances are deleted.
func TestCountsAfterDelete(t *testing.T) {
	f := newFixture(t, dicomweb.Limits{})
	mustStow(t, f,
		makeInst(inst{study: "1.2.21", series: "1.2.21.1", sop: "1.2.21.1.1", modality: "CT", patientID: "P21"}),
		makeInst(inst{study: "1.2.21", series: "1.2.21.1", sop: "1.2.21.1.2", modality: "CT", patientID: "P21"}),
		makeInst(inst{study: "1.2.21", series: "1.2.21.2", sop: "1.2.21.2.1", modality: "MR", patientID: "P21"}),
	)
	del := func(p string) {
		req, _ := http.NewRequest("DELETE", f.base+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("DELETE %s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
	del("/studies/1.2.21/series/1.2.21.2")
	del("/studies/1.2.21/series/1.2.21.1/instances/1.2.21.1.2")
	if _, res := qido(t, f.base+"/studies?ModalitiesInStudy=MR"); len(res) != 0 {
		t.Errorf("ModalitiesInStudy=MR still finds the study after its MR series was deleted")
	}
	_, res := qido(t, f.base+"/studies?PatientID=P21")
	if len(res) != 1 {
		t.Fatalf("%d studies", len(res))
	}
	check := func(tag, want string) {
		v := jsonValues(t, res[0], tag)
		if got := fmt.Sprintf("%s", v); got != want {
			t.Errorf("%s = %s, want %s", tag, got, want)
		}
	}
	check("00080061", `["CT"]`)
	check("00201206", `[1]`)
	check("00201208", `[1]`)
	_, res = qido(t, f.base+"/studies/1.2.21/series")
	if len(res) != 1 || fmt.Sprintf("%s", jsonValues(t, res[0], "00201209")) != "[1]" {
		t.Errorf("series after delete: %v", res)
	}
}
