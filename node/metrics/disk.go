package metrics

import (
	"io/fs"
	"path/filepath"
	"sync"
	"time"
)

// diskUsage caches the size of the data directory: walking it costs a
// stat per file, and Prometheus may scrape every few seconds.
type diskUsage struct {
	mu    sync.Mutex
	dir   string
	at    time.Time
	bytes int64
}

const diskUsageTTL = 10 * time.Second

func (d *diskUsage) size(dir string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dir == dir && time.Since(d.at) < diskUsageTTL {
		return d.bytes
	}
	var total int64
	// Errors (a file removed during the walk, as compaction does) only
	// leave that file out.
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	d.dir, d.at, d.bytes = dir, time.Now(), total
	return total
}
