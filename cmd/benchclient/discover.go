package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// dcmObject is one DICOM JSON object, decoded only as far as the client needs.
type dcmObject map[string]struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// str returns the first value of tag as a string ("" if absent).
func (o dcmObject) str(tag string) string {
	a, ok := o[tag]
	if !ok || len(a.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(a.Value[0], &s) == nil {
		return s
	}
	return strings.Trim(string(a.Value[0]), `"`)
}

// num returns the first value of tag as an integer (-1 if absent or not a number).
func (o dcmObject) num(tag string) int {
	a, ok := o[tag]
	if !ok || len(a.Value) == 0 {
		return -1
	}
	n, err := strconv.Atoi(strings.Trim(string(a.Value[0]), `" `))
	if err != nil {
		return -1
	}
	return n
}

const (
	tagStudyUID          = "0020000D"
	tagSeriesUID         = "0020000E"
	tagSOPUID            = "00080018"
	tagSeriesInstances   = "00201209"
	maxJSONResponseBytes = 256 << 20
)

// getJSON runs one QIDO request and decodes the JSON array it returns (204
// and an empty body are an empty array).
func getJSON(ctx context.Context, client *http.Client, u string) ([]dcmObject, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("qido request: %w", err)
	}
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("qido get: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("qido get %s: status %d: %s", u, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	var out []dcmObject
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONResponseBytes)).Decode(&out); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("qido decode %s: %w", u, err)
	}
	return out, nil
}

// listAll pages through a QIDO path with limit/offset until a page comes
// back empty (a server may clamp limit below what was asked) or max results
// were collected.
func listAll(ctx context.Context, client *http.Client, u string, page, maxResults int) ([]dcmObject, error) {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	var all []dcmObject
	for len(all) < maxResults {
		got, err := getJSON(ctx, client, fmt.Sprintf("%s%slimit=%d&offset=%d", u, sep, page, len(all)))
		if err != nil {
			return all, err
		}
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
	}
	return all, nil
}

// seriesRef names one series and its number of instances.
type seriesRef struct {
	Study, Series string
	Instances     int
}

// findLargestSeries returns the series with the most instances among the
// studies matching filter (a QIDO query string such as "PatientID=CT000001").
func findLargestSeries(ctx context.Context, client *http.Client, base, filter string) (seriesRef, error) {
	var best seriesRef
	q, err := encodeQuery(filter)
	if err != nil {
		return best, err
	}
	studies, err := listAll(ctx, client, base+"/studies?"+q, 100, 1000)
	if err != nil {
		return best, fmt.Errorf("discover studies: %w", err)
	}
	if len(studies) == 0 {
		return best, fmt.Errorf("discover: no study matches %q", filter)
	}
	for _, st := range studies {
		s := st.str(tagStudyUID)
		if s == "" {
			return best, errors.New("discover: study without StudyInstanceUID in QIDO response")
		}
		series, err := listAll(ctx, client, base+"/studies/"+url.PathEscape(s)+"/series", 100, 1000)
		if err != nil {
			return best, fmt.Errorf("discover series of %s: %w", s, err)
		}
		for _, se := range series {
			r := se.str(tagSeriesUID)
			n := se.num(tagSeriesInstances)
			if n < 0 { // not returned: count the instances
				inst, err := listInstances(ctx, client, base, s, r)
				if err != nil {
					return best, err
				}
				n = len(inst)
			}
			if n > best.Instances {
				best = seriesRef{Study: s, Series: r, Instances: n}
			}
		}
	}
	if best.Series == "" {
		return best, fmt.Errorf("discover: no series in the studies matching %q", filter)
	}
	return best, nil
}

// listInstances returns the SOPInstanceUIDs of a series, via QIDO.
func listInstances(ctx context.Context, client *http.Client, base, study, series string) ([]string, error) {
	objs, err := listAll(ctx, client, base+"/studies/"+url.PathEscape(study)+"/series/"+url.PathEscape(series)+"/instances", 1000, 100000)
	if err != nil {
		return nil, fmt.Errorf("list instances of %s: %w", series, err)
	}
	seen := map[string]bool{}
	var uids []string
	for _, o := range objs {
		u := o.str(tagSOPUID)
		if u == "" {
			return nil, errors.New("list instances: instance without SOPInstanceUID in QIDO response")
		}
		if !seen[u] {
			seen[u] = true
			uids = append(uids, u)
		}
	}
	return uids, nil
}

// encodeQuery parses "k=v&k2=v2" (values may be raw UTF-8 or %-encoded) and
// re-encodes it the way browsers and OHIF do (%5E for ^, %2A for *).
func encodeQuery(q string) (string, error) {
	if q == "" {
		return "", nil
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return "", fmt.Errorf("query %q: %w", q, err)
	}
	return v.Encode(), nil
}

// seriesFlags are the flags shared by the series-level subcommands.
type seriesFlags struct {
	base, study, series, filter string
}

func (f *seriesFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&f.base, "url", "", "DICOMweb root, e.g. http://127.0.0.1:8080/dicomweb")
	fs.StringVar(&f.study, "study", "", "StudyInstanceUID (with -series); empty: discover with -filter")
	fs.StringVar(&f.series, "series", "", "SeriesInstanceUID")
	fs.StringVar(&f.filter, "filter", "", "QIDO study query used to discover the largest series, e.g. PatientID=CT000000")
}

// resolve returns the series to measure, discovering it when not given.
func (f *seriesFlags) resolve(ctx context.Context, client *http.Client) (seriesRef, error) {
	f.base = strings.TrimRight(f.base, "/")
	if f.base == "" {
		return seriesRef{}, errors.New("-url is required")
	}
	if f.study != "" && f.series != "" {
		return seriesRef{Study: f.study, Series: f.series, Instances: -1}, nil
	}
	if f.filter == "" {
		return seriesRef{}, errors.New("give -study and -series, or -filter to discover them")
	}
	return findLargestSeries(ctx, client, f.base, f.filter)
}

func cmdDiscover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("discover", stderr)
	var sf seriesFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ref, err := sf.resolve(ctx, newHTTPClient(1, 0))
	if err != nil {
		return fmt.Errorf("discover: %w", err)
	}
	r := newResult("discover")
	r.set("study", ref.Study)
	r.set("series", ref.Series)
	r.int("instances", int64(ref.Instances))
	r.print(stdout, stderr)
	return nil
}
