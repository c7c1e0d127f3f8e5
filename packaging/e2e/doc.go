// Package e2e holds the end-to-end test of the packages (build tag
// integration, run by `make e2e`): it boots a Debian 12 container with
// systemd, installs the .deb there, points the agent at the host's Podman
// socket and checks the service, the stack, reload, stop and upgrade; it also
// checks that the .rpm carries the same files and scripts as the .deb.
//
// The test reads the packages from the environment (see e2e_test.go) and
// skips when they are not given, so `go test -tags integration ./...` stays
// cheap; missing tools fail it when CI=true and skip it otherwise.
package e2e
