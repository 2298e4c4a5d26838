package auth

import "net/http"

// DICOMwebRules are the rules of the DICOMweb routes that dicomweb.Server
// registers under prefix ("/dicomweb"), plus /healthz and /readyz. The
// server's table is these plus whatever else it mounts (admin endpoints,
// web assets).
func DICOMwebRules(prefix string) []Rule {
	p := prefix
	const (
		study    = "/studies/:study"
		series   = study + "/series/:series"
		instance = series + "/instances/:instance"
	)
	rules := []Rule{
		{http.MethodGet, "/healthz", Public},
		{http.MethodGet, "/readyz", Public},

		// STOW-RS
		{http.MethodPost, p + "/studies", Writer},
		{http.MethodPost, p + study, Writer},

		// QIDO-RS
		{http.MethodGet, p + "/studies", Reader},
		{http.MethodGet, p + "/series", Reader},
		{http.MethodGet, p + "/instances", Reader},
		{http.MethodGet, p + study + "/series", Reader},
		{http.MethodGet, p + study + "/instances", Reader},
		{http.MethodGet, p + series + "/instances", Reader},

		// WADO-RS
		{http.MethodGet, p + study, Reader},
		{http.MethodGet, p + series, Reader},
		{http.MethodGet, p + instance, Reader},
		{http.MethodGet, p + study + "/metadata", Reader},
		{http.MethodGet, p + series + "/metadata", Reader},
		{http.MethodGet, p + instance + "/metadata", Reader},
		{http.MethodGet, p + instance + "/frames/:frames", Reader},
		{http.MethodGet, p + instance + "/bulkdata/*", Reader},

		// Deletion
		{http.MethodDelete, p + study, Admin},
		{http.MethodDelete, p + series, Admin},
		{http.MethodDelete, p + instance, Admin},
	}
	// WADO-RS rendered and thumbnail resources.
	for _, kind := range []string{"/rendered", "/thumbnail"} {
		for _, base := range []string{study, series, instance, instance + "/frames/:frames"} {
			rules = append(rules, Rule{http.MethodGet, p + base + kind, Reader})
		}
	}
	return rules
}
