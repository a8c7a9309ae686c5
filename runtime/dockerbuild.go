package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"
)

func validateBuildSpec(spec BuildSpec) error {
	switch {
	case spec.App == "":
		return errors.New("app is required")
	case spec.Snapshot == "":
		return errors.New("snapshot is required")
	case spec.Files == nil:
		return errors.New("files are required")
	case len(spec.Cmd) == 0:
		return errors.New("cmd is required")
	case spec.BaseImage == "":
		return errors.New("base image is required")
	case hasControl(spec.App) || hasControl(spec.Snapshot):
		// Both end up in a Dockerfile LABEL line.
		return errors.New("app and snapshot must not contain control characters")
	case strings.ContainsAny(spec.BaseImage, " \t\r\n"):
		// It is pasted into the Dockerfile; whitespace could smuggle in
		// extra instructions.
		return fmt.Errorf("invalid base image %q", spec.BaseImage)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// generateDockerfile renders the Dockerfile of a snapshot image. Every RUN and
// CMD uses the exec (JSON) form: the host-built base image has no shell.
//
// The classic builder commits one image per instruction (about a second each
// on slow storage drivers such as fuse-overlayfs), so instructions are few,
// and the ones that are the same for every app come first, where the build
// cache serves them. Labels are one LABEL instruction here rather than
// ImageBuildOptions.Labels, which the builder turns into one step per label.
func generateDockerfile(spec BuildSpec, scope, labels map[string]string) ([]byte, error) {
	cmd, err := jsonArray(spec.Cmd)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "FROM %s\n", spec.BaseImage)
	// The scope labels come first, so every step image carries them: each
	// runtime (each test, in CI) builds its own cache chain, which another
	// runtime's image removals cannot prune from under a build, and even a
	// step image orphaned by a failed build can be found and removed.
	writeLabels(&b, scope)
	b.WriteString("WORKDIR /app\n")
	if !spec.Install {
		b.WriteString("USER " + unitUser + "\n")
	}
	// Files stay root-owned (COPY ignores USER): the unit runs as uid 1000
	// on a read-only rootfs, and cannot modify its own code either way.
	b.WriteString("COPY app/ /app/\n")
	if spec.Install {
		// Runs as root, before USER; no shell, hence the exec form. Audit,
		// fund and update checks would reach for the network.
		b.WriteString(`RUN ["npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--no-update-notifier"]` + "\n")
		b.WriteString("USER " + unitUser + "\n")
	}
	fmt.Fprintf(&b, "CMD %s\n", cmd)
	writeLabels(&b, labels)
	return b.Bytes(), nil
}

// writeLabels writes one LABEL instruction (one build step) for labels.
func writeLabels(b *bytes.Buffer, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("LABEL")
	for _, k := range keys {
		fmt.Fprintf(b, " %s=%s", dockerfileQuote(k), dockerfileQuote(labels[k]))
	}
	b.WriteString("\n")
}

// dockerfileQuote double-quotes s for a LABEL instruction, escaping what the
// Dockerfile parser would interpret: quotes, backslashes and $ (variable
// expansion). Control characters are rejected earlier by validateBuildSpec.
func dockerfileQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(s) + `"`
}

func jsonArray(args []string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		return "", fmt.Errorf("encode cmd: %w", err)
	}
	return strings.TrimSpace(b.String()), nil
}

// writeBuildContext streams a tar with the Dockerfile at the root and the app
// files under app/, so an app's own Dockerfile or .dockerignore cannot
// interfere with the generated one.
func writeBuildContext(w io.Writer, files fs.FS, dockerfile []byte, log io.Writer) error {
	tw := tar.NewWriter(w)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(dockerfile); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "app/", Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	if err := writeTarTree(tw, files, "app/", 0, log); err != nil {
		return err
	}
	return tw.Close()
}

// stepImage matches the classic builder's " ---> <image id>" line that ends
// each step.
var stepImage = regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12,64})\s*$`)

// copyBuildOutput turns the engine's JSON message stream into plain lines on
// log and returns the builder's error, if any. onStep receives the image id
// each step produced.
func copyBuildOutput(ctx context.Context, r io.Reader, log io.Writer, onStep func(id string)) error {
	return eachMessage(ctx, r, "build", func(m jsonmessage.JSONMessage) error {
		if msg := messageError(m); msg != "" {
			fmt.Fprintln(log, msg)
			return fmt.Errorf("builder: %s", msg)
		}
		switch {
		case m.Stream != "":
			io.WriteString(log, m.Stream)
			for _, sm := range stepImage.FindAllStringSubmatch(m.Stream, -1) {
				onStep(sm[1])
			}
		case m.Status != "":
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			fmt.Fprintln(log, line)
		}
		return nil
	})
}

// eachMessage decodes the engine's JSON message stream, calling fn for each
// message until the stream ends (nil), fn fails, or ctx is done.
func eachMessage(ctx context.Context, r io.Reader, what string, fn func(jsonmessage.JSONMessage) error) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s output: %w", what, err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

func messageError(m jsonmessage.JSONMessage) string {
	if m.Error != nil && m.Error.Message != "" {
		return strings.TrimSpace(m.Error.Message)
	}
	return strings.TrimSpace(m.ErrorMessage) //nolint:staticcheck // older engines set only this
}

// copyPullProgress writes one line per layer status change (not per progress
// tick) and returns the pull's error, if any.
func copyPullProgress(ctx context.Context, r io.Reader, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	last := map[string]string{}
	return eachMessage(ctx, r, "pull", func(m jsonmessage.JSONMessage) error {
		if msg := messageError(m); msg != "" {
			return errors.New(msg)
		}
		if m.Status == "" || last[m.ID] == m.Status {
			return nil
		}
		last[m.ID] = m.Status
		if m.ID != "" {
			fmt.Fprintf(log, "%s: %s\n", m.ID, m.Status)
		} else {
			fmt.Fprintln(log, m.Status)
		}
		return nil
	})
}
