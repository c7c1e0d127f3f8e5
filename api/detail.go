package api

import "github.com/hostagent/hostagent/supervisor"

// ServiceDetailer is a Supervisor that can show one service in depth (its
// last checks, policy, last exit, GPU lane); GET /api/system/services/{name}
// answers with that when the supervisor can, else with the status alone.
type ServiceDetailer interface {
	Detail(name string) (supervisor.ServiceDetail, bool)
}

var _ ServiceDetailer = (*supervisor.Supervisor)(nil)

// service is one service's body: its detail, or its status.
func (s *Server) service(name string) (any, bool) {
	if d, ok := s.sup.(ServiceDetailer); ok {
		return d.Detail(name)
	}
	return s.sup.Service(name)
}
