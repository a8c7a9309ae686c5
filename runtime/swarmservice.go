package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	units "github.com/docker/go-units"
)

// Service instances on Swarm. Each instance is a Swarm service of one
// replica, hardened and sized as the Docker runtime's container, with the
// same three objects (data volume, network, server) and labels, so both
// engines' instances look alike to the platform:
//
//   - The data volume is a local volume of the node the instance first
//     started on (the manager, where the platform writes the password file
//     into it). The service is pinned there (node.id==<node>), and the node
//     is recorded in the service's LabelNode: StopService scales the
//     service to no replica rather than removing it, so the pin outlives
//     stops and platform restarts. Swarm moves nothing: when that node is
//     lost the instance is down, and its apps get connection errors, until
//     the node comes back with its volume; the platform does not start it
//     elsewhere on an empty volume. Moving it is a backup and restore.
//   - The instance's network is an attachable, internal overlay network
//     where the server answers to "svc-<id>". A unit joins it as Swarm
//     creates the unit's task (UnitSpec.Networks), on whichever node that
//     runs. It cannot join later: connecting a running task's container
//     with the engine's network API takes an address the managers did not
//     allocate, which a task started later on that network can be given
//     too. ConnectUnit therefore only checks that the unit has the network.
//   - The platform reaches servers (ServiceAddr, the mongodb probe)
//     through one more network, the installation's "reach" bridge: internal,
//     with no traffic between its members, scoped to the swarm so services
//     can use it, and as local as the manager's host. The internal overlay
//     gives no docker_gwbridge address, which is what keeps a server from
//     reaching out, as on the Docker runtime.

// LabelNode is, on a data service, the node that holds its volume.
const LabelNode = "paas.node"

// ownServiceSpec reports whether svc is instance id of this installation.
func (s *Swarm) ownServiceSpec(svc swarm.Service, id string) bool {
	return s.d.ownService(svc.Spec.Labels, id)
}

func (s *Swarm) reachNetwork() string {
	return sanitizeComponent(s.d.cfg.Prefix, 30) + "-svcreach-" + shortHash(s.d.cfg.Prefix, "service-reach")
}

// instanceService finds instance id's service: ErrNotFound when there
// is none.
func (s *Swarm) instanceService(ctx context.Context, id string) (swarm.Service, error) {
	name := dnsLabel(serviceContainerName(s.d.cfg.Prefix, id))
	svc, _, err := s.api.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return svc, fmt.Errorf("no service %s: %w", name, ErrNotFound)
		}
		return svc, fmt.Errorf("inspect service %s: %w", name, err)
	}
	if !s.ownServiceSpec(svc, id) {
		return svc, fmt.Errorf("the service name %s is taken by a service the platform does not own", name)
	}
	return svc, nil
}

// runningTask is the running task of a service, if any.
func (s *Swarm) runningTask(ctx context.Context, serviceID string) (swarm.Task, bool, error) {
	tasks, err := s.tasksOf(ctx, serviceID)
	if err != nil {
		return swarm.Task{}, false, err
	}
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning {
			return t, true, nil
		}
	}
	return swarm.Task{}, false, nil
}

// StartService implements ServiceRuntime.
func (s *Swarm) StartService(ctx context.Context, spec ServiceSpec) (Service, error) {
	spec, k, err := normalizeServiceSpec(spec)
	if err != nil {
		return Service{}, fmt.Errorf("start service: %w", err)
	}
	p := s.d.cfg.Prefix
	vol, netName := serviceVolumeName(p, spec.ID), serviceNetworkName(p, spec.ID)
	unlock := s.d.lockVolume(vol)
	defer unlock()

	node := s.node
	svc, err := s.instanceService(ctx, spec.ID)
	switch {
	case err == nil:
		if kind := svc.Spec.Labels[labelKind]; kind != spec.Kind {
			return Service{}, fmt.Errorf("start service %s: it runs as %s, not %s", spec.ID, kind, spec.Kind)
		}
		t, ok, err := s.runningTask(ctx, svc.ID)
		if err != nil {
			return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
		}
		if ok {
			return s.serviceFromTask(svc, t), nil
		}
		if n := svc.Spec.Labels[LabelNode]; n != "" {
			node = n
		}
	case !errors.Is(err, ErrNotFound):
		return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
	}
	if node != s.node {
		return Service{}, fmt.Errorf("start service %s: its data volume is on node %s, and this manager (node %s) "+
			"writes the password file of volumes of its own node only", spec.ID, node, s.node)
	}

	if err := s.d.EnsureImage(ctx, spec.Image, io.Discard); err != nil {
		return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
	}
	if err := s.d.ensureServiceVolume(ctx, spec, vol); err != nil {
		return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
	}
	if err := s.seedVolume(ctx, spec, k, vol); err != nil {
		return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
	}
	if err := s.d.ensureServiceNetworkWith(ctx, spec, netName, network.CreateOptions{
		Driver: "overlay", Scope: "swarm", Attachable: true, Internal: true,
	}); err != nil {
		return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
	}
	want := s.instanceSpec(spec, k, node)
	id, err := s.putInstance(ctx, svc, want)
	if err != nil {
		return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
	}
	t, err := s.waitTask(ctx, id)
	if errors.Is(err, errUnschedulable) {
		err = fmt.Errorf("%w: its data volume is on node %s, which cannot run it now (down, drained or gone); "+
			"it stays down until that node is back", err, node)
	}
	if err == nil {
		err = s.limitSwap(ctx, t)
	}
	if err != nil {
		// Stopped again rather than removed: the pin and the data stay.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = s.scaleInstance(cctx, id, 0)
		return Service{}, fmt.Errorf("start service %s: %w", spec.ID, err)
	}
	svc.ID, svc.Spec = id, want
	return s.serviceFromTask(svc, t), nil
}

// putInstance creates the instance's service, or updates the stopped one
// (found by StartService: svc.ID is set) to want, and returns its id.
func (s *Swarm) putInstance(ctx context.Context, svc swarm.Service, want swarm.ServiceSpec) (string, error) {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if err := s.ensureReachNetwork(ctx); err != nil {
		return "", err
	}
	if svc.ID == "" {
		resp, err := s.api.ServiceCreate(ctx, want, swarm.ServiceCreateOptions{})
		if err != nil {
			return "", fmt.Errorf("create service: %w", err)
		}
		return resp.ID, nil
	}
	// A new task even when want is the spec the service has (a server
	// that crashed for good, or one still pending): as the Docker runtime
	// makes a new container.
	want.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate + 1
	if _, err := s.api.ServiceUpdate(ctx, svc.ID, svc.Version, want, swarm.ServiceUpdateOptions{}); err != nil {
		return "", fmt.Errorf("update service: %w", err)
	}
	return svc.ID, nil
}

// seedVolume writes the password file into the data volume (creating the
// volume's content from the image, as the server's container would) with a
// container that never starts: Swarm starts a task's container as soon as
// it creates it, leaving no moment to copy a file in first.
func (s *Swarm) seedVolume(ctx context.Context, spec ServiceSpec, k serviceKind, vol string) error {
	created, err := s.d.api.ContainerCreate(ctx,
		&container.Config{Image: spec.Image, User: k.user, Labels: s.d.serviceLabels(spec.ID, spec.Kind), Cmd: []string{"true"}},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: k.dataDir}}},
		nil, nil, "")
	if err != nil {
		return fmt.Errorf("create the volume's seed container: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.d.api.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true})
	}()
	return s.d.writeServiceSecret(ctx, created.ID, spec, k)
}

// ensureReachNetwork creates the network the platform reaches servers
// on. The caller holds netMu.
func (s *Swarm) ensureReachNetwork(ctx context.Context) error {
	name := s.reachNetwork()
	nw, err := s.api.NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil {
		if nw.Labels[LabelPlatform] != PlatformService || nw.Labels[labelPrefix] != s.d.cfg.Prefix {
			return fmt.Errorf("network %s exists and is not this installation's", name)
		}
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	_, err = s.api.NetworkCreate(ctx, name, network.CreateOptions{
		Driver: "bridge", Scope: "swarm", Internal: true,
		Options: map[string]string{optICC: "false"},
		// No LabelService: ConnectUnit refuses it, it is no instance's.
		Labels: map[string]string{LabelPlatform: PlatformService, labelPrefix: s.d.cfg.Prefix},
	})
	if err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// instanceSpec is the hardening of Docker.StartService in Swarm's terms
// (see serviceSpec for what Swarm's specs cannot say).
func (s *Swarm) instanceSpec(spec ServiceSpec, k serviceKind, node string) swarm.ServiceSpec {
	labels := s.d.serviceLabels(spec.ID, spec.Kind)
	labels[LabelNode] = node
	grace := serviceStopGrace
	delay := swarmRestartDelay
	replicas := uint64(1)
	mounts := []mount.Mount{{Type: mount.TypeVolume, Source: serviceVolumeName(s.d.cfg.Prefix, spec.ID), Target: k.dataDir}}
	for _, target := range slices.Sorted(maps.Keys(k.tmpfs)) {
		mounts = append(mounts, mount.Mount{Type: mount.TypeTmpfs, Target: target, TmpfsOptions: swarmTmpfs(k.tmpfs[target])})
	}
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: dnsLabel(serviceContainerName(s.d.cfg.Prefix, spec.ID)), Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           spec.Image,
				Labels:          labels,
				Args:            serviceCmd(spec, k),
				Env:             serviceEnv(spec, k),
				User:            k.user,
				ReadOnly:        true,
				Mounts:          mounts,
				StopSignal:      k.stopSignal,
				StopGracePeriod: &grace,
				CapabilityDrop:  []string{"ALL"},
				Privileges:      &swarm.Privileges{NoNewPrivileges: true},
			},
			Resources: &swarm.ResourceRequirements{Limits: &swarm.Limit{
				MemoryBytes: spec.Memory, NanoCPUs: int64(spec.CPUs * 1e9), Pids: k.pids,
			}},
			// As the Docker runtime's unless-stopped: a crashed server
			// comes back, without limit, even while the platform is down.
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &delay},
			Placement:     &swarm.Placement{Constraints: []string{"node.id==" + node}},
			Networks: []swarm.NetworkAttachmentConfig{
				{Target: serviceNetworkName(s.d.cfg.Prefix, spec.ID), Aliases: []string{serviceHost(spec.ID)}},
				{Target: s.reachNetwork()},
			},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		// The name resolves to the task itself, as the Docker runtime's
		// alias does to its container.
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}
}

// swarmTmpfs is the size and mode of a tmpfs option string of the
// Docker runtime ("rw,noexec,size=16m,mode=1777"); Swarm mounts every
// tmpfs noexec, nosuid and nodev.
func swarmTmpfs(opts string) *mount.TmpfsOptions {
	var t mount.TmpfsOptions
	for _, o := range strings.Split(opts, ",") {
		key, val, _ := strings.Cut(o, "=")
		switch key {
		case "size":
			if n, err := units.RAMInBytes(val); err == nil {
				t.SizeBytes = n
			}
		case "mode":
			if m, err := strconv.ParseUint(val, 8, 32); err == nil {
				t.Mode = os.FileMode(m)
			}
		}
	}
	return &t
}

// scaleInstance sets the replicas of an instance's service and, for
// none, waits until its task and container are gone.
func (s *Swarm) scaleInstance(ctx context.Context, serviceID string, replicas uint64) error {
	svc, _, err := s.api.ServiceInspectWithRaw(ctx, serviceID, swarm.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %s: %w", serviceID, err)
	}
	if m := svc.Spec.Mode.Replicated; m == nil || m.Replicas == nil || *m.Replicas != replicas {
		svc.Spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}
		if _, err := s.api.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
			return fmt.Errorf("scale service %s: %w", serviceID, err)
		}
	}
	if replicas > 0 {
		return nil
	}
	return s.waitTasksGone(ctx, serviceID)
}

// StopService implements ServiceRuntime: the service stays, with no
// replica, keeping the node its data is on.
func (s *Swarm) StopService(ctx context.Context, id string) error {
	if err := validServiceID(id); err != nil {
		return fmt.Errorf("stop service: %w", err)
	}
	unlock := s.d.lockVolume(serviceVolumeName(s.d.cfg.Prefix, id))
	defer unlock()
	svc, err := s.instanceService(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err == nil {
		err = s.scaleInstance(ctx, svc.ID, 0)
	}
	if err != nil {
		return fmt.Errorf("stop service %s: %w", id, err)
	}
	return nil
}

// RemoveService implements ServiceRuntime. A unit still bound keeps the
// network: it names it in its own service, and Swarm frees the network
// once that unit is replaced (the platform refuses to delete a bound
// database, and unbinding restarts the app).
func (s *Swarm) RemoveService(ctx context.Context, id string) error {
	if err := validServiceID(id); err != nil {
		return fmt.Errorf("remove service: %w", err)
	}
	vol := serviceVolumeName(s.d.cfg.Prefix, id)
	unlock := s.d.lockVolume(vol)
	defer unlock()
	svc, err := s.instanceService(ctx, id)
	switch {
	case err == nil:
		if n := svc.Spec.Labels[LabelNode]; n != "" && n != s.node {
			return fmt.Errorf("remove service %s: its data volume is on node %s; remove the instance from there", id, n)
		}
		if err := s.removeServiceLocked(ctx, svc.ID); err != nil {
			return fmt.Errorf("remove service %s: %w", id, err)
		}
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("remove service %s: %w", id, err)
	}
	// The data before the network: a network a unit still holds fails
	// the removal, and should leave no data behind.
	if err := s.d.removeServiceVolume(ctx, id); err != nil {
		return fmt.Errorf("remove service %s: %w", id, err)
	}
	if err := s.removeNetwork(ctx, serviceNetworkName(s.d.cfg.Prefix, id)); err != nil {
		return fmt.Errorf("remove service %s: %w", id, err)
	}
	if err := s.removeReachNetwork(ctx); err != nil {
		return fmt.Errorf("remove service %s: %w", id, err)
	}
	return nil
}

// removeReachNetwork removes the reach network once no instance is left.
func (s *Swarm) removeReachNetwork(ctx context.Context) error {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	svcs, err := s.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: s.serviceFilters()})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	if len(svcs) > 0 {
		return nil
	}
	return s.removeNetwork(ctx, s.reachNetwork())
}

func (s *Swarm) serviceFilters() filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelPlatform+"="+PlatformService), filters.Arg("label", labelPrefix+"="+s.d.cfg.Prefix))
}

// Services implements ServiceRuntime: every instance, running or
// stopped; Container is the running task's container.
func (s *Swarm) Services(ctx context.Context) ([]Service, error) {
	svcs, err := s.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: s.serviceFilters()})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	out := make([]Service, 0, len(svcs))
	for _, svc := range svcs {
		if svc.Spec.Labels[LabelService] == "" {
			continue
		}
		t, _, err := s.runningTask(ctx, svc.ID)
		if err != nil && !cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("list services: %w", err)
		}
		out = append(out, s.serviceFromTask(svc, t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// serviceFromTask is instance svc as a Service; t is its running task,
// or the zero Task.
func (s *Swarm) serviceFromTask(svc swarm.Service, t swarm.Task) Service {
	out := s.d.serviceFromLabels(svc.Spec.Labels)
	out.Container = containerOf(t)
	out.Running = t.Status.State == swarm.TaskStateRunning
	return out
}

// runningService inspects the container of instance id, which must run on
// this node: the probes run in it.
func (s *Swarm) runningService(ctx context.Context, id string) (container.InspectResponse, serviceKind, error) {
	var info container.InspectResponse
	if err := validServiceID(id); err != nil {
		return info, serviceKind{}, err
	}
	svc, err := s.instanceService(ctx, id)
	if err != nil {
		return info, serviceKind{}, err
	}
	t, ok, err := s.runningTask(ctx, svc.ID)
	switch {
	case err != nil:
		return info, serviceKind{}, err
	case !ok:
		return info, serviceKind{}, errors.New("not running")
	case t.NodeID != s.node:
		return info, serviceKind{}, fmt.Errorf("it runs on node %s, and this manager reaches servers of its own node only", t.NodeID)
	}
	info, err = s.api.ContainerInspect(ctx, containerOf(t))
	if err != nil {
		return info, serviceKind{}, fmt.Errorf("inspect: %w", err)
	}
	k, err := s.d.checkServiceContainer(info, id)
	return info, k, err
}

// ProbeService implements ServiceRuntime, with the Docker runtime's probes.
func (s *Swarm) ProbeService(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	info, k, err := s.runningService(ctx, id)
	if err != nil {
		return fmt.Errorf("probe service %s: %w", id, err)
	}
	return s.d.probe(ctx, id, info, k, s.ServiceAddr)
}

// ServiceAddr implements ServiceRuntime: the server's address on the
// reach network, which the manager's host routes to.
func (s *Swarm) ServiceAddr(ctx context.Context, id string) (string, int, error) {
	info, k, err := s.runningService(ctx, id)
	if err != nil {
		return "", 0, fmt.Errorf("address of service %s: %w", id, err)
	}
	return addrOn(info, s.reachNetwork(), k, id)
}

// checkServiceNetwork fails unless name is an instance network of this
// installation that units can join (an overlay).
func (s *Swarm) checkServiceNetwork(ctx context.Context, name string) error {
	nw, err := s.d.serviceNetwork(ctx, name)
	if err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	if nw.Driver != "overlay" {
		return fmt.Errorf("network %s is a %s network of the docker engine, not an overlay network of the swarm", name, nw.Driver)
	}
	return nil
}

// ConnectUnit implements ServiceRuntime: on Swarm a unit joins service
// networks only as it starts (UnitSpec.Networks); this checks it did.
func (s *Swarm) ConnectUnit(ctx context.Context, unitID, networkName string) error {
	nw, err := s.d.serviceNetwork(ctx, networkName)
	if err != nil {
		return fmt.Errorf("connect unit %s to %s: %w", unitID, networkName, err)
	}
	t, _, err := s.api.TaskInspectWithRaw(ctx, unitID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("connect unit %s to %s: %w", unitID, networkName, ErrNotFound)
		}
		return fmt.Errorf("connect unit %s to %s: %w", unitID, networkName, err)
	}
	if !s.ownTask(t) {
		return fmt.Errorf("connect unit %s to %s: not a unit of this platform", unitID, networkName)
	}
	for _, a := range t.Spec.Networks {
		if a.Target == nw.ID || a.Target == nw.Name {
			return nil
		}
	}
	return fmt.Errorf("connect unit %s to %s: on the swarm engine a unit joins the networks of its databases when it starts "+
		"(restart the app)", unitID, networkName)
}

// DisconnectUnit implements ServiceRuntime: the unit's container on this
// node leaves the network at once; Swarm frees its address when the unit
// is replaced. A unit of another node keeps the network until then.
func (s *Swarm) DisconnectUnit(ctx context.Context, unitID, networkName string) error {
	cid, err := s.localContainer(ctx, unitID)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("disconnect unit %s from %s: %w", unitID, networkName, err)
	}
	return s.d.DisconnectUnit(ctx, cid, networkName)
}

var _ ServiceRuntime = (*Swarm)(nil)
