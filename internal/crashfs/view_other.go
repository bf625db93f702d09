//go:build !unix

package crashfs

import "os"

// ViewFile reads path into memory: there is no mapping here.
func (OS) ViewFile(path string) ([]byte, func(), error) {
	b, err := os.ReadFile(path)
	return b, func() {}, err
}
