package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

func testBundle() fstest.MapFS {
	return fstest.MapFS{
		"index.html": {Data: []byte(`<!doctype html><link rel="stylesheet" href="style.css"><script src="app.js"></script>` + strings.Repeat("<!-- padding -->", 20))},
		"app.js":     {Data: []byte(strings.Repeat("console.log('tickwire');", 100) + "\n" + sourceMapComment + "\n")},
		"app.js.map": {Data: []byte(`{"version":3}`)},
		"style.css":  {Data: []byte(strings.Repeat("body{margin:0}", 50))},
		// a second page, as connect four is
		"c4/index.html": {Data: []byte(`<!doctype html><link rel="stylesheet" href="style.css"><a href="../">back</a><script src="app.js"></script>`)},
		"c4/app.js":     {Data: []byte(strings.Repeat("console.log('c4');", 100) + "\n" + sourceMapComment + "\n")},
		"c4/app.js.map": {Data: []byte(`{"version":3,"c4":1}`)},
		"c4/style.css":  {Data: []byte(strings.Repeat("main{margin:0}", 50))},
	}
}

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func body(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.String()
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var hashedRef = regexp.MustCompile(`"(app\.[0-9a-f]{10}\.js)"|"(style\.[0-9a-f]{10}\.css)"`)

// hashedPaths returns the URL paths of the hashed app.js and style.css that
// the index of the page at dir ("/" or "/c4/") links to.
func hashedPaths(t *testing.T, a *assets, dir ...string) (app, css string) {
	t.Helper()
	page := "/"
	if len(dir) > 0 {
		page = dir[0]
	}
	for _, m := range hashedRef.FindAllStringSubmatch(body(t, get(t, a, "GET", page, nil)), -1) {
		if m[1] != "" {
			app = page + m[1]
		}
		if m[2] != "" {
			css = page + m[2]
		}
	}
	if app == "" || css == "" {
		t.Fatalf("index links to app %q, css %q", app, css)
	}
	return app, css
}

func TestAssets(t *testing.T) {
	a, err := newAssets(testBundle(), false)
	if err != nil {
		t.Fatal(err)
	}
	app, css := hashedPaths(t, a)
	c4app, c4css := hashedPaths(t, a, "/c4/")
	gzipOK := map[string]string{"Accept-Encoding": "gzip, deflate, br"}
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		encoding, ctype    string
		cache              string
		bodyHas, bodyLacks string
	}{
		{name: "index", method: "GET", path: "/", header: gzipOK, status: 200, encoding: "gzip", ctype: "text/html; charset=utf-8", cache: "no-cache", bodyHas: app[1:]},
		{name: "index.html", method: "GET", path: "/index.html", status: 200, ctype: "text/html; charset=utf-8", cache: "no-cache", bodyHas: css[1:]},
		{name: "hashed app, gzip", method: "GET", path: app, header: gzipOK, status: 200, encoding: "gzip", ctype: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable", bodyHas: "tickwire", bodyLacks: "sourceMappingURL"},
		{name: "hashed app, identity", method: "GET", path: app, status: 200, ctype: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable", bodyHas: "tickwire"},
		{name: "gzip refused with q=0", method: "GET", path: app, header: map[string]string{"Accept-Encoding": "gzip;q=0, br"}, status: 200},
		{name: "any coding", method: "GET", path: app, header: map[string]string{"Accept-Encoding": "*"}, status: 200, encoding: "gzip"},
		{name: "any coding but gzip", method: "GET", path: app, header: map[string]string{"Accept-Encoding": "*;q=1, gzip;q=0"}, status: 200},
		{name: "hashed css", method: "GET", path: css, header: gzipOK, status: 200, encoding: "gzip", ctype: "text/css; charset=utf-8", cache: "public, max-age=31536000, immutable"},
		{name: "plain name revalidated", method: "GET", path: "/app.js", status: 200, cache: "no-cache", bodyHas: "tickwire"},
		{name: "head", method: "HEAD", path: app, status: 200, cache: "public, max-age=31536000, immutable"},
		{name: "range of the gzip copy sends it whole", method: "GET", path: app, header: map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-9"}, status: 200, encoding: "gzip", bodyHas: "tickwire"},
		{name: "range of the identity copy", method: "GET", path: app, header: map[string]string{"Range": "bytes=0-6"}, status: 206, bodyHas: "console"},
		{name: "no source map", method: "GET", path: "/app.js.map", status: 404},
		{name: "second page", method: "GET", path: "/c4/", header: gzipOK, status: 200, encoding: "gzip", cache: "no-cache", bodyHas: "back"},
		{name: "second page's hashed app", method: "GET", path: c4app, status: 200, cache: "public, max-age=31536000, immutable", bodyHas: "c4", bodyLacks: "sourceMappingURL"},
		{name: "second page's hashed css", method: "GET", path: c4css, status: 200, cache: "public, max-age=31536000, immutable", bodyHas: "main{"},
		{name: "second page without its slash", method: "GET", path: "/c4", status: 301},
		{name: "second page's source map", method: "GET", path: "/c4/app.js.map", status: 404},
		{name: "unknown", method: "GET", path: "/secret.txt", status: 404},
		{name: "post", method: "POST", path: "/", status: 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, a, tc.method, tc.path, tc.header)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status == 206 && rec.Body.String() != "console" {
				t.Errorf("range body %q", rec.Body.String())
			}
			if tc.status != 200 {
				return
			}
			h := rec.Header()
			if got := h.Get("Content-Encoding"); got != tc.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tc.encoding)
			}
			if tc.ctype != "" && h.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), tc.ctype)
			}
			if tc.cache != "" && h.Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control %q, want %q", h.Get("Cache-Control"), tc.cache)
			}
			if h.Get("Content-Length") == "" {
				t.Error("no Content-Length")
			}
			if h.Get("ETag") == "" || h.Get("Vary") != "Accept-Encoding" {
				t.Errorf("ETag %q, Vary %q", h.Get("ETag"), h.Get("Vary"))
			}
			if tc.method == "HEAD" {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD body of %d bytes", rec.Body.Len())
				}
				return
			}
			b := body(t, rec)
			if tc.bodyHas != "" && !strings.Contains(b, tc.bodyHas) {
				t.Errorf("body lacks %q", tc.bodyHas)
			}
			if tc.bodyLacks != "" && strings.Contains(b, tc.bodyLacks) {
				t.Errorf("body has %q", tc.bodyLacks)
			}
		})
	}
}

// A cached copy is revalidated with its ETag: 304 without a body, per
// encoding.
func TestAssetsETag(t *testing.T) {
	a, err := newAssets(testBundle(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{"", "gzip"} {
		first := get(t, a, "GET", "/", map[string]string{"Accept-Encoding": enc})
		etag := first.Header().Get("ETag")
		again := get(t, a, "GET", "/", map[string]string{"Accept-Encoding": enc, "If-None-Match": etag})
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("encoding %q: revalidation got %d with %d bytes, want 304", enc, again.Code, again.Body.Len())
		}
	}
	plain := get(t, a, "GET", "/", nil).Header().Get("ETag")
	gz := get(t, a, "GET", "/", map[string]string{"Accept-Encoding": "gzip"}).Header().Get("ETag")
	if plain == gz {
		t.Errorf("gzip and identity share the ETag %s", plain)
	}
}

func TestAssetsDevServesSourceMap(t *testing.T) {
	a, err := newAssets(testBundle(), true)
	if err != nil {
		t.Fatal(err)
	}
	if rec := get(t, a, "GET", "/app.js.map", nil); rec.Code != 200 || rec.Body.String() != `{"version":3}` {
		t.Errorf("source map: %d %q", rec.Code, rec.Body.String())
	}
	app, _ := hashedPaths(t, a)
	if b := body(t, get(t, a, "GET", app, nil)); !strings.Contains(b, sourceMapComment) {
		t.Error("dev app.js does not point at its source map")
	}
	if rec := get(t, a, "GET", "/c4/app.js.map", nil); rec.Code != 200 {
		t.Errorf("second page's source map: %d", rec.Code)
	}
}

// The content hash changes with the content, so a new bundle is a new URL.
func TestAssetsHashFollowsContent(t *testing.T) {
	a, err := newAssets(testBundle(), false)
	if err != nil {
		t.Fatal(err)
	}
	b := testBundle()
	b["app.js"] = &fstest.MapFile{Data: []byte("console.log('v2');")}
	a2, err := newAssets(b, false)
	if err != nil {
		t.Fatal(err)
	}
	app, css := hashedPaths(t, a)
	app2, css2 := hashedPaths(t, a2)
	if app == app2 || css != css2 {
		t.Errorf("app %s -> %s, css %s -> %s: want a new app name and the same css name", app, app2, css, css2)
	}
}

func TestAssetsMissingFile(t *testing.T) {
	b := testBundle()
	delete(b, "style.css")
	if _, err := newAssets(b, false); err == nil {
		t.Error("no error for a bundle without style.css")
	}
	if _, err := newAssets(testBundle(), true); err != nil {
		t.Fatal(err)
	}
	b = testBundle()
	delete(b, "c4/app.js")
	if _, err := newAssets(b, false); err == nil {
		t.Error("no error for a page without its app.js")
	}
	b = testBundle()
	delete(b, "index.html")
	if _, err := newAssets(b, false); err == nil {
		t.Error("no error for a bundle without a top index.html")
	}
}

// The real embedded bundle: the index links the hashed files, and the
// gzip copy of app.js is what the browser downloads.
func TestEmbeddedBundle(t *testing.T) {
	dist, err := fs.Sub(webFS, "web/dist")
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAssets(dist, false)
	if err != nil {
		t.Fatal(err)
	}
	hashedPaths(t, a, "/connect4/")
	app, _ := hashedPaths(t, a)
	raw := get(t, a, "GET", app, nil).Body.Len()
	gz := get(t, a, "GET", app, map[string]string{"Accept-Encoding": "gzip"})
	if gz.Header().Get("Content-Encoding") != "gzip" || gz.Body.Len() >= raw/2 {
		t.Errorf("app.js: %d bytes raw, %d gzip (%q)", raw, gz.Body.Len(), gz.Header().Get("Content-Encoding"))
	}
	t.Logf("app.js %d B, gzip %d B", raw, gz.Body.Len())
}

// Loading the embedded bundle is part of every start: it must not balloon
// the heap (a new gzip writer per file at BestCompression is about 1 MB
// each, and the source maps, not served, are over 1 MB; together about 13
// MB of garbage that set a fresh server's heap, and RSS, at twice today's).
func TestEmbeddedBundleAllocations(t *testing.T) {
	dist, err := fs.Sub(webFS, "web/dist")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := newAssets(dist, false); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	const limit = 3 << 20
	if n := after.TotalAlloc - before.TotalAlloc; n > limit {
		t.Errorf("newAssets allocated %.1f MB, want at most %.1f", float64(n)/(1<<20), float64(limit)/(1<<20))
	} else {
		t.Logf("newAssets allocated %.1f MB", float64(n)/(1<<20))
	}
}
