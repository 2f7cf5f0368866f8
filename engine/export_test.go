package engine

// OwedReleases is the number of directory seat releases this node still
// owes the backend (tests).
func OwedReleases(e *Engine) int { return e.cl.releases.total() }
