package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// assets serves the embedded browser bundle the way a CDN would. Each
// page is a directory of the bundle with an index.html (the arena at /,
// connect four at /connect4/):
//
//   - its app.js and style.css also under content-hashed names
//     (app.<hash>.js), which its index.html links to, with
//     Cache-Control: immutable for a year; index.html and the plain names
//     are revalidated every time (no-cache) with an ETag;
//   - a gzip copy of every compressible file, made once at startup and
//     chosen by Accept-Encoding (Vary: Accept-Encoding);
//   - source maps (*.map) only in development mode; otherwise they are not
//     served and app.js does not point at its map.
type assets struct {
	files     map[string]*asset // by URL path
	redirects map[string]string // /connect4 -> /connect4/

	// while newAssets runs: one gzip writer for every file (each new
	// writer at BestCompression allocates about 1 MB), and the gzip copy
	// of each distinct body (app.js and index.html are served under two
	// names each)
	zw  *gzip.Writer
	gzs map[[sha256.Size]byte][]byte
}

type asset struct {
	ctype     string
	body      []byte
	gz        []byte // nil when gzip does not make it smaller
	etag      string // of body; the gzip copy's ends in -gz
	immutable bool
}

const sourceMapComment = "//# sourceMappingURL=app.js.map"

func newAssets(dist fs.FS, dev bool) (*assets, error) {
	a := &assets{files: map[string]*asset{}, redirects: map[string]string{}, gzs: map[[sha256.Size]byte][]byte{}}
	defer func() { a.zw, a.gzs = nil, nil }()
	files := map[string][]byte{} // by path in dist
	pages := map[string][]byte{} // index.html by directory
	err := fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".map") && !dev {
			return nil // not served: not read either
		}
		body, err := fs.ReadFile(dist, p)
		if err != nil {
			return err
		}
		switch {
		case path.Base(p) == "index.html":
			pages[path.Dir(p)] = body
		default:
			files[p] = body
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web bundle: %w", err)
	}
	if pages["."] == nil {
		return nil, fmt.Errorf("web bundle: no index.html")
	}
	for dir, index := range pages {
		// The files index.html refers to, served under content-hashed
		// names too.
		for _, name := range []string{"app.js", "style.css"} {
			p := path.Join(dir, name)
			body, ok := files[p]
			if !ok {
				return nil, fmt.Errorf("web bundle: %s: %w", p, fs.ErrNotExist)
			}
			if name == "app.js" && !dev {
				body = bytes.Replace(body, []byte(sourceMapComment), nil, 1)
				files[p] = body
			}
			if !bytes.Contains(index, []byte(`"`+name+`"`)) {
				return nil, fmt.Errorf("web bundle: %s does not refer to %q", path.Join(dir, "index.html"), name)
			}
			hashed := hashedName(name, body)
			index = bytes.ReplaceAll(index, []byte(`"`+name+`"`), []byte(`"`+hashed+`"`))
			a.add("/"+path.Join(dir, hashed), body, true)
		}
		url := "/"
		if dir != "." {
			url = "/" + dir + "/"
			a.redirects["/"+dir] = url
		}
		a.add(url, index, false)
		a.add(url+"index.html", index, false)
	}
	for p, body := range files {
		a.add("/"+p, body, false)
	}
	return a, nil
}

// hashedName returns name with the first 10 hex digits of the SHA-256 of
// body before its extension: app.js -> app.0123456789.js.
func hashedName(name string, body []byte) string {
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
}

// contentTypes are the types of the bundle's files. mime.TypeByExtension
// knows them too, but its first call loads the system's whole MIME
// database (about 0.4 MB kept for the life of the process); it is asked
// only for other extensions.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".map":  "application/json",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

func (a *assets) add(urlPath string, body []byte, immutable bool) {
	ext := path.Ext(urlPath)
	ctype := contentTypes[ext]
	switch {
	case strings.HasSuffix(urlPath, "/"):
		ctype = contentTypes[".html"]
	case ctype == "" && ext != "":
		ctype = mime.TypeByExtension(ext)
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(body)
	f := &asset{ctype: ctype, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, immutable: immutable}
	gz, ok := a.gzs[sum]
	if !ok {
		var buf bytes.Buffer
		if a.zw == nil {
			a.zw, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
		} else {
			a.zw.Reset(&buf)
		}
		_, _ = a.zw.Write(body)
		_ = a.zw.Close()
		if buf.Len() < len(body) {
			gz = bytes.Clone(buf.Bytes()) // no spare capacity kept
		}
		a.gzs[sum] = gz
	}
	f.gz = gz
	a.files[urlPath] = f
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f := a.files[r.URL.Path]
	if f == nil {
		if to, ok := a.redirects[r.URL.Path]; ok {
			http.Redirect(w, r, to, http.StatusMovedPermanently)
			return
		}
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if f.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	body, etag := f.body, f.etag
	if f.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
		h.Set("Content-Encoding", "gzip")
		// ServeContent leaves out Content-Length of encoded bodies (and
		// would get it wrong for a range of one): send the whole body.
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Header.Get("Range") != "" {
			r = r.Clone(r.Context())
			r.Header.Del("Range")
		}
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match (304), HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header value accepts gzip
// (by name or "*") with a quality above zero.
func acceptsGzip(header string) bool {
	gz, star := -1.0, -1.0
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				} else {
					q = 0
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gz = q
		case "*":
			star = q
		}
	}
	if gz >= 0 {
		return gz > 0
	}
	return star > 0
}
