package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/runtime"
)

// serviceReady bounds how long a new database server may take to answer
// its first probe (pulling its image on first use counts).
const serviceReady = 3 * time.Minute

func (d *Deployer) serviceRuntime() (runtime.ServiceRuntime, error) {
	sr, ok := d.rt.(runtime.ServiceRuntime)
	if !ok {
		return nil, &paas.Error{Status: http.StatusNotImplemented, Code: "not_supported", Message: "this container engine cannot run database services"}
	}
	return sr, nil
}

// ServiceImages maps a service to the image its servers run ("": the
// official image, pulled on first use).
type ServiceImages map[string]string

// ProvisionService starts a database server and waits until it answers;
// a server that never does is removed with its data, so a failed
// creation leaves nothing behind.
func (d *Deployer) ProvisionService(ctx context.Context, spec runtime.ServiceSpec) (runtime.Service, error) {
	sr, err := d.serviceRuntime()
	if err != nil {
		return runtime.Service{}, err
	}
	spec = d.withImage(spec)
	progress := &logWriter{batch: 1, flush: func(lines []string) {
		for _, l := range lines {
			d.log.Info("service image: "+l, "image", spec.Image)
		}
	}}
	defer progress.Close()
	if err := d.rt.EnsureImage(ctx, spec.Image, progress); err != nil {
		return runtime.Service{}, &paas.Error{Status: http.StatusServiceUnavailable, Code: "service_image_unavailable", Err: err,
			Message: fmt.Sprintf("the %s image %s is not available: %v", spec.Kind, spec.Image, err)}
	}
	svc, err := sr.StartService(ctx, spec)
	if err == nil {
		err = d.waitService(ctx, sr, spec.ID)
	}
	if err != nil {
		if rmErr := sr.RemoveService(context.WithoutCancel(ctx), spec.ID); rmErr != nil {
			d.log.Error("remove a service that did not start", "instance", spec.ID, "err", rmErr)
		}
		return runtime.Service{}, fmt.Errorf("start %s server %s: %w", spec.Kind, spec.ID, err)
	}
	return svc, nil
}

// withImage gives spec the image its kind runs: the configured one, else
// the official one.
func (d *Deployer) withImage(spec runtime.ServiceSpec) runtime.ServiceSpec {
	if spec.Image == "" {
		spec.Image = d.cfg.ServiceImages[spec.Kind]
	}
	if spec.Image == "" {
		spec.Image = runtime.DefaultServiceImage(spec.Kind)
	}
	return spec
}

func (d *Deployer) waitService(ctx context.Context, sr runtime.ServiceRuntime, id string) error {
	ctx, cancel := context.WithTimeout(ctx, serviceReady)
	defer cancel()
	var last error
	for {
		if last = sr.ProbeService(ctx, id); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not answering after %s: %w", serviceReady, errors.Join(last, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// EnsureService starts a server that should run (at platform start: its
// container may be gone), keeping its data.
func (d *Deployer) EnsureService(ctx context.Context, spec runtime.ServiceSpec) error {
	sr, err := d.serviceRuntime()
	if err != nil {
		return err
	}
	_, err = sr.StartService(ctx, d.withImage(spec))
	return err
}

// RemoveService deletes a server and its data.
func (d *Deployer) RemoveService(ctx context.Context, id string) error {
	sr, err := d.serviceRuntime()
	if err != nil {
		return err
	}
	return sr.RemoveService(ctx, id)
}

// ProbeService says whether a server answers.
func (d *Deployer) ProbeService(ctx context.Context, id string) error {
	sr, err := d.serviceRuntime()
	if err != nil {
		return err
	}
	return sr.ProbeService(ctx, id)
}

// AttachApp joins the serving units of app to a service network now (the
// units started later join it as they start); DetachApp undoes it.
func (d *Deployer) AttachApp(ctx context.Context, appKey, network string) error {
	return d.eachServingUnit(appKey, func(sr runtime.ServiceRuntime, unit string) error { return sr.ConnectUnit(ctx, unit, network) })
}

// DetachApp takes app's units off a service network.
func (d *Deployer) DetachApp(ctx context.Context, appKey, network string) error {
	return d.eachServingUnit(appKey, func(sr runtime.ServiceRuntime, unit string) error { return sr.DisconnectUnit(ctx, unit, network) })
}

func (d *Deployer) eachServingUnit(appKey string, fn func(runtime.ServiceRuntime, string) error) error {
	sr, err := d.serviceRuntime()
	if err != nil {
		return err
	}
	rel, _ := d.Release(appKey)
	var errs []error
	for _, u := range rel.Units {
		errs = append(errs, fn(sr, u.ID))
	}
	return errors.Join(errs...)
}

// joinServices connects a freshly started unit to the networks of the
// databases bound to its app.
func (d *Deployer) joinServices(ctx context.Context, app paas.App, unitID string) error {
	if len(app.ServiceNetworks) == 0 {
		return nil
	}
	sr, err := d.serviceRuntime()
	if err != nil {
		return err
	}
	for _, nw := range app.ServiceNetworks {
		if err := sr.ConnectUnit(ctx, unitID, nw); err != nil {
			return fmt.Errorf("join %s to %s: %w", unitID, nw, err)
		}
	}
	return nil
}

// ServiceAddr is where the platform itself reaches instance id's server.
func (d *Deployer) ServiceAddr(ctx context.Context, id string) (string, error) {
	sr, err := d.serviceRuntime()
	if err != nil {
		return "", err
	}
	ip, port, err := sr.ServiceAddr(ctx, id)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, strconv.Itoa(port)), nil
}
