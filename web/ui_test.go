package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/selfhost/paas/paas"
	"github.com/selfhost/paas/paas/paastest"
)

// browser starts headless Chromium (Debian's chromium, or $PAAS_CHROMIUM)
// for the test; without one the test skips, and fails under CI=true.
func browser(t *testing.T) (context.Context, *[]string) {
	t.Helper()
	path := os.Getenv("PAAS_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Chromium (apt-get install chromium)")
		}
		t.Skip("no Chromium (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	var mu sync.Mutex
	problems := &[]string{}
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			*problems = append(*problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				*problems = append(*problems, "console error")
			}
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx, problems
}

// pageAt is the text of the page at url, opened in a tab of its own.
func pageAt(ctx context.Context, url string) (string, error) {
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	tab, cancelT := context.WithTimeout(tab, 10*time.Second)
	defer cancelT()
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		return "", err
	}
	return chromedp.Run(tab, chromedp.Evaluate[string]("document.body.innerText"))
}

// step bounds one group of browser actions.
func step(ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	go func() { <-ctx.Done(); cancel() }()
	return ctx
}

// pageText is what the page shows, for failure messages.
func pageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		return err.Error()
	}
	return text
}

func screenshot(t *testing.T, ctx context.Context, name string, width, height int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height), chromedp.Sleep(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("screenshots", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUIInBrowser: a real browser signs in, refused with a wrong password
// (the API's message shown), then with the right one sees the user's apps,
// and a new app appears without a reload (the change stream). The page
// has its security headers and no console errors; screenshots are taken
// at desktop and phone widths.
func TestUIInBrowser(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	if _, err := tp.CreateApp(context.Background(), tp.Principal(t, alice), "alice", paas.AppSpec{Name: "blog"}); err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t)

	// The headers of the page.
	res, err := http.Get(tp.Server.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("security headers: %v", res.Header)
	}
	err = chromedp.Do(step(ctx),
		chromedp.Navigate(tp.Server.URL+"/ui/"),
		chromedp.WaitVisible("#signin"),
		chromedp.SendKeys("#user", "alice"),
		chromedp.SendKeys("#password", "wrong-password"),
		chromedp.Click(`#signin button[type=submit]`),
		chromedp.WaitVisible("#error"),
	)
	if err != nil {
		t.Fatal(err)
	}
	errText, err := chromedp.Run(ctx, chromedp.Text("#error"))
	if err != nil || !strings.Contains(errText, "wrong user or password") {
		t.Errorf("the error shown: %q %v", errText, err)
	}
	screenshot(t, ctx, "signin-desktop.png", 1280, 800)
	// The first load's budget: what the page and its assets weighed on the
	// wire, and when it was interactive (reported, not asserted: a timing).
	budget, err := chromedp.Run(step(ctx), chromedp.Evaluate[[]float64](`(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		const bytes = [nav, ...performance.getEntriesByType('resource')].reduce((n, e) => n + e.transferSize, 0);
		return [bytes, nav.domInteractive];
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first load: %.0f bytes transferred, interactive after %.0f ms", budget[0], budget[1])
	if budget[0] > 100<<10 {
		t.Errorf("the first load transferred %.0f bytes, over the 100 KB budget", budget[0])
	}

	if _, err := chromedp.Run(step(ctx), chromedp.Evaluate[string]("document.getElementById('password').value = ''")); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(step(ctx),
		chromedp.SendKeys("#password", alice.Password),
		chromedp.Click(`#signin button[type=submit]`),
		chromedp.WaitVisible("#apps"),
		chromedp.WaitVisible(`//td/a[text()="blog"]`),
	)
	if err != nil {
		t.Fatalf("%v; the page says: %s", err, pageText(ctx))
	}
	if rows, err := chromedp.Run(ctx, chromedp.Text("#apps-body")); err != nil || !strings.Contains(rows, "stopped") {
		t.Errorf("the apps: %q", rows)
	}
	// A new app shows up by itself.
	if _, err := tp.CreateApp(context.Background(), tp.Principal(t, alice), "alice", paas.AppSpec{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(step(ctx), chromedp.WaitVisible(`//td/a[text()="shop"]`)); err != nil {
		t.Fatalf("the new app did not appear: %v", err)
	}
	screenshot(t, ctx, "apps-desktop.png", 1280, 800)
	screenshot(t, ctx, "apps-phone.png", 360, 740)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Click("#signout"), chromedp.WaitVisible("#signin")); err != nil {
		t.Fatal(err)
	}
	if len(*problems) > 0 {
		t.Errorf("the page logged problems: %v", *problems)
	}
}

// TestSignInGuards: the sign-in takes JSON from this origin only, rate
// limits failures, and the assets cache by content hash.
func TestSignInGuards(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{})
	tp.NewUser(t, "bob")
	post := func(ctype, origin, body string) int {
		req, _ := http.NewRequest("POST", tp.Server.URL+"/ui/api/login", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	good := `{"user":"bob","password":"pw-bob-secret"}`
	if code := post("application/x-www-form-urlencoded", "", "user=bob&password=pw-bob-secret"); code != 400 {
		t.Errorf("a form post: %d", code)
	}
	if code := post("application/json", "https://evil.example", good); code != 403 {
		t.Errorf("another origin: %d", code)
	}
	if code := post("application/json", tp.Server.URL, good); code != 200 {
		t.Errorf("this origin: %d", code)
	}
	for i := range 12 {
		if code := post("application/json", "", `{"user":"bob","password":"nope"}`); code != 401 && !(i >= 10 && code == 429) {
			t.Errorf("failure %d: %d", i, code)
		}
	}
	if code := post("application/json", "", good); code != 429 {
		t.Errorf("after 10 failures: %d, want 429", code)
	}

	res, err := http.Get(tp.Server.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page strings.Builder
	fmt.Fprint(&page, res.Header.Get("Cache-Control"))
	if res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("ETag") == "" {
		t.Errorf("the page's caching: %v", res.Header)
	}
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	i := strings.Index(string(buf[:n]), "/ui/assets/app.js?h=")
	if i < 0 {
		t.Fatalf("the page names no hashed app.js: %s", buf[:n])
	}
	ref := string(buf[i:n])
	ref = ref[:strings.IndexByte(ref, '"')]
	req, _ := http.NewRequest("GET", tp.Server.URL+ref, nil)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the client then leaves the body compressed
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || res2.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("the hashed asset: %v", res2.Header)
	}
}

// lifecycle is the browser's walk through an app's life on the UI at base,
// as user: create an app, deploy it by choosing its files (the page packs
// them), see it serve and its logs, change its env (a restart), roll back
// to the first snapshot after a second deploy, and delete it. open, when
// set, checks the app's own address answers want.
func lifecycle(t *testing.T, base, user, password string, open func(t *testing.T, ctx context.Context, want string), shots bool) {
	ctx, problems := browser(t)
	files := func(dir string) []string {
		var out []string
		for _, f := range []string{"package.json", "server.js"} {
			p, _ := filepath.Abs(filepath.Join("..", "testdata", "apps", dir, f))
			out = append(out, p)
		}
		return out
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(step(ctx), actions...); err != nil {
			t.Fatalf("%s: %v; the page says: %s", what, err, pageText(ctx))
		}
	}
	do("sign in", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible("#signin"),
		chromedp.SendKeys("#user", user), chromedp.SendKeys("#password", password),
		chromedp.Click(`#signin button[type=submit]`), chromedp.WaitVisible("#apps"))
	do("create", chromedp.SendKeys("#new-app", "hello"), chromedp.Click(`#create button[type=submit]`),
		chromedp.WaitVisible("#app"), chromedp.WaitVisible(`//h2[@id="app-name" and text()="hello"]`))
	// deploy returns the new active snapshot, once the page shows one
	// other than prev (the list is re-read just after "serving" shows).
	deploy := func(dir, prev string) string {
		t.Helper()
		do("deploy "+dir, chromedp.SetUploadFiles("#deploy-files", files(dir)), chromedp.Click(`#deploy button[type=submit]`),
			chromedp.WaitVisible(`//ol[@id="deploy-steps"]/li[text()="serving"]`))
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			id, err := chromedp.Run(step(ctx), chromedp.Evaluate[string](`(([...document.querySelectorAll('#snapshots td')].map(td => td.textContent).find(t => t.endsWith('(active)')) || '').replace(' (active)', ''))`))
			if err == nil && id != "" && id != prev {
				return id
			}
			if time.Now().After(deadline) {
				t.Fatalf("deploy %s: the active snapshot is still %q (%v)", dir, id, err)
			}
		}
	}
	first := deploy("hello-v1", "")
	do("started", chromedp.WaitVisible(`//span[@id="app-state" and text()="started"]`),
		chromedp.WaitVisible(`//ul[@id="units"]/li[contains(text(), ": running")]`))
	if open != nil {
		open(t, ctx, "hello v1")
	}
	do("logs", chromedp.WaitVisible(`//pre[@id="logs" and contains(text(), "starting release")]`))
	if shots {
		screenshot(t, ctx, "app-desktop.png", 1280, 1400)
		screenshot(t, ctx, "app-phone.png", 360, 2400)
		chromedp.Do(step(ctx), chromedp.EmulateViewport(1280, 800))
	}
	do("env", chromedp.Click("#env-add"), chromedp.SendKeys(".env-key", "GREETING"), chromedp.SendKeys(".env-value", "hi"),
		chromedp.Click(`#env button[type=submit]`))
	// The restart shows in the logs as a second release, and the saved
	// variable comes back from the API.
	until := func(what, js string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if ok, err := chromedp.Run(step(ctx), chromedp.Evaluate[bool](js)); err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s; the page says: %s", what, pageText(ctx))
			}
		}
	}
	until("the restart", `document.getElementById('logs').textContent.split('starting release').length > 2 &&
		[...document.querySelectorAll('.env-key')].some(i => i.value === 'GREETING')`)
	// A private variable: saved, and shown masked (an empty value with a
	// placeholder), never its value.
	do("private env", chromedp.Click("#env-add"),
		chromedp.SendKeys(`//tbody[@id="env-rows"]/tr[last()]//input[@class="env-key"]`, "TOKEN"),
		chromedp.SendKeys(`//tbody[@id="env-rows"]/tr[last()]//input[@class="env-value"]`, "s3cret-token"),
		chromedp.Click(`//tbody[@id="env-rows"]/tr[last()]//input[@class="env-private"]`),
		chromedp.Click(`#env button[type=submit]`))
	until("the private variable", `(() => { const k = [...document.querySelectorAll('.env-key')].find(i => i.value === 'TOKEN');
		return !!k && k.readOnly && k.closest('tr').querySelector('.env-value').value === '' }) ()`)
	if shown, err := chromedp.Run(step(ctx), chromedp.Evaluate[string](
		`document.body.innerHTML + [...document.querySelectorAll('input')].map(i => i.value).join(' ')`)); err != nil || strings.Contains(shown, "s3cret-token") {
		t.Errorf("the page holds a private value (%v)", err)
	}
	// Scaled to two units, both running.
	do("scale", chromedp.SetValue("#scale-units", "2"), chromedp.Click(`#scale button[type=submit]`))
	until("two units", `document.querySelectorAll('#units li').length === 2 && [...document.querySelectorAll('#units li')].every(li => li.textContent.includes(': running'))`)
	// A second deploy, then a roll back to the first snapshot.
	time.Sleep(1100 * time.Millisecond) // snapshot ids are to the second
	deploy("hello-v2", first)
	if open != nil {
		open(t, ctx, "hello v2")
	}
	do("roll back", chromedp.Click(`//button[text()="Roll back to `+first+`"]`),
		chromedp.WaitVisible(`//tbody[@id="snapshots"]/tr/td[text()="`+first+` (active)"]`))
	if open != nil {
		open(t, ctx, "hello v1")
	}
	do("delete", chromedp.Navigate(base+"/ui/#/app/hello"), chromedp.WaitVisible("#delete-confirm"),
		chromedp.SendKeys("#delete-confirm", "hello"), chromedp.Click(`#delete button[type=submit]`),
		chromedp.WaitVisible("#apps"), chromedp.WaitVisible("#apps-empty"))
	if len(*problems) > 0 {
		t.Errorf("the page logged problems: %v", *problems)
	}
}

// TestUIAppLifecycle walks through an app's life on the fake runtime.
func TestUIAppLifecycle(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{})
	alice := tp.NewUser(t, "alice")
	lifecycle(t, tp.Server.URL, "alice", alice.Password, nil, true)
	if _, err := tp.Store.App("alice", "hello"); !paas.IsNotFound(err) {
		t.Errorf("the app after its deletion: %v", err)
	}
}

// TestUISections: the domains, services and event-routing sections show
// what the platform has, for the user and, switched to, for a team; a
// service is bound to an app from the page.
func TestUISections(t *testing.T) {
	tp := paastest.NewPlatform(t, paastest.Config{Domain: "paas.test"})
	ctx0 := context.Background()
	alice := tp.NewUser(t, "alice")
	pa := tp.Principal(t, alice)
	tp.NewTeam(t, "acme", alice)
	if _, err := tp.CreateApp(ctx0, pa, "alice", paas.AppSpec{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.CreateOrVerifyDomain(ctx0, tp.AdminPrincipal(t), "alice", "example.org", false); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.CreateDatabase(ctx0, pa, "alice", "cache", "redis"); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		typ string
		obj map[string]any
	}{
		{paas.TypeStream, map[string]any{"id": "site", "name": "site"}},
		{paas.TypeDestination, map[string]any{"id": "out", "name": "out", "destinationType": "file", "path": "out.ndjson"}},
		{paas.TypeLink, map[string]any{"id": "site-to-out", "fromId": "site", "toId": "out"}},
	} {
		if _, err := tp.CreateConfig(ctx0, pa, "acme", o.typ, o.obj); err != nil {
			t.Fatal(err)
		}
	}
	files := paastest.AppFiles(t, "web")
	if _, err := tp.CreateDeployment(ctx0, pa, "alice", files, nil); err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(step(ctx), actions...); err != nil {
			t.Fatalf("%s: %v; the page says: %s", what, err, pageText(ctx))
		}
	}
	do("sign in", chromedp.Navigate(tp.Server.URL+"/ui/"), chromedp.WaitVisible("#signin"),
		chromedp.SendKeys("#user", "alice"), chromedp.SendKeys("#password", alice.Password),
		chromedp.Click(`#signin button[type=submit]`), chromedp.WaitVisible("#apps"))
	do("domains", chromedp.Click(`//nav[@id="tabs"]/a[text()="Domains"]`), chromedp.WaitVisible(`//tbody[@id="domains-body"]/tr/td[text()="example.org"]`))
	do("a record", chromedp.SendKeys("#record-name", "www"), chromedp.SendKeys("#record-value", "192.0.2.7"),
		chromedp.Click(`#add-record button[type=submit]`), chromedp.WaitVisible(`//tbody[@id="records-body"]/tr/td[text()="www.example.org"]`))
	do("a domain", chromedp.SendKeys("#domain-name", "second.test"), chromedp.Click(`#add-domain button[type=submit]`),
		chromedp.WaitVisible(`//tbody[@id="domains-body"]/tr/td[text()="second.test"]`))
	do("the app's deployments", chromedp.Navigate(tp.Server.URL+"/ui/#/app/web"), chromedp.WaitVisible(`//ul[@id="deployments"]/li/a[starts-with(text(), "web-")]`))
	do("services", chromedp.Click(`//nav[@id="tabs"]/a[text()="Services"]`), chromedp.WaitVisible(`//tbody[@id="services-body"]/tr/td[text()="cache"]`),
		chromedp.Click(`//tbody[@id="services-body"]//button[text()="Bind"]`), chromedp.WaitVisible(`//button[text()="Unbind web"]`))
	if d, err := tp.Store.Database("alice", "cache"); err != nil || len(d.Apps) != 1 {
		t.Errorf("the instance after Bind: %+v %v", d.Apps, err)
	}
	screenshot(t, ctx, "services-desktop.png", 1280, 700)
	chromedp.Do(step(ctx), chromedp.EmulateViewport(1280, 800))
	// The team's objects: its link, with its status.
	if _, err := chromedp.Run(step(ctx), chromedp.Evaluate[string](`(() => { const s = document.getElementById('owner'); s.value = 'acme'; s.dispatchEvent(new Event('change')); return s.value })()`)); err != nil {
		t.Fatal(err)
	}
	do("events", chromedp.Click(`//nav[@id="tabs"]/a[text()="Event routing"]`), chromedp.WaitVisible(`//tbody[@id="links-body"]/tr/td[text()="site-to-out"]`),
		chromedp.WaitVisible(`//ul[@id="destinations-list"]/li[contains(text(), "out: file out.ndjson")]`))
	screenshot(t, ctx, "events-desktop.png", 1280, 700)
	do("the team's members", chromedp.Click(`//nav[@id="tabs"]/a[text()="Apps"]`), chromedp.WaitVisible(`//p[@id="members" and contains(text(), "alice")]`))
	if hidden, _ := chromedp.Run(step(ctx), chromedp.Evaluate[bool](`document.getElementById('users-tab').hidden`)); !hidden {
		t.Error("a user who is no admin sees the users screen")
	}
	// An admin lists the users.
	do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#signin"))
	if _, err := chromedp.Run(step(ctx), chromedp.Evaluate[string](`document.getElementById('user').value = ''`)); err != nil {
		t.Fatal(err)
	}
	do("admin", chromedp.SendKeys("#user", "admin"), chromedp.SendKeys("#password", tp.Admin.Password),
		chromedp.Click(`#signin button[type=submit]`), chromedp.WaitVisible("#users-tab"),
		chromedp.Click("#users-tab"), chromedp.WaitVisible(`//tbody[@id="users-body"]/tr/td[text()="alice"]`))
	if len(*problems) > 0 {
		t.Errorf("the page logged problems: %v", *problems)
	}
}
