package history

import (
	"errors"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// describe says in a sentence for the page why doing failed with err:
// the disk is full, the file or its directory is read-only, the file is
// corrupt, or the error as it came.
func describe(doing string, err error) string {
	switch kind(err) {
	case diskFull:
		return "disk full: " + doing + ": " + err.Error()
	case readOnly:
		return "read-only: " + doing + ": " + err.Error()
	case corrupt:
		return "corrupt file: " + doing + ": " + err.Error() + "; move the file away to start a new history"
	}
	return doing + ": " + err.Error()
}

type errKind int

const (
	otherErr errKind = iota
	diskFull
	readOnly
	corrupt
)

// kind sorts err, from SQLite or the file system.
func kind(err error) errKind {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return diskFull
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN:
			return readOnly
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return corrupt
		case sqlite3.SQLITE_IOERR:
			return ioKind(se.Code())
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EFBIG), errors.Is(err, syscall.EDQUOT):
		return diskFull
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return readOnly
	}
	return otherErr
}

// ioKind sorts an SQLITE_IOERR: a write or a file-size change that failed
// is, in practice, a full disk or a file-size limit.
func ioKind(code int) errKind {
	switch code {
	case sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_TRUNCATE, sqlite3.SQLITE_IOERR_FSYNC,
		sqlite3.SQLITE_IOERR_SHMSIZE:
		return diskFull
	}
	return otherErr
}
