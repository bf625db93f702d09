//go:build linux

package netns

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sweep deletes the namespaces of kind (see New) left behind by a run
// that died without closing its lab (kill -9, a crash): those whose owner
// process is gone and which are older than minAge. A live run's
// namespaces are never touched, whatever their age. It returns the names
// it deleted.
func Sweep(ctx context.Context, kind string, minAge time.Duration) ([]string, error) {
	names, err := List(kind + "-")
	if err != nil {
		return nil, err
	}
	var gone []string
	var errs []error
	for _, name := range names {
		created, pid, ok := parseName(kind, name)
		if !ok || time.Since(created) < minAge || processAlive(pid) {
			continue
		}
		if err := deleteNS(ctx, name); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, name)
	}
	return gone, errors.Join(errs...)
}

// parseName reads kind-<unix time, hex>-<pid>-<random>-<host>.
func parseName(kind, name string) (created time.Time, pid int, ok bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 5 || parts[0] != kind {
		return time.Time{}, 0, false
	}
	sec, err1 := strconv.ParseInt(parts[1], 16, 64)
	pid, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || pid <= 0 {
		return time.Time{}, 0, false
	}
	return time.Unix(sec, 0), pid, true
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
