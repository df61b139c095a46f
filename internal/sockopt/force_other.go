//go:build !linux

package sockopt

import "errors"

func force(fd, n int) error { return errors.New("not supported") }
