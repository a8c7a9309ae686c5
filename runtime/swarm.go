package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
)

// Swarm runs units as Docker Swarm services, on an engine that is a Swarm
// manager. What does not depend on the engine's mode (images, the code and
// dependency volumes of dockercode.go, the install step) is the Docker
// runtime's, delegated to it.
//
// One service per unit. The deployer starts and stops units one at a time
// by index: it starts each unit of a new release and health-checks it,
// switches, then stops the old units one by one after their grace, and it
// replaces one dead unit at a time. A release as one service whose replicas
// are its units cannot do that: Swarm chooses which task a scale-down
// removes, so "stop unit 2" or "replace the dead unit 1" has no service
// operation. A service of one replica per unit keeps every guarantee of
// the deployer as it is, and is what a release-wide service would be to
// Swarm anyway (a scheduler of tasks, each placed and restarted alone).
//
// A unit's ID is its task's ID: the manager answers for tasks on every
// node (inspect, logs, state), where a container ID means something only
// to the engine that runs it. A task Swarm restarts is a new task, so a new
// unit, as a unit the deployer restarts is a new container.
//
// Addresses. The ingress runs on the manager's host, which cannot route to
// overlay addresses; every container on an overlay also has an address on
// its node's docker_gwbridge, which that node's host reaches, and a unit's
// Addr is that address and the app's port. Nothing is published. A port
// published in host mode (the node's address and a port the engine picks)
// would reach a unit on any node, but it is open on every address of the
// node, to the LAN and to every other unit through the node's gateway,
// whose owners are then no longer isolated (TestSwarmOwnersIsolated shows
// it): until units run off the manager, which needs the code on other
// nodes first, the gateway address serves, and units elsewhere have none.
// Those will need a published port with the node's DOCKER-USER chain
// dropping it from docker_gwbridge and from all but the manager, or the
// ingress on every node.
//
// Networks. Each owner's units share an attachable overlay network of
// their own (attachable so that plain containers, databases and one-off
// runs, can join it later). Overlay networks have no switch to cut traffic
// between their members, the way the Docker runtime's bridge does, so the
// isolation kept is the one between owners: a unit reaches no other
// owner's unit, on the overlay or through docker_gwbridge, whose
// traffic between containers is off.
//
// Restarts. A service restarts its task on failure, after a delay and a
// bounded number of times, so a crashed unit comes back even while the
// platform is down; the platform still gets an Event for every exit: the
// local engine's container events (with the exit code and OOM), and a poll
// of the tasks for what those cannot see (tasks on other nodes, events
// missed across a reconnect). The deployer, as it is, answers an exit by
// replacing the unit after its own backoff (a new service), usually before
// Swarm's delay is over: Swarm's restarts are what keep units up while
// the platform is down, and an adopted restarted task serves after it.
//
// Placement. Code volumes exist on the manager only, so every unit is
// placed on it until code reaches other nodes (issue 18's next steps).
// A unit of an app in a pool other than the default one is also
// constrained to nodes labelled paas.pool=<pool> (LabelNodePool); one no
// node can take fails Start within seconds, naming the pool, instead of
// waiting in Swarm's pending state. Database servers are pinned to the
// node holding their data volume, and are down while that node is
// (see swarmservice.go).
type Swarm struct {
	d    *Docker
	api  swarmAPI
	node string // this manager's node id

	// netMu orders the creation of an owner's network and of services on
	// it against its removal once the owner's last unit is gone.
	netMu sync.Mutex
}

var (
	_ Runtime  = (*Swarm)(nil)
	_ Executor = (*Swarm)(nil)
)

// swarmAPI is the part of the Docker client the Swarm runtime uses on top
// of the Docker runtime's.
type swarmAPI interface {
	dockerAPI
	Info(ctx context.Context) (system.Info, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	ServiceCreate(ctx context.Context, service swarm.ServiceSpec, options swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceInspectWithRaw(ctx context.Context, serviceID string, opts swarm.ServiceInspectOptions) (swarm.Service, []byte, error)
	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	ServiceRemove(ctx context.Context, serviceID string) error
	ServiceUpdate(ctx context.Context, serviceID string, version swarm.Version, service swarm.ServiceSpec, options swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	TaskInspectWithRaw(ctx context.Context, taskID string) (swarm.Task, []byte, error)
	TaskLogs(ctx context.Context, taskID string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerUpdate(ctx context.Context, containerID string, updateConfig container.UpdateConfig) (container.UpdateResponse, error)
}

var _ swarmAPI = (*client.Client)(nil)

// Swarm's labels on the containers of tasks.
const (
	labelSwarmTask    = "com.docker.swarm.task.id"
	labelSwarmService = "com.docker.swarm.service.id"
)

// labelOwner is the app owner on units' services and on owner networks:
// the last unit of an owner removes the network.
const labelOwner = "paas.owner"

// maxServiceName is Swarm's limit: a service name is a DNS label.
const maxServiceName = 63

// startTimeout bounds how long Start waits for Swarm to run a task: one
// that cannot be placed stays pending for ever.
const startTimeout = 2 * time.Minute

// gatewayNetwork is the bridge every overlay-attached container of a
// node also joins, for traffic that leaves the overlay (to the host and
// the internet). The engine names it.
const gatewayNetwork = "docker_gwbridge"

// NewSwarm connects to the engine named by the environment, as NewDocker
// does, and checks that it is a Swarm manager.
func NewSwarm(ctx context.Context, cfg DockerConfig) (*Swarm, error) {
	d, err := NewDocker(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := newSwarm(ctx, d)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	return s, nil
}

func newSwarm(ctx context.Context, d *Docker) (*Swarm, error) {
	api, ok := d.api.(swarmAPI)
	if !ok {
		return nil, errors.New("swarm engine: the engine client cannot manage services")
	}
	info, err := api.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("swarm engine: engine info: %w", err)
	}
	sw := info.Swarm
	if sw.LocalNodeState != swarm.LocalNodeStateActive || !sw.ControlAvailable {
		role := "not in a swarm"
		if sw.LocalNodeState == swarm.LocalNodeStateActive {
			role = "a worker"
		} else if sw.LocalNodeState != swarm.LocalNodeStateInactive && sw.LocalNodeState != "" {
			role = "in swarm state " + string(sw.LocalNodeState)
		}
		return nil, fmt.Errorf("swarm engine: the Docker engine is %s, and the platform must run on a Swarm manager: "+
			"run `docker swarm init` on this host (or join it to the swarm as a manager), or use the docker engine", role)
	}
	return &Swarm{d: d, api: api, node: sw.NodeID}, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Swarm) Config() DockerConfig { return s.d.cfg }

// Close releases the client connection; it leaves every unit running.
func (s *Swarm) Close() error { return s.d.Close() }

// EnsureImage implements Runtime.
func (s *Swarm) EnsureImage(ctx context.Context, ref string, log io.Writer) error {
	return s.d.EnsureImage(ctx, ref, log)
}

// Prepare implements Runtime: the code volumes are this node's, which is
// why units are placed on it.
func (s *Swarm) Prepare(ctx context.Context, spec CodeSpec, log io.Writer) (Prepared, error) {
	return s.d.Prepare(ctx, spec, log)
}

// RemoveCode implements Runtime.
func (s *Swarm) RemoveCode(ctx context.Context, ref string) error { return s.d.RemoveCode(ctx, ref) }

// Codes implements Runtime.
func (s *Swarm) Codes(ctx context.Context) ([]Code, error) { return s.d.Codes(ctx) }

// CollectIncomplete removes what interrupted preparations left (see Docker.CollectIncomplete).
func (s *Swarm) CollectIncomplete(ctx context.Context) error { return s.d.CollectIncomplete(ctx) }

// ImageExists implements Runtime.
func (s *Swarm) ImageExists(ctx context.Context, ref string) (bool, error) {
	return s.d.ImageExists(ctx, ref)
}

// RemoveImage implements Runtime.
func (s *Swarm) RemoveImage(ctx context.Context, ref string) error { return s.d.RemoveImage(ctx, ref) }

// Images implements Runtime.
func (s *Swarm) Images(ctx context.Context) ([]Image, error) { return s.d.Images(ctx) }

// ---- networks ----

// ownerNetwork names the overlay network of owner's units.
func (s *Swarm) ownerNetwork(owner string) string {
	return sanitizeComponent(s.d.cfg.Network, 24) + "-" + sanitizeComponent(owner, 24) + "-" + shortHash(s.d.cfg.Prefix, "net", owner)
}

func appOwner(app string) string {
	owner, _, _ := strings.Cut(app, "/")
	return owner
}

// ensureOwnerNetwork creates owner's network if missing. The caller holds netMu.
func (s *Swarm) ensureOwnerNetwork(ctx context.Context, owner string) (string, error) {
	name := s.ownerNetwork(owner)
	nw, err := s.api.NetworkInspect(ctx, name, network.InspectOptions{Scope: "swarm"})
	if err == nil {
		if nw.Driver != "overlay" || nw.Labels[LabelPlatform] != "1" || nw.Labels[labelPrefix] != s.d.cfg.Prefix {
			return "", fmt.Errorf("network %s exists and is not an overlay network of this installation", name)
		}
		return name, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect network %s: %w", name, err)
	}
	_, err = s.api.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "overlay", Scope: "swarm", Attachable: true,
		Labels: map[string]string{LabelPlatform: "1", labelPrefix: s.d.cfg.Prefix, labelOwner: owner},
	})
	if err != nil {
		return "", fmt.Errorf("create network %s: %w", name, err)
	}
	return name, nil
}

// removeOwnerNetwork removes owner's network once no unit service of the
// owner is left. Swarm frees a network shortly after the tasks on it are
// gone, so a network still in use is tried again for a while.
func (s *Swarm) removeOwnerNetwork(ctx context.Context, owner string) error {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	f := s.d.ownFilters()
	f.Add("label", labelOwner+"="+owner)
	svcs, err := s.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list services of %s: %w", owner, err)
	}
	if len(svcs) > 0 {
		return nil
	}
	name := s.ownerNetwork(owner)
	return s.removeNetwork(ctx, name)
}

// removeNetwork removes a network, waiting while Swarm still counts tasks on it.
func (s *Swarm) removeNetwork(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := s.api.NetworkRemove(ctx, name)
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove network %s: %w", name, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RemoveNetworks removes every owner network of this installation. It
// fails while units are attached. Meant for tests and uninstall.
func (s *Swarm) RemoveNetworks(ctx context.Context) error {
	list, err := s.api.NetworkList(ctx, network.ListOptions{Filters: s.d.ownFilters()})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	var errs []error
	for _, nw := range list {
		if nw.Driver == "overlay" {
			errs = append(errs, s.removeNetwork(ctx, nw.Name))
		}
	}
	return errors.Join(errs...)
}

// Subnets returns the address ranges uploaded code connects to this host
// from: docker_gwbridge, through which every unit of this node leaves its
// overlay, and the default bridge of the install step. The gateway bridge
// is created as the engine would if no overlay container ran here yet.
func (s *Swarm) Subnets(ctx context.Context) ([]netip.Prefix, error) {
	if err := s.ensureGateway(ctx); err != nil {
		return nil, err
	}
	return s.d.subnetsOf(ctx, gatewayNetwork, installNetwork)
}

func (s *Swarm) ensureGateway(ctx context.Context) error {
	if _, err := s.api.NetworkInspect(ctx, gatewayNetwork, network.InspectOptions{}); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect network %s: %w", gatewayNetwork, err)
	}
	// The engine's own options for it: no traffic between containers.
	_, err := s.api.NetworkCreate(ctx, gatewayNetwork, network.CreateOptions{Driver: "bridge", Options: map[string]string{
		"com.docker.network.bridge.name": gatewayNetwork,
		optICC:                           "false",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
	}})
	if err != nil {
		if _, ierr := s.api.NetworkInspect(ctx, gatewayNetwork, network.InspectOptions{}); ierr == nil {
			return nil // created meanwhile by the engine
		}
		return fmt.Errorf("create network %s: %w", gatewayNetwork, err)
	}
	return nil
}

// ---- units ----

// serviceName is the name of the service of one unit: containerName,
// shortened to a DNS label when longer, keeping its hash of the inputs.
func serviceName(prefix, app, release string, index int) string {
	return dnsLabel(containerName(prefix, app, release, index))
}

// dnsLabel shortens a container name ending in a 10-character hash to a
// service name, keeping the hash.
func dnsLabel(name string) string {
	if len(name) <= maxServiceName {
		return name
	}
	hash := name[len(name)-10:]
	return strings.TrimRight(name[:maxServiceName-11], "-") + "-" + hash
}

// Start implements Runtime: it creates the unit's service and returns once
// its task runs (or has already exited: its exit arrives as an Event).
func (s *Swarm) Start(ctx context.Context, spec UnitSpec) (Unit, error) {
	name := serviceName(s.d.cfg.Prefix, spec.App, spec.Release, spec.Index)
	if spec.Image == "" || spec.App == "" {
		return Unit{}, fmt.Errorf("start unit %s: app and image are required", name)
	}
	if spec.pooled() && !poolPattern.MatchString(spec.Pool) {
		return Unit{}, fmt.Errorf("start unit %s: pool %q is no node label value (letters, digits, '.', '_' and '-')", name, spec.Pool)
	}
	svc := s.serviceSpec(name, spec)
	for _, nw := range spec.Networks {
		if err := s.checkServiceNetwork(ctx, nw); err != nil {
			return Unit{}, fmt.Errorf("start unit %s: %w", name, err)
		}
		svc.TaskTemplate.Networks = append(svc.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: nw})
	}
	id, err := s.createService(ctx, svc, appOwner(spec.App))
	if err != nil {
		return Unit{}, fmt.Errorf("start unit %s: %w", name, err)
	}
	t, err := s.waitTask(ctx, id)
	if err != nil && spec.pooled() && errors.Is(err, errUnschedulable) {
		err = fmt.Errorf("%w: no node of pool %q can run it (units of pool %s run on nodes labelled %s=%s: "+
			"`docker node update --label-add %s=%s NODE`)", err, spec.Pool, spec.Pool, LabelNodePool, spec.Pool, LabelNodePool, spec.Pool)
	}
	if err == nil {
		err = s.limitSwap(ctx, t)
	}
	if err != nil {
		// Leave no service behind to be restarted by Swarm; a cancelled
		// ctx still cleans up.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.removeService(cctx, id, appOwner(spec.App))
		return Unit{}, fmt.Errorf("start unit %s: %w", name, err)
	}
	gw, err := s.gatewayAddrs(ctx, []swarm.Task{t})
	if err != nil {
		return Unit{}, fmt.Errorf("start unit %s: %w", name, err)
	}
	return s.unitFromTask(t, gw), nil
}

// createService creates svc on owner's network (and the networks svc
// already names). A service of the same
// name is a leftover of an earlier attempt when its task does not run,
// which is safe to replace.
func (s *Swarm) createService(ctx context.Context, svc swarm.ServiceSpec, owner string) (string, error) {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	net, err := s.ensureOwnerNetwork(ctx, owner)
	if err != nil {
		return "", err
	}
	svc.TaskTemplate.Networks = append([]swarm.NetworkAttachmentConfig{{Target: net}}, svc.TaskTemplate.Networks...)
	resp, err := s.api.ServiceCreate(ctx, svc, swarm.ServiceCreateOptions{})
	if err != nil && cerrdefs.IsConflict(err) {
		if err = s.removeStale(ctx, svc.Name, owner); err == nil {
			resp, err = s.api.ServiceCreate(ctx, svc, swarm.ServiceCreateOptions{})
		}
	}
	if err != nil {
		return "", fmt.Errorf("create service: %w", err)
	}
	return resp.ID, nil
}

func (s *Swarm) removeStale(ctx context.Context, name, owner string) error {
	svc, _, err := s.api.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if !s.own(svc.Spec.Labels) {
		return fmt.Errorf("name %s is taken by a service the platform does not own", name)
	}
	tasks, err := s.tasksOf(ctx, svc.ID)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateRunning {
			return fmt.Errorf("unit %s is already running as task %s", name, t.ID)
		}
	}
	return s.removeServiceLocked(ctx, svc.ID)
}

func (s *Swarm) own(labels map[string]string) bool {
	return labels[LabelPlatform] == "1" && labels[labelPrefix] == s.d.cfg.Prefix
}

// errUnschedulable is waitTask's error for a task no node can take.
var errUnschedulable = errors.New("swarm cannot place the task")

// unschedulableFor is how long a task may stay pending with a scheduling
// error: Swarm tries again for ever, but the constraints of a unit (its
// pool, the manager) change only when an operator labels a node, so a
// task the scheduler refused a few times is a failed start, not a slow one.
const unschedulableFor = 5 * time.Second

// waitTask waits until the service's task runs or has stopped; a task
// Swarm refuses (no such image, a mount it cannot make) or cannot place
// on any node is an error.
func (s *Swarm) waitTask(ctx context.Context, serviceID string) (swarm.Task, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	wait := 20 * time.Millisecond
	var last swarm.Task
	var pendingSince time.Time
	for {
		tasks, err := s.tasksOf(ctx, serviceID)
		if err != nil && ctx.Err() == nil {
			return swarm.Task{}, err
		}
		for _, t := range tasks {
			last = t
			switch st := t.Status.State; {
			case st == swarm.TaskStateRejected:
				return t, fmt.Errorf("swarm rejected the task: %s", taskError(t))
			case st == swarm.TaskStateRunning, terminal(st) && containerOf(t) != "":
				return t, nil
			case st == swarm.TaskStatePending && t.Status.Err != "":
				if pendingSince.IsZero() {
					pendingSince = time.Now()
				} else if time.Since(pendingSince) > unschedulableFor {
					return t, fmt.Errorf("%w: %s", errUnschedulable, taskError(t))
				}
			}
		}
		select {
		case <-ctx.Done():
			if last.ID == "" {
				return swarm.Task{}, fmt.Errorf("no task scheduled: %w", ctx.Err())
			}
			return swarm.Task{}, fmt.Errorf("task %s still %s (%s): %w", last.ID, last.Status.State, taskError(last), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
}

func taskError(t swarm.Task) string {
	if t.Status.Err != "" {
		return t.Status.Err
	}
	return t.Status.Message
}

// terminal reports whether a task in state st will never run again.
func terminal(st swarm.TaskState) bool {
	switch st {
	case swarm.TaskStateComplete, swarm.TaskStateShutdown, swarm.TaskStateFailed,
		swarm.TaskStateRejected, swarm.TaskStateRemove, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

func containerOf(t swarm.Task) string {
	if cs := t.Status.ContainerStatus; cs != nil {
		return cs.ContainerID
	}
	return ""
}

// limitSwap gives the task's container as much swap as memory, i.e.
// none, as Docker.Start does: a service spec cannot say it. It reaches
// containers of this node only.
func (s *Swarm) limitSwap(ctx context.Context, t swarm.Task) error {
	cid := containerOf(t)
	if cid == "" || t.NodeID != s.node || t.Spec.Resources == nil || t.Spec.Resources.Limits == nil {
		return nil
	}
	mem := t.Spec.Resources.Limits.MemoryBytes
	_, err := s.api.ContainerUpdate(ctx, cid, container.UpdateConfig{Resources: container.Resources{Memory: mem, MemorySwap: mem}})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	// A container that has already exited needs no limit: it never runs
	// again (a restart is a new task, and a new container).
	if info, ierr := s.api.ContainerInspect(ctx, cid); ierr == nil && info.State != nil && !info.State.Running {
		return nil
	}
	return fmt.Errorf("limit swap of %s: %w", shortID(cid), err)
}

// Stop implements Runtime: it removes the unit's service and returns once
// its container is gone. A unit on this node gets grace to exit after
// SIGTERM; one on another node gets the service's stop grace.
func (s *Swarm) Stop(ctx context.Context, id string, grace time.Duration) error {
	t, _, err := s.api.TaskInspectWithRaw(ctx, id)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stop unit %s: %w", id, err)
	}
	if !s.ownTask(t) {
		return fmt.Errorf("stop unit %s: %w", id, ErrNotFound)
	}
	if cid := containerOf(t); cid != "" && t.NodeID == s.node && t.Status.State == swarm.TaskStateRunning {
		secs := int(max(grace+time.Second-1, 0) / time.Second) // whole seconds, rounded up
		if err := s.api.ContainerStop(ctx, cid, container.StopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop unit %s: %w", id, err)
		}
	}
	if err := s.removeService(ctx, t.ServiceID, t.Spec.ContainerSpec.Labels[labelOwner]); err != nil {
		return fmt.Errorf("stop unit %s: %w", id, err)
	}
	return nil
}

func (s *Swarm) ownTask(t swarm.Task) bool {
	return t.Spec.ContainerSpec != nil && s.own(t.Spec.ContainerSpec.Labels)
}

// removeService removes a unit's service, waits for its containers to go
// and removes the owner's network when it was the owner's last unit.
func (s *Swarm) removeService(ctx context.Context, serviceID, owner string) error {
	if err := s.removeServiceLocked(ctx, serviceID); err != nil {
		return err
	}
	if owner == "" {
		return nil
	}
	return s.removeOwnerNetwork(ctx, owner)
}

// removeServiceLocked removes a service and waits until neither a task of
// it nor its container on this node is left. It takes no lock itself: the
// name says its callers may hold netMu.
func (s *Swarm) removeServiceLocked(ctx context.Context, serviceID string) error {
	if err := s.api.ServiceRemove(ctx, serviceID); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove service %s: %w", serviceID, err)
	}
	return s.waitTasksGone(ctx, serviceID)
}

// waitTasksGone waits until neither a task of the service nor its
// container on this node is left.
func (s *Swarm) waitTasksGone(ctx context.Context, serviceID string) error {
	local := filters.NewArgs(filters.Arg("label", labelSwarmService+"="+serviceID))
	wait := 20 * time.Millisecond
	for {
		containers, err := s.api.ContainerList(ctx, container.ListOptions{All: true, Filters: local})
		if err != nil {
			return fmt.Errorf("remove service %s: list its containers: %w", serviceID, err)
		}
		tasks, err := s.api.TaskList(ctx, swarm.TaskListOptions{})
		if err != nil {
			return fmt.Errorf("remove service %s: list tasks: %w", serviceID, err)
		}
		left := len(containers)
		for _, t := range tasks {
			if t.ServiceID == serviceID {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove service %s: %d task(s) or container(s) left: %w", serviceID, left, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
}

// tasksOf lists the tasks of one service.
func (s *Swarm) tasksOf(ctx context.Context, serviceID string) ([]swarm.Task, error) {
	tasks, err := s.api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", serviceID))})
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", serviceID, err)
	}
	return tasks, nil
}

// tasks lists the tasks of every unit service of this installation. All
// tasks are listed and picked by service, rather than filtered by the
// services listed first: a filter naming a service removed in between
// fails the whole listing.
func (s *Swarm) tasks(ctx context.Context) ([]swarm.Task, error) {
	return s.tasksMatching(ctx, s.d.ownFilters(), s.ownTask)
}

// tasksMatching lists the tasks of the services f selects that keep accepts.
func (s *Swarm) tasksMatching(ctx context.Context, f filters.Args, keep func(swarm.Task) bool) ([]swarm.Task, error) {
	svcs, err := s.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	if len(svcs) == 0 {
		return nil, nil
	}
	ours := make(map[string]bool, len(svcs))
	for _, svc := range svcs {
		ours[svc.ID] = true
	}
	all, err := s.api.TaskList(ctx, swarm.TaskListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var out []swarm.Task
	for _, t := range all {
		if ours[t.ServiceID] && keep(t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Units implements Runtime: every task of every unit service, including
// the stopped ones Swarm keeps in a service's history (a dead unit stays
// listed, with its exit code, as a dead container does for Docker).
func (s *Swarm) Units(ctx context.Context) ([]Unit, error) {
	tasks, err := s.tasks(ctx)
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	gw, err := s.gatewayAddrs(ctx, tasks)
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	out := make([]Unit, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, s.unitFromTask(t, gw))
	}
	sortUnits(out)
	return out, nil
}

// gatewayAddrs maps the containers of this node to their docker_gwbridge
// addresses, when one of tasks runs here.
func (s *Swarm) gatewayAddrs(ctx context.Context, tasks []swarm.Task) (map[string]string, error) {
	if !slices.ContainsFunc(tasks, func(t swarm.Task) bool { return t.NodeID == s.node && t.Status.State == swarm.TaskStateRunning }) {
		return nil, nil
	}
	nw, err := s.api.NetworkInspect(ctx, gatewayNetwork, network.InspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect network %s: %w", gatewayNetwork, err)
	}
	out := make(map[string]string, len(nw.Containers))
	for cid, ep := range nw.Containers {
		if p, err := netip.ParsePrefix(ep.IPv4Address); err == nil {
			out[cid] = p.Addr().String()
		}
	}
	return out, nil
}

// unitFromTask is t as a Unit; gw maps this node's containers to their
// docker_gwbridge addresses. A unit of another node has no address yet.
func (s *Swarm) unitFromTask(t swarm.Task, gw map[string]string) Unit {
	u := Unit{ID: t.ID}
	var labels map[string]string
	if cs := t.Spec.ContainerSpec; cs != nil {
		labels = cs.Labels
		u.Image = cs.Image
	}
	u.App = labels[LabelApp]
	u.Snapshot = labels[LabelSnapshot]
	u.Release = labels[LabelRelease]
	u.Index, _ = strconv.Atoi(labels[LabelUnit])
	if cs := t.Status.ContainerStatus; cs != nil {
		u.ExitCode = cs.ExitCode
	}
	u.Running = t.Status.State == swarm.TaskStateRunning
	if !u.Running {
		return u
	}
	u.Started = t.Status.Timestamp
	port := labels[labelPort]
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	}
	if ip := gw[containerOf(t)]; ip != "" && t.NodeID == s.node {
		u.Addr = net.JoinHostPort(ip, port)
	}
	return u
}

// localContainer is the container of unit id when it runs on this node.
func (s *Swarm) localContainer(ctx context.Context, id string) (string, error) {
	t, _, err := s.api.TaskInspectWithRaw(ctx, id)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", ErrNotFound
		}
		return "", err
	}
	cid := containerOf(t)
	switch {
	case !s.ownTask(t) || cid == "":
		return "", ErrNotFound
	case t.NodeID != s.node:
		return "", fmt.Errorf("the unit runs on node %s, and this manager reaches containers of its own node only", t.NodeID)
	}
	return cid, nil
}

// Exec implements Executor for units on this node.
func (s *Swarm) Exec(ctx context.Context, id string, cmd []string, out io.Writer) (int, error) {
	cid, err := s.localContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", id, err)
	}
	return s.d.Exec(ctx, cid, cmd, out)
}
