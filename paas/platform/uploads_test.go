package platform_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// zeros is a .tgz of n files of size bytes of zeros: tiny compressed.
func zeros(t testing.TB, n int, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "package.json", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("{}"))
	block := make([]byte, 1<<20)
	for i := range n {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("z%d", i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
		for w := int64(0); w < size; w += int64(len(block)) {
			tw.Write(block[:min(int64(len(block)), size-w)])
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// peakHeap runs fn and returns how far the live heap rose above where it
// was before, sampled every millisecond.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if peak.Load() < base {
		return 0
	}
	return peak.Load() - base
}

// TestUploadMemoryIsBounded: an upload that unpacks to far more than it
// weighs (files of zeros) costs little memory, as its contents go to a
// spool file while it is checked; and one owner cannot unpack several
// uploads at once.
func TestUploadMemoryIsBounded(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{Archive: paas.ArchiveLimits{MaxFiles: 100, MaxBytes: 64 << 20}})
	ctx, pr := context.Background(), tp.AdminPrincipal(t)
	if _, err := tp.CreateApp(ctx, pr, "admin", paas.AppSpec{Name: "big"}); err != nil {
		t.Fatal(err)
	}
	attack := zeros(t, 8, 10<<20) // 80 MiB of zeros in a few hundred KB
	t.Logf("attack upload: %d bytes, unpacks to 80 MiB", len(attack))
	var err error
	rise := peakHeap(func() {
		_, err = tp.UploadSnapshot(ctx, pr, "admin", "big", "v1", bytes.NewReader(attack))
	})
	if status, _, _ := paas.ErrorStatus(err); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("the attack upload: %v, want 413", err)
	}
	t.Logf("peak heap rise during the refused upload: %d KiB", rise>>10)
	if rise > 16<<20 {
		t.Errorf("the refused upload raised the heap by %d MiB; its contents should be spooled", rise>>20)
	}

	// Several uploads of one owner at once: one is unpacked, the rest refused.
	slow := &slowReader{data: paastest.TarGz(t, map[string]string{"package.json": `{"name":"big"}`, "server.js": "//"}),
		gate: make(chan struct{}), started: make(chan struct{})}
	first := make(chan error, 1)
	go func() {
		_, err := tp.UploadSnapshot(ctx, pr, "admin", "big", "v2", slow)
		first <- err
	}()
	<-slow.started
	_, err = tp.UploadSnapshot(ctx, pr, "admin", "big", "v3", bytes.NewReader(attack))
	if status, _, _ := paas.ErrorStatus(err); status != http.StatusTooManyRequests {
		t.Errorf("a second upload of the same owner while one is unpacked: %v, want 429", err)
	}
	close(slow.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// slowReader serves data after gate closes, signalling its first read.
type slowReader struct {
	data    []byte
	gate    chan struct{}
	started chan struct{}
	once    sync.Once
}

func (r *slowReader) Read(p []byte) (int, error) {
	r.once.Do(func() { close(r.started) })
	<-r.gate
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
