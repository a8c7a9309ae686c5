package runtime_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// tcpProbeApp answers each request with what the server at
// $SVC_HOST:$SVC_PORT answers to the bytes of $SVC_SEND (base64), or the
// error of trying: a unit reaching its database, or failing to.
const tcpProbeApp = `'use strict';
const net = require('net');
require('http').createServer((q, s) => {
  const c = net.connect({ host: process.env.SVC_HOST, port: Number(process.env.SVC_PORT), timeout: 3000 });
  let got = '';
  const done = (text) => { c.destroy(); if (!s.writableEnded) s.end(text); };
  c.on('connect', () => c.write(Buffer.from(process.env.SVC_SEND, 'base64')));
  c.on('data', (d) => { got += d; setTimeout(() => done('got ' + got), 300); });
  c.on('timeout', () => done('timeout'));
  c.on('error', (e) => done('error ' + e.code));
}).listen(process.env.PORT);
process.on('SIGTERM', () => process.exit(0));
`

// swarmNode is the id of the engine's swarm node.
func swarmNode(t *testing.T, ctx context.Context) string {
	t.Helper()
	info, err := dockertest.Client(t).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.Swarm.NodeID
}

// askUnit is the body a unit answers at addr.
func askUnit(t *testing.T, addr string) string {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("unit at %s never answered: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSwarmServices: database instances as Swarm services, hardened and
// pinned to their volume's node, reached by the units started on their
// network and by no other owner's, keeping their data across a stop, and
// leaving nothing once removed.
func TestSwarmServices(t *testing.T) {
	s, base, ctx, _ := swarmEngine(t, 10*time.Minute)
	cli := dockertest.Client(t)
	node := swarmNode(t, ctx)
	cases := []struct {
		kind        string
		port        int
		hello, want string   // what a unit sends, and the start of the answer
		write, read []string // a client's arguments that store "persisted" and print it back
	}{
		{kind: runtime.KindRedis, port: 6379, want: "got +OK\r\n+PONG",
			write: []string{"SET", "k", "persisted"}, read: []string{"GET", "k"}},
		// An SSLRequest, which postgres answers with one byte: N.
		{kind: runtime.KindPostgreSQL, port: 5432, hello: "\x00\x00\x00\x08\x04\xd2\x16\x2f", want: "got N",
			write: []string{"CREATE TABLE t (v text); INSERT INTO t VALUES ('persisted')"}, read: []string{"SELECT v FROM t"}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			image := serviceImage(t, s, c.kind)
			id := "t-" + c.kind
			removeServicesAtCleanup(t, s, id)
			pw := servicePassword()
			if c.kind == runtime.KindRedis {
				c.hello = "*2\r\n$4\r\nAUTH\r\n$" + strconv.Itoa(len(pw)) + "\r\n" + pw + "\r\n*1\r\n$4\r\nPING\r\n"
			}
			spec := runtime.ServiceSpec{ID: id, Kind: c.kind, Image: image, Password: pw, Memory: 128 << 20}
			svc, err := s.StartService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if svc.ID != id || svc.Port != c.port || svc.Host != "svc-"+id || svc.Network == "" || svc.Container == "" || !svc.Running {
				t.Fatalf("StartService = %+v", svc)
			}
			waitServiceHealthy(t, ctx, s, id)
			if again, err := s.StartService(ctx, spec); err != nil || again != svc {
				t.Fatalf("StartService again = %+v, %v; want the running %+v", again, err, svc)
			}
			checkInstanceService(t, ctx, s, id, node, pw)

			// From the host, at ServiceAddr.
			ip, port, err := s.ServiceAddr(ctx, id)
			if err != nil || port != c.port {
				t.Fatalf("ServiceAddr = %q, %d, %v", ip, port, err)
			}
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), 5*time.Second)
			if err != nil {
				t.Fatalf("dial from the host: %v", err)
			}
			conn.Close()

			// From a unit started on its network, and not from another
			// owner's unit.
			env := map[string]string{"SVC_HOST": svc.Host, "SVC_PORT": strconv.Itoa(c.port), "SVC_SEND": base64.StdEncoding.EncodeToString([]byte(c.hello))}
			unit := func(app string, networks ...string) runtime.Unit {
				u, err := s.Start(ctx, runtime.UnitSpec{App: app, Snapshot: "s", Release: "r1", Image: base,
					Cmd: []string{"node", "-e", tcpProbeApp}, Env: env, Networks: networks})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Stop(context.Background(), u.ID, 0) })
				return u
			}
			mine := unit("alice/app", svc.Network)
			// Another owner's unit dials the server's own address: no name
			// of the instance resolves there.
			ci, err := cli.ContainerInspect(ctx, svc.Container)
			if err != nil {
				t.Fatal(err)
			}
			env["SVC_HOST"] = ci.NetworkSettings.Networks[svc.Network].IPAddress
			theirs := unit("bob/app")
			if got := askUnit(t, mine.Addr); !strings.HasPrefix(got, c.want) {
				t.Errorf("the bound unit got %q, want %q", got, c.want)
			}
			if err := s.ConnectUnit(ctx, mine.ID, svc.Network); err != nil {
				t.Errorf("ConnectUnit of a unit started on the network: %v", err)
			}
			// An answer of the server's, not a connection, is what counts: the
			// host may accept connections to addresses it routes elsewhere.
			if got := askUnit(t, theirs.Addr); strings.HasPrefix(got, c.want) {
				t.Errorf("another owner's unit got %q from the instance", got)
			} else {
				t.Logf("another owner's unit: %s", got)
			}
			if err := s.ConnectUnit(ctx, theirs.ID, svc.Network); err == nil {
				t.Error("ConnectUnit of a unit started without the network succeeded")
			}
			if err := s.ConnectUnit(ctx, mine.ID, s.Config().Network); err == nil {
				t.Error("ConnectUnit to no service network succeeded")
			}

			// The data outlives the task, and the service keeps its node.
			user, cenv, cmd := clientCommand(c.kind, svc.Host, pw, c.write...)
			if code, out := runClient(t, ctx, image, user, svc.Network, cenv, cmd); code != 0 {
				t.Fatalf("write: exit %d: %s", code, out)
			}
			for range 2 {
				if err := s.StopService(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if list, err := s.Services(ctx); err != nil || len(list) != 1 || list[0].Running || list[0].Container != "" {
				t.Errorf("Services after StopService = %+v, %v; want it stopped", list, err)
			}
			if _, err := cli.ContainerInspect(ctx, svc.Container); !cerrdefs.IsNotFound(err) {
				t.Errorf("container after StopService: %v, want not found", err)
			}
			if err := s.ProbeService(ctx, id); err == nil {
				t.Error("ProbeService of a stopped instance succeeded")
			}
			svc2, err := s.StartService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			waitServiceHealthy(t, ctx, s, id)
			checkInstanceService(t, ctx, s, id, node, pw)
			user, cenv, cmd = clientCommand(c.kind, svc.Host, pw, c.read...)
			if code, out := runClient(t, ctx, image, user, svc.Network, cenv, cmd); code != 0 || out != "persisted" {
				t.Errorf("read after a restart: exit %d: %q, want persisted", code, out)
			}

			// Swarm restarts a crashed server as a new container, which
			// gets no swap either.
			if err := cli.ContainerKill(ctx, svc2.Container, "KILL"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				list, err := s.Services(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(list) == 1 && list[0].Running && list[0].Container != svc2.Container {
					if ci, err := cli.ContainerInspect(ctx, list[0].Container); err == nil && ci.HostConfig.MemorySwap == ci.HostConfig.Memory {
						svc2 = list[0]
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no restarted server without swap within 60s: %+v", list)
				}
				time.Sleep(200 * time.Millisecond)
			}
			waitServiceHealthy(t, ctx, s, id)

			// Off the network, the unit's container reaches it no more.
			for range 2 {
				if err := s.DisconnectUnit(ctx, mine.ID, svc.Network); err != nil {
					t.Fatal(err)
				}
			}
			if got := askUnit(t, mine.Addr); strings.HasPrefix(got, c.want) {
				t.Errorf("a unit still reached the instance after DisconnectUnit: %q", got)
			}

			// Removal takes everything, once the bound unit is gone.
			if err := s.Stop(ctx, mine.ID, 0); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := s.RemoveService(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			checkServiceGone(t, ctx, id, svc.Network, svc2.Container)
			if list, err := s.Services(ctx); err != nil || len(list) != 0 {
				t.Errorf("Services after RemoveService = %+v, %v", list, err)
			}
		})
	}
}

// checkInstanceService checks the service of instance id: pinned to node
// (and saying so in its labels), hardened as the Docker runtime's
// container, on no network with a way out, and without the password.
func checkInstanceService(t *testing.T, ctx context.Context, s *runtime.Swarm, id, node, pw string) {
	t.Helper()
	cli := dockertest.Client(t)
	list, err := s.Services(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("Services = %+v, %v", list, err)
	}
	svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(svcs, func(svc swarm.Service) bool { return svc.Spec.Labels[runtime.LabelService] == id })
	if i < 0 {
		t.Fatalf("no service of %s", id)
	}
	svc := svcs[i]
	if p := svc.Spec.TaskTemplate.Placement; p == nil || !slices.Contains(p.Constraints, "node.id=="+node) || svc.Spec.Labels[runtime.LabelNode] != node {
		t.Errorf("placement %+v, labels %v; want pinned to node %s", p, svc.Spec.Labels, node)
	}
	if raw, _ := json.Marshal(svc); bytes.Contains(raw, []byte(pw[len(passwordPunct):])) {
		t.Error("the password is in the service's spec")
	}
	info, err := cli.ContainerInspect(ctx, list[0].Container)
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || len(hc.CapAdd) > 0 || !hc.ReadonlyRootfs || hc.PidsLimit == nil || *hc.PidsLimit <= 0 ||
		hc.Memory != 128<<20 || hc.MemorySwap != 128<<20 || hc.NanoCPUs != 500_000_000 {
		t.Errorf("host config = caps -%v +%v, read-only %v, pids %v, memory %d/%d, cpus %d",
			hc.CapDrop, hc.CapAdd, hc.ReadonlyRootfs, hc.PidsLimit, hc.Memory, hc.MemorySwap, hc.NanoCPUs)
	}
	if u := info.Config.User; u == "" || u == "root" || u == "0" {
		t.Errorf("runs as %q", u)
	}
	for name := range info.NetworkSettings.Networks {
		nw, err := cli.NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !nw.Internal {
			t.Errorf("the server is on %s, a network with a way out", name)
		}
	}
	if raw, _ := json.Marshal(info); bytes.Contains(raw, []byte(pw[len(passwordPunct):])) {
		t.Error("the password is in the container's inspect output")
	}
}

// TestSwarmPools: a unit of a pool runs on a node labelled with it, and
// one of a pool no node has fails to start at once, leaving no service.
func TestSwarmPools(t *testing.T) {
	s, base, ctx, _ := swarmEngine(t, 3*time.Minute)
	cli := dockertest.Client(t)
	nodeID := swarmNode(t, ctx)
	label := func(set func(map[string]string)) {
		t.Helper()
		n, _, err := cli.NodeInspectWithRaw(ctx, nodeID)
		if err != nil {
			t.Fatal(err)
		}
		if n.Spec.Labels == nil {
			n.Spec.Labels = map[string]string{}
		}
		set(n.Spec.Labels)
		if err := cli.NodeUpdate(ctx, n.ID, n.Version, n.Spec); err != nil {
			t.Fatal(err)
		}
	}
	n, _, err := cli.NodeInspectWithRaw(ctx, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := n.Spec.Labels[runtime.LabelNodePool]; ok {
		t.Skipf("the node already is in pool %q: the test labels no node it did not make", v)
	}
	pool := "t" + strings.ToLower(s.Config().Prefix)
	label(func(l map[string]string) { l[runtime.LabelNodePool] = pool })
	t.Cleanup(func() {
		label(func(l map[string]string) {
			if l[runtime.LabelNodePool] == pool {
				delete(l, runtime.LabelNodePool)
			}
		})
	})
	start := func(app, pool string) (runtime.Unit, error) {
		return s.Start(ctx, runtime.UnitSpec{App: app, Snapshot: "s", Release: "r1", Image: base, Pool: pool,
			Cmd: []string{"node", "-e", `require('http').createServer((q, s) => s.end('pooled')).listen(process.env.PORT)`}})
	}

	u, err := start("alice/pooled", pool)
	if err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, u.Addr, "pooled")
	task, _, err := cli.TaskInspectWithRaw(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p := task.Spec.Placement; p == nil || !slices.Contains(p.Constraints, "node.labels."+runtime.LabelNodePool+"=="+pool) {
		t.Errorf("placement of a pooled unit = %+v", p)
	}
	if err := s.Stop(ctx, u.ID, 0); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	_, err = start("alice/stranded", "nowhere")
	if err == nil {
		t.Fatal("a unit of a pool no node has started")
	}
	if !strings.Contains(err.Error(), `"nowhere"`) || time.Since(began) > 30*time.Second {
		t.Errorf("Start of a unit of an unlabelled pool: %v after %s; want an error naming the pool within 30s", err, time.Since(began).Round(time.Second))
	}
	t.Logf("unlabelled pool: %v", err)
	if units, err := s.Units(ctx); err != nil || len(units) != 0 {
		t.Errorf("a failed Start left units: %+v, %v", units, err)
	}
	svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range svcs {
		if svc.Spec.Labels[runtime.LabelApp] == "alice/stranded" {
			t.Errorf("a failed Start left service %s", svc.Spec.Name)
		}
	}

	if _, err := start("alice/odd", "a pool==x"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start with a pool that is no label value = %v, want a refusal", err)
	}
}
