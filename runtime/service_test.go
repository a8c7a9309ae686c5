package runtime_test

// Tests of service instances: against a real engine (skipped without one
// or without an image to run, failing under CI=true), and of the Fake.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/selfhost/paas/runtime"
	"github.com/selfhost/paas/runtime/dockertest"
)

// passwordPunct starts every test password: the characters that need
// quoting in a redis configuration file and in a shell.
const passwordPunct = `p"w\ $x'`

// servicePassword is passwordPunct and a random part, which is what the tests
// look for where the password must not be (JSON would escape the rest).
func servicePassword() string { return passwordPunct + rand.Text()[:12] }

// serviceImage returns the image to run kind with: the official one when
// the engine has it, else the host-built one (.ci/run builds it with
// `paas service-image --from-host KIND`).
func serviceImage(t *testing.T, d runtime.Runtime, kind string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ref := range []string{runtime.DefaultServiceImage(kind), runtime.HostServiceImage(kind)} {
		ok, err := d.ImageExists(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return ref
		}
	}
	msg := fmt.Sprintf("neither %s nor %s exists (build it: go run . service-image --from-host %s)",
		runtime.DefaultServiceImage(kind), runtime.HostServiceImage(kind), kind)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// removeServicesAtCleanup removes every instance of d, and those of ids
// even without a container, before dockertest's own cleanup runs.
func removeServicesAtCleanup(t *testing.T, d runtime.ServiceRuntime, ids ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		list, err := d.Services(ctx)
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		for _, id := range ids {
			if err := d.RemoveService(ctx, id); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

func waitServiceHealthy(t *testing.T, ctx context.Context, d runtime.ServiceRuntime, id string) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < 90*time.Second {
		if err = d.ProbeService(ctx, id); err == nil {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("service %s not healthy after 90s: %v\n%s", id, err, serviceLogs(t, d, id))
	return 0
}

// serviceLogs is the output of instance id's container, for failure messages.
func serviceLogs(t *testing.T, d runtime.ServiceRuntime, id string) string {
	list, err := d.Services(context.Background())
	if err != nil {
		return err.Error()
	}
	for _, s := range list {
		if s.ID == id {
			return containerOutput(t, s.Container)
		}
	}
	return "(no container)"
}

func containerOutput(t *testing.T, cid string) string {
	rc, err := dockertest.Client(t).ContainerLogs(context.Background(), cid, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

// runClient runs cmd to its end in a short-lived container of image on the
// service network nw, as user, and returns its exit code and output. The
// container is removed whatever happens.
func runClient(t *testing.T, ctx context.Context, image, user, nw string, env, cmd []string) (int, string) {
	t.Helper()
	cli := dockertest.Client(t)
	created, err := cli.ContainerCreate(ctx,
		&container.Config{Image: image, User: user, Env: env, Entrypoint: cmd[:1], Cmd: cmd[1:]},
		&container.HostConfig{NetworkMode: container.NetworkMode(nw), CapDrop: []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges:true"}, ReadonlyRootfs: true,
			Tmpfs: map[string]string{"/tmp": "rw,size=8m"}},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{nw: {}}}, nil, "")
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove client: %v", err)
		}
	}()
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start client: %v", err)
	}
	var code int
	select {
	case res := <-waitC:
		code = int(res.StatusCode)
	case err := <-errC:
		t.Fatalf("wait for client: %v", err)
	}
	return code, strings.TrimSpace(containerOutput(t, created.ID))
}

// clientCommand is a command of the kind's own client against the instance,
// by its name on the network, with password pw.
func clientCommand(kind, host, pw string, args ...string) (user string, env, cmd []string) {
	if kind == runtime.KindRedis {
		return "redis", []string{"REDISCLI_AUTH=" + pw}, append([]string{"redis-cli", "--no-auth-warning", "-h", host, "-p", "6379"}, args...)
	}
	return "postgres", []string{"PGPASSWORD=" + pw, "PGCONNECT_TIMEOUT=5"},
		append([]string{"psql", "-h", host, "-U", runtime.PostgresUser, "-d", runtime.PostgresDatabase, "-v", "ON_ERROR_STOP=1", "-qtAc"}, args...)
}

// redisCommand sends one command over RESP to addr and returns its reply:
// the text of a status or bulk reply, "ERR:" and the message of an error.
func redisCommand(conn net.Conn, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"), strings.HasPrefix(line, ":"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "ERR:" + line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "(nil)", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

func TestDockerServices(t *testing.T) {
	t.Parallel() // engine-bound and independent: they overlap each other
	cases := []struct {
		kind  string
		port  int
		write []string // the client's arguments that store "persisted"
		read  []string // and print it back
		// denied is in the client's output when the password is wrong.
		denied string
	}{
		{runtime.KindRedis, 6379, []string{"SET", "k", "persisted"}, []string{"GET", "k"}, "WRONGPASS"},
		{runtime.KindPostgreSQL, 5432, []string{"CREATE TABLE t (v text); INSERT INTO t VALUES ('persisted')"},
			[]string{"SELECT v FROM t"}, "password authentication failed"},
		// No client in the images (mongosh is not in the host-built one): the
		// host checks that strangers are refused, and the platform's test
		// (paas/server TestDockerServices) writes and reads through an app.
		{kind: runtime.KindMongoDB, port: 27017},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			d := dockertest.New(t)
			image := serviceImage(t, d, c.kind)
			id := "t-" + c.kind
			removeServicesAtCleanup(t, d, id)
			cli := dockertest.Client(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			pw := servicePassword()
			spec := runtime.ServiceSpec{ID: id, Kind: c.kind, Image: image, Password: pw, Memory: 128 << 20}

			began := time.Now()
			svc, err := d.StartService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if svc.ID != id || svc.Kind != c.kind || svc.Port != c.port || svc.Host != "svc-"+id || svc.Network == "" || svc.Container == "" || !svc.Running {
				t.Fatalf("StartService = %+v", svc)
			}
			took := waitServiceHealthy(t, ctx, d, id)
			t.Logf("%s healthy %s after StartService (which took %s)", c.kind, took.Round(time.Millisecond), (time.Since(began) - took).Round(time.Millisecond))
			if again, err := d.StartService(ctx, spec); err != nil || again != svc {
				t.Fatalf("StartService again = %+v, %v; want the running %+v", again, err, svc)
			}
			if _, err := d.StartService(ctx, runtime.ServiceSpec{ID: id, Kind: otherKind(c.kind), Password: pw}); err == nil {
				t.Error("StartService of another kind under the same id succeeded")
			}

			// Hardened, labelled, and the password nowhere in the engine's view.
			info, err := cli.ContainerInspect(ctx, svc.Container)
			if err != nil {
				t.Fatal(err)
			}
			hc := info.HostConfig
			if !slices.Equal(hc.CapDrop, []string{"ALL"}) || len(hc.CapAdd) > 0 || !hc.ReadonlyRootfs ||
				!slices.Contains(hc.SecurityOpt, "no-new-privileges:true") || hc.PidsLimit == nil || *hc.PidsLimit <= 0 ||
				hc.Memory != 128<<20 || hc.MemorySwap != 128<<20 || hc.NanoCPUs != 500_000_000 || hc.RestartPolicy.Name != container.RestartPolicyUnlessStopped {
				t.Errorf("host config = caps -%v +%v, read-only %v, security %v, pids %v, memory %d/%d, cpus %d, restart %q",
					hc.CapDrop, hc.CapAdd, hc.ReadonlyRootfs, hc.SecurityOpt, hc.PidsLimit, hc.Memory, hc.MemorySwap, hc.NanoCPUs, hc.RestartPolicy.Name)
			}
			if info.Config.User == "" || info.Config.User == "root" || info.Config.User == "0" {
				t.Errorf("runs as %q", info.Config.User)
			}
			if raw, _ := json.Marshal(info); bytes.Contains(raw, []byte(pw[len(passwordPunct):])) {
				t.Error("the password is in the container's inspect output")
			}
			nw, err := cli.NetworkInspect(ctx, svc.Network, network.InspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !nw.Internal || nw.Options["com.docker.network.bridge.enable_icc"] != "true" {
				t.Errorf("network %s: internal %v, options %v; want internal with traffic between members", nw.Name, nw.Internal, nw.Options)
			}

			// Listed as a service, never as a unit.
			if list, err := d.Services(ctx); err != nil || len(list) != 1 || list[0] != svc {
				t.Errorf("Services = %+v, %v; want [%+v]", list, err, svc)
			}
			if units, err := d.Units(ctx); err != nil || len(units) != 0 {
				t.Errorf("Units = %+v, %v; want none", units, err)
			}
			if codes, err := d.Codes(ctx); err != nil || len(codes) != 0 {
				t.Errorf("Codes = %+v, %v; want none (the data volume is no code)", codes, err)
			}

			// A client on the instance's network, by its name, as an app would.
			if c.write != nil {
				user, env, cmd := clientCommand(c.kind, svc.Host, pw, c.write...)
				if code, out := runClient(t, ctx, image, user, svc.Network, env, cmd); code != 0 {
					t.Fatalf("write: exit %d: %s", code, out)
				}
				user, env, cmd = clientCommand(c.kind, svc.Host, "wrong", c.read...)
				if code, out := runClient(t, ctx, image, user, svc.Network, env, cmd); !strings.Contains(out, c.denied) || strings.Contains(out, "persisted") {
					t.Errorf("with a wrong password: exit %d: %s; want %q", code, out, c.denied)
				}
			}

			// From the host, at ServiceAddr.
			ip, port, err := d.ServiceAddr(ctx, id)
			if err != nil || port != c.port || net.ParseIP(ip) == nil {
				t.Fatalf("ServiceAddr = %q, %d, %v", ip, port, err)
			}
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), 5*time.Second)
			if err != nil {
				t.Fatalf("dial from the host: %v", err)
			}
			if c.kind == runtime.KindRedis {
				r := bufio.NewReader(conn)
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				for _, step := range []struct {
					args []string
					want string
				}{
					{[]string{"GET", "k"}, "ERR:NOAUTH"},
					{[]string{"AUTH", "wrong"}, "ERR:WRONGPASS"},
					{[]string{"AUTH", pw}, "OK"},
					{[]string{"GET", "k"}, "persisted"},
				} {
					if got, err := redisCommand(conn, r, step.args...); err != nil || !strings.HasPrefix(got, step.want) {
						t.Errorf("%s from the host = %q, %v; want %q", step.args[0], got, err, step.want)
					}
				}
			}
			conn.Close()
			if c.kind == runtime.KindMongoDB {
				ok, msg, err := runtime.MongoFindUnauthenticated(ctx, ip, port, runtime.MongoDatabase, "t")
				if err != nil || ok != 0 || !strings.Contains(strings.ToLower(msg), "auth") {
					t.Errorf("find without authentication = ok %v %q, %v; want refused", ok, msg, err)
				}
			}

			if logs := serviceLogs(t, d, id); strings.Contains(logs, pw) {
				t.Errorf("the server's log has the password:\n%s", logs)
			}

			// The data outlives the container.
			if err := d.StopService(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := d.StopService(ctx, id); err != nil {
				t.Errorf("StopService of a stopped instance: %v", err)
			}
			if list, err := d.Services(ctx); err != nil || len(list) != 0 {
				t.Errorf("Services after StopService = %+v, %v", list, err)
			}
			if err := d.ProbeService(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("ProbeService of a stopped instance = %v, want ErrNotFound", err)
			}
			if vols := serviceVolumes(t, ctx, id); len(vols) != 1 {
				t.Fatalf("volumes after StopService = %v, want one", vols)
			}
			if _, err := cli.NetworkInspect(ctx, svc.Network, network.InspectOptions{}); err != nil {
				t.Errorf("network after StopService: %v", err)
			}
			svc2, err := d.StartService(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if svc2.Container == svc.Container {
				t.Error("StartService after StopService kept the old container")
			}
			waitServiceHealthy(t, ctx, d, id)
			if c.read != nil {
				user, env, cmd := clientCommand(c.kind, svc.Host, pw, c.read...)
				if code, out := runClient(t, ctx, image, user, svc.Network, env, cmd); code != 0 || out != "persisted" {
					t.Errorf("read after a restart: exit %d: %q, want persisted", code, out)
				}
			}

			// Removal takes everything.
			if err := d.RemoveService(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := d.RemoveService(ctx, id); err != nil {
				t.Errorf("RemoveService of a removed instance: %v", err)
			}
			checkServiceGone(t, ctx, id, svc.Network, svc2.Container)
		})
	}
}

func otherKind(kind string) string {
	if kind == runtime.KindRedis {
		return runtime.KindPostgreSQL
	}
	return runtime.KindRedis
}

// checkServiceGone checks that instance id left no volume, no network
// nw and no container cid.
func checkServiceGone(t *testing.T, ctx context.Context, id, nw, cid string) {
	t.Helper()
	cli := dockertest.Client(t)
	if vols := serviceVolumes(t, ctx, id); len(vols) != 0 {
		t.Errorf("volumes after RemoveService = %v", vols)
	}
	if _, err := cli.NetworkInspect(ctx, nw, network.InspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("network after RemoveService: %v, want not found", err)
	}
	if _, err := cli.ContainerInspect(ctx, cid); !cerrdefs.IsNotFound(err) {
		t.Errorf("container after RemoveService: %v, want not found", err)
	}
}

// serviceVolumes lists the engine's volumes of instance id, whatever their prefix.
func serviceVolumes(t *testing.T, ctx context.Context, id string) []string {
	t.Helper()
	resp, err := dockertest.Client(t).VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", runtime.LabelService+"="+id))})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range resp.Volumes {
		names = append(names, v.Name)
	}
	return names
}

// redisProbeApp answers each request with what it gets from redis at
// $SVC_HOST after AUTH and PING, or the error of trying.
const redisProbeApp = `'use strict';
const net = require('net');
require('http').createServer((q, s) => {
  const c = net.connect({ host: process.env.SVC_HOST, port: 6379, timeout: 3000 });
  let got = '';
  const done = (text) => { c.destroy(); if (!s.writableEnded) s.end(text); };
  c.on('connect', () => {
    const pw = process.env.SVC_PASSWORD;
    c.write('*2\r\n$4\r\nAUTH\r\n$' + Buffer.byteLength(pw) + '\r\n' + pw + '\r\n*1\r\n$4\r\nPING\r\n');
  });
  c.on('data', (d) => { got += d; if (got.includes('PONG') || got.startsWith('-')) done(got); });
  c.on('timeout', () => done('timeout'));
  c.on('error', (e) => done('error ' + e.code));
}).listen(process.env.PORT);
process.on('SIGTERM', () => process.exit(0));
`

func TestDockerServiceUnitNetwork(t *testing.T) {
	t.Parallel() // engine-bound and independent: they overlap each other
	d := dockertest.New(t)
	image := serviceImage(t, d, runtime.KindRedis)
	base := dockertest.HostBase(t, d)
	const id = "t-bound"
	removeServicesAtCleanup(t, d, id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pw := servicePassword()
	svc, err := d.StartService(ctx, runtime.ServiceSpec{ID: id, Kind: runtime.KindRedis, Image: image, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	waitServiceHealthy(t, ctx, d, id)

	u, err := d.Start(ctx, runtime.UnitSpec{App: "test/bound", Snapshot: "s", Release: "r1", Image: base,
		Cmd: []string{"node", "-e", redisProbeApp}, Env: map[string]string{"SVC_HOST": svc.Host, "SVC_PASSWORD": pw}})
	if err != nil {
		t.Fatal(err)
	}
	ask := func() string {
		t.Helper()
		client := &http.Client{Timeout: 15 * time.Second}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := client.Get("http://" + u.Addr + "/")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return string(body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("unit never answered: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The name does not resolve: at once, or after the engine's resolver
	// asked the host's upstream servers in vain.
	if got := ask(); strings.Contains(got, "PONG") || !strings.HasPrefix(got, "error") && got != "timeout" {
		t.Fatalf("an unbound unit got %q from the instance, want a failure to resolve its name", got)
	}
	for range 2 { // connecting a connected unit is not an error
		if err := d.ConnectUnit(ctx, u.ID, svc.Network); err != nil {
			t.Fatal(err)
		}
	}
	if got := ask(); !strings.Contains(got, "+OK") || !strings.Contains(got, "+PONG") {
		t.Fatalf("a bound unit got %q from the instance, want +OK and +PONG", got)
	}
	if units, err := d.Units(ctx); err != nil || len(units) != 1 || units[0].Addr != u.Addr {
		t.Errorf("Units of a bound unit = %+v, %v; want its address on the platform network, %s", units, err, u.Addr)
	}
	if err := d.ConnectUnit(ctx, u.ID, d.Config().Network); err == nil {
		t.Error("ConnectUnit to the platform network, no service network, succeeded")
	}
	if err := d.ConnectUnit(ctx, u.ID, "bridge"); err == nil {
		t.Error("ConnectUnit to the engine's default bridge succeeded")
	}
	if err := d.ConnectUnit(ctx, "no-such-unit", svc.Network); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("ConnectUnit of a missing unit = %v, want ErrNotFound", err)
	}

	for range 2 { // disconnecting a disconnected unit is not an error
		if err := d.DisconnectUnit(ctx, u.ID, svc.Network); err != nil {
			t.Fatal(err)
		}
	}
	if got := ask(); strings.Contains(got, "PONG") {
		t.Fatalf("a unit still reached the instance after DisconnectUnit: %q", got)
	}

	// Bound units do not keep an instance from being removed.
	if err := d.ConnectUnit(ctx, u.ID, svc.Network); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveService(ctx, id); err != nil {
		t.Fatalf("RemoveService with a bound unit: %v", err)
	}
	if err := d.DisconnectUnit(ctx, u.ID, svc.Network); err != nil {
		t.Errorf("DisconnectUnit from a removed network: %v", err)
	}
	if got := ask(); strings.Contains(got, "PONG") {
		t.Errorf("the unit reached a removed instance: %q", got)
	}
}

// ---- the Fake ----

func TestFakeServiceSpecValidation(t *testing.T) {
	const pw = "s3cret-PASSWORD"
	for _, c := range []struct {
		name string
		spec runtime.ServiceSpec
	}{
		{"empty id", runtime.ServiceSpec{Kind: runtime.KindRedis, Password: pw}},
		{"upper-case id", runtime.ServiceSpec{ID: "Alice", Kind: runtime.KindRedis, Password: pw}},
		{"id ending in -", runtime.ServiceSpec{ID: "alice-", Kind: runtime.KindRedis, Password: pw}},
		{"id with /", runtime.ServiceSpec{ID: "a/b", Kind: runtime.KindRedis, Password: pw}},
		{"id too long", runtime.ServiceSpec{ID: strings.Repeat("a", 60), Kind: runtime.KindRedis, Password: pw}},
		{"couchdb", runtime.ServiceSpec{ID: "a", Kind: "couchdb", Password: pw}},
		{"no kind", runtime.ServiceSpec{ID: "a", Password: pw}},
		{"no password", runtime.ServiceSpec{ID: "a", Kind: runtime.KindPostgreSQL}},
		{"newline in password", runtime.ServiceSpec{ID: "a", Kind: runtime.KindRedis, Password: pw + "\nrename-command"}},
		{"password too long", runtime.ServiceSpec{ID: "a", Kind: runtime.KindRedis, Password: strings.Repeat(pw, 100)}},
		{"negative memory", runtime.ServiceSpec{ID: "a", Kind: runtime.KindRedis, Password: pw, Memory: -1}},
		{"too little memory", runtime.ServiceSpec{ID: "a", Kind: runtime.KindRedis, Password: pw, Memory: 1 << 20}},
		{"negative CPUs", runtime.ServiceSpec{ID: "a", Kind: runtime.KindRedis, Password: pw, CPUs: -1}},
		{"image with a newline", runtime.ServiceSpec{ID: "a", Kind: runtime.KindRedis, Password: pw, Image: "redis\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runtime.NewFake().StartService(context.Background(), c.spec)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestFakeServices(t *testing.T) {
	ctx := context.Background()
	f := runtime.NewFake()
	defer f.Close()
	spec := runtime.ServiceSpec{ID: "alice-cache", Kind: runtime.KindRedis, Password: "pw"}
	svc, err := f.StartService(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !svc.Running || svc.Port != 6379 || svc.Host != "svc-alice-cache" || svc.Network == "" || svc.Container == "" {
		t.Fatalf("StartService = %+v", svc)
	}
	if again, err := f.StartService(ctx, spec); err != nil || again != svc {
		t.Fatalf("StartService again = %+v, %v; want %+v", again, err, svc)
	}
	if err := f.ProbeService(ctx, spec.ID); err != nil {
		t.Errorf("ProbeService = %v", err)
	}
	if ip, port, err := f.ServiceAddr(ctx, spec.ID); err != nil || port != 6379 || !strings.HasPrefix(ip, "192.0.2.") {
		t.Errorf("ServiceAddr = %s, %d, %v", ip, port, err)
	}
	if _, err := f.StartService(ctx, runtime.ServiceSpec{ID: spec.ID, Kind: runtime.KindPostgreSQL, Password: "pw"}); err == nil {
		t.Error("StartService of another kind under a running id succeeded")
	}
	pg, err := f.StartService(ctx, runtime.ServiceSpec{ID: "alice-db", Kind: runtime.KindPostgreSQL, Password: "pw"})
	if err != nil || pg.Port != 5432 {
		t.Fatalf("StartService postgresql = %+v, %v", pg, err)
	}
	if list, _ := f.Services(ctx); len(list) != 2 || list[0] != svc || list[1] != pg {
		t.Errorf("Services = %+v, want alice-cache and alice-db sorted by id", list)
	}
	if units, _ := f.Units(ctx); len(units) != 0 {
		t.Errorf("Units = %+v, want none", units)
	}

	// A crash: listed, not running, failing its probe, until started again.
	if err := f.KillService(spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.ProbeService(ctx, spec.ID); err == nil {
		t.Error("ProbeService of a killed instance succeeded")
	}
	if list, _ := f.Services(ctx); len(list) != 2 || list[0].Running || !list[1].Running {
		t.Errorf("Services after KillService = %+v", list)
	}
	if restarted, err := f.StartService(ctx, spec); err != nil || !restarted.Running || restarted.Container == svc.Container {
		t.Errorf("StartService of a killed instance = %+v, %v; want a new running container", restarted, err)
	}

	// Binding units.
	u, err := f.Start(ctx, runtime.UnitSpec{App: "alice/web", Snapshot: "s", Release: "r", Image: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ConnectUnit(ctx, u.ID, svc.Network); err != nil {
		t.Fatal(err)
	}
	if err := f.ConnectUnit(ctx, u.ID, pg.Network); err != nil {
		t.Fatal(err)
	}
	if got := f.UnitNetworks(u.ID); !slices.Equal(got, []string{pg.Network, svc.Network}) && !slices.Equal(got, []string{svc.Network, pg.Network}) {
		t.Errorf("UnitNetworks = %v", got)
	}
	if err := f.ConnectUnit(ctx, "fake-999", svc.Network); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("ConnectUnit of a missing unit = %v, want ErrNotFound", err)
	}
	if err := f.ConnectUnit(ctx, u.ID, "paas"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("ConnectUnit to no service network = %v, want ErrNotFound", err)
	}
	if err := f.DisconnectUnit(ctx, u.ID, pg.Network); err != nil {
		t.Fatal(err)
	}
	if err := f.DisconnectUnit(ctx, u.ID, "nothing"); err != nil {
		t.Errorf("DisconnectUnit from an unknown network = %v", err)
	}
	if got := f.UnitNetworks(u.ID); !slices.Equal(got, []string{svc.Network}) {
		t.Errorf("UnitNetworks after DisconnectUnit = %v", got)
	}

	// Stop keeps the data (and so the kind); Remove forgets it.
	if err := f.StopService(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.StopService(ctx, spec.ID); err != nil {
		t.Errorf("StopService twice: %v", err)
	}
	if err := f.ProbeService(ctx, spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("ProbeService of a stopped instance = %v, want ErrNotFound", err)
	}
	if got := f.UnitNetworks(u.ID); !slices.Equal(got, []string{svc.Network}) {
		t.Errorf("UnitNetworks after StopService = %v; the network stays", got)
	}
	if _, err := f.StartService(ctx, runtime.ServiceSpec{ID: spec.ID, Kind: runtime.KindPostgreSQL, Password: "pw"}); err == nil {
		t.Error("StartService of another kind over kept data succeeded")
	}
	if err := f.RemoveService(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveService(ctx, spec.ID); err != nil {
		t.Errorf("RemoveService twice: %v", err)
	}
	if got := f.UnitNetworks(u.ID); len(got) != 0 {
		t.Errorf("UnitNetworks after RemoveService = %v", got)
	}
	if _, err := f.StartService(ctx, runtime.ServiceSpec{ID: spec.ID, Kind: runtime.KindPostgreSQL, Password: "pw"}); err != nil {
		t.Errorf("StartService of another kind after RemoveService: %v", err)
	}
}
