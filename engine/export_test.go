package engine

// OwedReleases returns the directory seat releases and room removals this
// node still owes the backend (tests).
func OwedReleases(e *Engine) (releases, removals int) { return e.cl.releases.counts() }
