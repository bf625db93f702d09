//go:build !linux

package netns

import (
	"context"
	"errors"
	"time"
)

// Host is one host of a lab (see the Linux version).
type Host struct {
	Name, NS, IP, Port string
}

// Lab is a network of namespaces; there are none on this system.
type Lab struct {
	Prefix, Switch string
	Nodes          []Host
	Client         Host
}

const (
	Subnet   = "10.213.7"
	ClientIP = Subnet + ".250"
	Table    = "lab"
)

var errUnsupported = errors.New("network namespaces unavailable: Linux only")

func Check() error                                                   { return errUnsupported }
func New(context.Context, string, int) (*Lab, error)                 { return nil, errUnsupported }
func NodeIP(int) string                                              { return "" }
func Command(h Host, argv ...string) []string                        { return argv }
func List(string) ([]string, error)                                  { return nil, nil }
func Sweep(context.Context, string, time.Duration) ([]string, error) { return nil, nil }
func (l *Lab) Hosts() []Host                                         { return nil }
func (l *Lab) SetRules(context.Context, Host, []Rule) error          { return errUnsupported }
func (l *Lab) Heal(context.Context) error                            { return errUnsupported }
func (l *Lab) Rules(context.Context, Host) (string, error)           { return "", errUnsupported }
func (l *Lab) Close() error                                          { return nil }

func (l *Lab) IP(int) string                         { return "" }
func (l *Lab) Command(_ int, argv []string) []string { return argv }
func (l *Lab) Node(int) Host                         { return Host{} }
func (l *Lab) AddHost(int, string) error             { return errUnsupported }
