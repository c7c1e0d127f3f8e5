package supervisor

// redact hides the stack's secret values (compose.Stack.Redactor) in text
// that comes from its containers, such as a health check's output, before
// it becomes a status detail: the status, events, the WebSocket and the
// journal are readable without the token.
func (s *Supervisor) redact(text string) string {
	st, _ := s.current()
	return st.Redactor().Redact(text)
}
