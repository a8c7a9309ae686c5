package ingress

// ReverseProxyOnly makes p send every request through httputil.ReverseProxy,
// as before the lean path: the baseline of BenchmarkProxy.
func ReverseProxyOnly(p *Proxy) { p.reverseProxyOnly = true }
