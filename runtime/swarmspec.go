package runtime

import (
	"regexp"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
)

// The restart policy of units. The deployer marks an app errored after
// more than five exits in two minutes; Swarm, which restarts without the
// platform, gives up after as many.
const (
	swarmRestartDelay    = 2 * time.Second
	swarmRestartAttempts = 5
	swarmRestartWindow   = 2 * time.Minute
)

// swarmStopGrace is the grace Swarm gives a unit it stops itself: when
// Stop removes a unit running on another node, and when Swarm reschedules.
const swarmStopGrace = 10 * time.Second

// tmpfsBytes bounds /tmp as tmpfsSize does for the Docker runtime.
const tmpfsBytes = 64 << 20

// serviceSpec is the hardening of Docker.Start in Swarm's terms. Swarm's
// specs have no swap limit (limitSwap sets it on the container) and no
// tmpfs options beyond size and mode (the engine mounts them noexec,
// nosuid and nodev). Engines before API 1.44 (Docker 25) drop
// NoNewPrivileges from service specs: there, only a daemon-wide
// "no-new-privileges" gives units that flag.
func (s *Swarm) serviceSpec(name string, spec UnitSpec) swarm.ServiceSpec {
	port := spec.Port
	if port == 0 {
		port = DefaultPort
	}
	lim := spec.Limits.or(s.d.cfg.Defaults)
	labels := unitLabels(s.d.cfg.Prefix, spec, port)
	labels[labelOwner] = appOwner(spec.App)
	useInit := true
	grace := swarmStopGrace
	delay, attempts, window := swarmRestartDelay, uint64(swarmRestartAttempts), swarmRestartWindow
	replicas := uint64(1)
	mounts := append(unitMounts(spec), mount.Mount{Type: mount.TypeTmpfs, Target: "/tmp",
		TmpfsOptions: &mount.TmpfsOptions{SizeBytes: tmpfsBytes, Mode: 0o1777}})
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:  spec.Image,
				Labels: labels,
				Args:   spec.Cmd, // Args is the container's Cmd; Command would replace the entrypoint
				Env:    unitEnv(spec, port),
				User:   unitUser,
				// See Docker.Start: SIGTERM reaches the app through init.
				Init:            &useInit,
				ReadOnly:        true,
				Mounts:          mounts,
				StopGracePeriod: &grace,
				CapabilityDrop:  []string{"ALL"},
				Privileges:      &swarm.Privileges{NoNewPrivileges: true},
			},
			Resources: &swarm.ResourceRequirements{Limits: &swarm.Limit{
				MemoryBytes: lim.MemoryBytes, NanoCPUs: lim.NanoCPUs, Pids: lim.Pids,
			}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure,
				Delay: &delay, MaxAttempts: &attempts, Window: &window},
			Placement: &swarm.Placement{Constraints: unitConstraints(s.node, spec)},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		// No virtual IP and no published port: units are dialled at their
		// own addresses (see Swarm).
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}
}

// LabelNodePool is the node label that puts a node in a pool: the units
// of an app of pool P run only on nodes with paas.pool=P (set with
// `docker node update --label-add paas.pool=P NODE`). The default pool
// has no label and no constraint: its units run on any node. A node is in
// one pool at most, as a label has one value.
const LabelNodePool = "paas.pool"

// poolPattern is what a pool name may be to make a placement constraint.
var poolPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// defaultPool is the platform's name of the pool of apps that name none.
const defaultPool = "default"

// pooled reports whether the unit must run on nodes of its pool.
func (spec UnitSpec) pooled() bool { return spec.Pool != "" && spec.Pool != defaultPool }

// unitConstraints places a unit on node, which holds the code volumes
// (until code reaches other nodes), and on a node of its pool: on one
// node, an app of a pool that node is not labelled with cannot start.
func unitConstraints(node string, spec UnitSpec) []string {
	c := []string{"node.id==" + node}
	if spec.pooled() {
		c = append(c, "node.labels."+LabelNodePool+"=="+spec.Pool)
	}
	return c
}
