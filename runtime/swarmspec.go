package runtime

import (
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
			Placement: &swarm.Placement{Constraints: []string{"node.id==" + s.node}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		// No virtual IP and no published port: units are dialled at their
		// own addresses (see Swarm).
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR},
	}
}
