//go:build !unix

package metrics

import "errors"

func fsSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("file system space is not measured on this platform")
}
