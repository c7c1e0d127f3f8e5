//go:build !cgo

package gpu

import "errors"

// NewNVML returns a Driver whose Init always fails: go-nvml needs cgo, and a
// binary built without it runs as a host without NVML.
func NewNVML() Driver { return noNVML{} }

type noNVML struct{}

var errNoCgo = errors.New("built without cgo (go-nvml needs it)")

func (noNVML) Init() error                    { return errNoCgo }
func (noNVML) Shutdown() error                { return nil }
func (noNVML) DriverVersion() (string, error) { return "", errNoCgo }
func (noNVML) Devices() ([]Device, error)     { return nil, errNoCgo }
