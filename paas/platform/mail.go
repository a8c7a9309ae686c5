package platform

import (
	"fmt"
	"log/slog"
	"net/smtp"
	"net/url"
	"strings"

	"github.com/selfhost/paas/paas"
)

// Mailer delivers account messages (invite and password-reset codes).
type Mailer interface {
	Send(to, subject, body string) error
}

// LogMailer writes messages to the server log: the default when no SMTP
// server is configured, so an admin can hand codes to users.
type LogMailer struct{ Log *slog.Logger }

func (m LogMailer) Send(to, subject, body string) error {
	m.Log.Info("mail (no SMTP configured)", "to", to, "subject", subject, "body", body)
	return nil
}

// SMTPMailer sends through an SMTP server given as smtp://user:pass@host:port.
type SMTPMailer struct {
	URL  string
	From string
}

func (m SMTPMailer) Send(to, subject, body string) error {
	u, err := url.Parse(m.URL)
	if err != nil {
		return fmt.Errorf("smtp url: %w", err)
	}
	var auth smtp.Auth
	if u.User != nil {
		pw, _ := u.User.Password()
		auth = smtp.PlainAuth("", u.User.Username(), pw, u.Hostname())
	}
	if strings.ContainsAny(to+subject, "\r\n") {
		return paas.BadRequest("invalid mail header")
	}
	msg := "From: " + m.From + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n"
	if err := smtp.SendMail(u.Host, auth, m.From, []string{to}, []byte(msg)); err != nil {
		return fmt.Errorf("send mail to %s: %w", to, err)
	}
	return nil
}
