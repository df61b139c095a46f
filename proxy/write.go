package proxy

import "sync"

// outPool holds buffers for answers on their way to a client. They are
// small: most answers fit, and a TCP write that waits on a slow client
// holds its query's buffer all the while.
var outPool = sync.Pool{New: func() any { b := make([]byte, outSize); return &b }}

const outSize = 4096

// outBuf returns a buffer of length n, from outPool when n fits; putOut
// gives it back.
func outBuf(n int) *[]byte {
	if n > outSize {
		b := make([]byte, n)
		return &b
	}
	bp := outPool.Get().(*[]byte)
	*bp = (*bp)[:n]
	return bp
}

func putOut(bp *[]byte) {
	if cap(*bp) == outSize {
		*bp = (*bp)[:outSize]
		outPool.Put(bp)
	}
}
