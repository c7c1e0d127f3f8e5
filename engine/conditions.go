package engine

import "errors"

// Conditions are start errors that are the host's fault, not the
// service's: the image cannot be had, the GPU runtime is missing, the
// engine cannot start any container (network backend or runtime broken)
// or cannot be reached. The supervisor reports them as a status and
// retries them with backoff, but never counts them toward a service's
// failure budget: fixing the host must not find the stack DISABLED.
var (
	// ErrImageUnavailable: the image is missing and could not be pulled
	// or built (the error names the image and the registry's answer).
	ErrImageUnavailable = errors.New("image unavailable")
	// ErrGPUUnavailable: a GPU was asked for but no CDI spec or NVIDIA
	// runtime provides it.
	ErrGPUUnavailable = errors.New("GPU unavailable")
	// ErrEngineSetup: the engine cannot start containers at all (for
	// instance netavark's firewall backend is missing).
	ErrEngineSetup = errors.New("engine cannot start containers")
)

// IsCondition reports whether err is a host condition rather than a
// failure of the service (see the variables above, and ErrUnavailable).
func IsCondition(err error) bool {
	for _, c := range []error{ErrImageUnavailable, ErrGPUUnavailable, ErrEngineSetup, ErrUnavailable} {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}
