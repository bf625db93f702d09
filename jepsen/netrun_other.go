//go:build !linux

package jepsen

import (
	"context"
	"errors"
)

// LabKind prefixes the namespaces of jepsen's labs.
const LabKind = "srj"

// ChildMain returns at once: there are no -net netns runs off Linux.
func ChildMain() {}

func runNetns(context.Context, RunConfig) (*Result, error) {
	return nil, errors.New("jepsen -net netns: network namespaces are Linux only")
}
