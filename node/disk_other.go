//go:build !unix

package node

import "errors"

// fsSpace is not implemented here: the free-space guard stays off.
func fsSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("free space is not measured on this platform")
}
