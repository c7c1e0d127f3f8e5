package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hostagent/hostagent/compose"
)

// ConfigHash is the com.docker.compose.config-hash of a service: a SHA-256
// of its definition as JSON, computed the way docker compose does
// (build, pull policy, scale, replicas, depends_on and profiles left out,
// because changing them does not change the container). A container
// whose label differs was made from an older definition. The image is
// the resolved one, so a build-only service hashes the image it runs.
func ConfigHash(svc compose.Service) string {
	o := svc.Config
	o.Build = nil
	o.PullPolicy = ""
	o.Scale = nil
	o.DependsOn = nil
	o.Profiles = nil
	o.Develop = nil
	if o.Deploy != nil {
		// A copy: the caller's Deploy must not lose its replicas.
		d := *o.Deploy
		d.Replicas = nil
		o.Deploy = &d
	}
	if svc.Image != "" {
		o.Image = svc.Image
	}
	b, err := json.Marshal(o)
	if err != nil {
		// Only unmarshalable values (channels, funcs) fail, and compose-go's
		// model has none; hash the error so the result is still stable.
		b = []byte(err.Error())
	}
	// Options compose-go drops (Podman's U) change the container too. They
	// are added only where present, so other services keep compose's hash.
	for _, v := range svc.Config.Volumes {
		if extra := svc.EngineVolumeOptions(v.Target); len(extra) > 0 {
			b = fmt.Appendf(b, "\n%s:%s", v.Target, strings.Join(extra, ","))
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
