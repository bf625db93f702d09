package netns

import (
	"net"
	"slices"
)

// RootLinks lists the network interfaces of the calling process's
// namespace, sorted: tests compare it before and after a run to show the
// run left no link behind.
func RootLinks() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ifs))
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names, nil
}
