package tsuru

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/selfhost/paas/paas"
)

// stream writes the client's streamed answer: one compact JSON object per
// line, {"Message":"…"}, and {"Error":"…"} to fail the command. Nothing is
// written before the first line, so an error before it is still a plain
// error answer with its status.
type stream struct {
	w       http.ResponseWriter
	started bool
}

func newStream(w http.ResponseWriter) *stream { return &stream{w: w} }

func (s *stream) line(v any) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/x-json-stream")
		s.w.WriteHeader(http.StatusOK)
	}
	b, _ := json.Marshal(v)
	s.w.Write(append(b, '\n'))
	if fl, ok := s.w.(http.Flusher); ok {
		fl.Flush()
	}
}

func (s *stream) message(format string, args ...any) {
	s.line(map[string]string{"Message": fmt.Sprintf(format, args...) + "\n"})
}

// fail ends the stream with err as its error line (an internal error's
// text stays in the server log); before any line, err is answered as is.
func (s *stream) fail(err error) error {
	if !s.started {
		return err
	}
	s.line(map[string]string{"Error": userMessage(err)})
	return nil
}

// userMessage is what a user may see of err.
func userMessage(err error) string {
	if _, e, ok := paas.ErrorStatus(err); ok {
		return e.Message
	}
	return "internal error; see the server log"
}
