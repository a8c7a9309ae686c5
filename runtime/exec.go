package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Executor runs a command inside a running unit (Tsuru's app-run): as the
// unit's own user, with its environment, inside its limits. It is an
// optional capability of a Runtime.
type Executor interface {
	// Exec runs cmd in unit id, copying its output (stdout and stderr) to
	// out as it comes, and returns the exit code; err is for a command
	// that could not be run at all.
	Exec(ctx context.Context, id string, cmd []string, out io.Writer) (exitCode int, err error)
}

var _ Executor = (*Docker)(nil)

// execAPI is the part of the Docker client exec needs.
type execAPI interface {
	ContainerExecCreate(ctx context.Context, containerID string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
}

// Exec runs cmd in a platform unit. Only units of this installation are
// reached: the id must be one Units lists.
func (d *Docker) Exec(ctx context.Context, id string, cmd []string, out io.Writer) (int, error) {
	if len(cmd) == 0 {
		return 0, errors.New("exec: empty command")
	}
	units, err := d.Units(ctx)
	if err != nil {
		return 0, err
	}
	known := false
	for _, u := range units {
		known = known || (u.ID == id && u.Running)
	}
	if !known {
		return 0, fmt.Errorf("exec in %s: no such running unit", id)
	}
	api, ok := d.api.(execAPI)
	if !ok {
		return 0, errors.New("exec: the engine client cannot run commands")
	}
	created, err := api.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, err)
	}
	att, err := api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return 0, fmt.Errorf("exec in %s: attach: %w", id, err)
	}
	defer att.Close()
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(out, out, att.Reader)
		copied <- err
	}()
	select {
	case err = <-copied:
	case <-ctx.Done():
		att.Close()
		<-copied
		return 0, ctx.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("exec in %s: output: %w", id, err)
	}
	info, err := api.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, err)
	}
	return info.ExitCode, nil
}
