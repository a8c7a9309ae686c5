package tsuru

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/api"
)

// run executes a command in the app's units (?once=true: one of them),
// its output streamed as {"Message"} lines as it comes; a non-zero exit is
// the final {"Error"} line. The command is the raw body (the document's
// form, 0.17) or the form field command (0.18).
func (f *Face) run(w http.ResponseWriter, r *http.Request, _ httprouter.Params, pr *paas.Principal, a paas.App) error {
	once := boolParam(r, "once")
	var command string
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return paas.BadRequest("bad form body: %v", err)
		}
		command = r.PostForm.Get("command")
		if v, err := strconv.ParseBool(r.PostForm.Get("once")); err == nil {
			once = v
		}
	} else {
		raw, err := api.ReadBody(w, r, 64<<10)
		if err != nil {
			return err
		}
		command = string(raw)
	}
	if strings.TrimSpace(command) == "" {
		return paas.BadRequest("no command to run: send it as the body")
	}
	s := newStream(w)
	err := f.p.RunCommand(r.Context(), pr, a.Owner, a.Name, command, once, func(string) io.Writer { return streamWriter{s} })
	if _, e, ok := paas.ErrorStatus(err); ok && e.Code == "command_failed" && !s.started {
		s.message("") // the command ran: its failure is the stream's error line
	}
	if err != nil {
		return s.fail(err)
	}
	if !s.started {
		s.message("")
	}
	return nil
}

// streamWriter turns output into {"Message"} lines.
type streamWriter struct{ s *stream }

func (sw streamWriter) Write(p []byte) (int, error) {
	sw.s.line(map[string]string{"Message": string(p)})
	return len(p), nil
}
