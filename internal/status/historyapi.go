package status

import "errors"

// Errors a History returns, which the API answers with their own status.
var (
	// ErrBadFilter wraps an error about a filter or cursor the client
	// gave: 400.
	ErrBadFilter = errors.New("bad filter")
)
