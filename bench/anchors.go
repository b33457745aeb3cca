package main

// Anchor is a published figure of another system, quoted next to ours.
// Source is what a reader can follow: the address of a published page,
// or, for figures the team measured on this class of machine in an
// earlier run, the method and the raw figures themselves (see
// measuredHere); never a file that only exists on the machine that
// measured it (report_test.go checks).
type Anchor struct {
	System string
	Figure string
	Setup  string
	Source string
}

// anchors returns the anchors of a scenario ("hop", "policy", ...).
func anchors(scenario string) []Anchor {
	switch scenario {
	case "hop":
		return []Anchor{
			{"Istio 1.20 (client + server sidecars)", "+0.228 ms p90, +0.298 ms p99 (two proxies; ≈0.15 ms p99 per proxy)", "http/1.1, 1 kB, 1,000 rps, mTLS, fortio, dedicated hardware", "https://istio.io/v1.20/docs/ops/deployment/performance-and-scalability/"},
			{"Istio ≤ 1.15", "+2.65 ms p90", "1000 services / 2000 sidecars, 70k rps mesh", "https://istio.io/v1.15/docs/ops/deployment/performance-and-scalability/"},
			{"Dapr 1.0 service invocation (two sidecars)", "+1.40 ms p90, +2.10 ms p99", "3-node k8s, 4 cores; 1,000 rps, 1 KB, mTLS", "https://docs.dapr.io/operations/performance-and-scalability/perf-service-invocation/"},
			{"nginx-light 1.22, measured here earlier", "+0.15–0.2 ms p50, +1.3–2.8 ms p99 over direct", "this class of 2-core machine, vegeta, 1 kB, 1,000–2,000 rps", measuredHere + "1,000 rps: p50 direct 0.26, nginx 0.40–0.43, Go proxy 0.58–0.71 ms; p99 per run direct 1.46 / 1.72 / 1.71, nginx 2.74 / 3.08 / 3.20, Go proxy 4.34 / 4.74 / 4.88 ms. 2,000 rps: p50 direct 0.27–0.28, nginx 0.47–0.48, Go proxy 0.68–1.24 ms; p90 Go proxy 4.0–396 ms; p99 per run direct 2.10 / 2.73 / 3.36, nginx 4.92 / 5.56 / 6.64, Go proxy 18.2 / 53.8 / 720 ms"},
			{"Go httputil.ReverseProxy, measured here earlier", "+0.35 ms p50; at 2,000 rps p90 4–396 ms, p99 18–720 ms (collapse)", "same", "the same run as the row above"},
		}
	case "policy":
		return []Anchor{
			{"Polly v8 (.NET)", "2.237 µs and 40 B per execution of a multi-strategy pipeline (v7: 2.357 µs, 2,824 B)", ".NET 7, Xeon Platinum 8370C, BenchmarkDotNet", "https://github.com/App-vNext/Polly/tree/main/bench/BenchmarkDotNet.Artifacts/results"},
			{"failsafe-go v0.9.7", "no published ns/op (docs claim O(1) breaker and rate limiter)", "", "https://failsafe-go.dev/circuit-breaker"},
			{"resilience4j (weak anchor)", "≈0.22 µs per breaker call (870,870 vs 1,083,011 ops/s)", "JMH, 1 thread, unknown hardware; a comment in rezilience's CircuitBreakerBenchmark", "https://github.com/svroonland/rezilience"},
		}
	case "cachehit":
		return []Anchor{
			{"NGINX as a web server (not a proxy)", "74,091 rps (1 KB, 1 CPU)", "2× Xeon E5-2699 v3, 40 GbE, wrk, keepalive", "https://www.nginx.com/blog/testing-the-performance-of-nginx-and-nginx-plus-web-servers/"},
			{"nginx stale cache, healthy, measured here earlier", "36,400 rps, mean 1.0 ms", "wrk -t2 -c32, 200 keys, 1 worker", measuredStale},
		}
	case "wobble":
		return []Anchor{
			{"nginx stale-if-error, measured here earlier: CRM hangs", "212 rps (170× collapse), p50 4.7 ms, p99 304 ms, 51% of requests reach the CRM", "wrk -t2 -c32 (closed loop), 200 keys, read timeout 300 ms", measuredStale},
			{"nginx stale-if-error, measured here earlier: CRM 503", "p99 4.6 ms, 95% of requests reach the CRM", "same", measuredStale},
			{"open-source nginx, single upstream server", "max_fails/fail_timeout ignored: never marked down, every update pays the timeout", "nginx docs", "https://nginx.org/en/docs/http/ngx_http_upstream_module.html#server"},
		}
	case "enqueue":
		return []Anchor{
			{"Watermill SQL outbox", "PostgreSQL publish 3,834 msg/s; MySQL 5,599", "GCP n1-highcpu-16, batch 100", "https://github.com/ThreeDotsLabs/watermill-benchmark"},
			{"Watermill Redis Streams", "publish 61,642 msg/s (AOF presumably off)", "same", "https://github.com/ThreeDotsLabs/watermill-benchmark"},
			{"bbolt v1.5.0", "no published rate; 2 fsyncs per commit; DB.Batch merges up to 1000 calls or 10 ms", "README + source", "https://github.com/etcd-io/bbolt"},
		}
	case "footprint":
		return []Anchor{
			{"Dapr 1.0 sidecar", "0.48 vCPU and 23 MB per 1,000 rps", "1 KB, mTLS, tracing 0.1", "https://docs.dapr.io/operations/performance-and-scalability/perf-service-invocation/"},
			{"Istio 1.20 sidecar", "≈0.5 vCPU and ≈50 MB per 1,000 rps", "1 kB, mTLS", "https://istio.io/v1.20/docs/ops/deployment/performance-and-scalability/"},
			{"Istio 1.24 sidecar", "≈0.20 vCPU, 60 MB per 1,000 rps", "1 kB", "https://istio.io/latest/docs/ops/deployment/performance-and-scalability/"},
			{"Linkerd 2.11 proxy", "max 26.3 MB", "emojivoto, 2,000 rps", "https://linkerd.io/2021/11/29/linkerd-vs-istio-benchmarks-2021/"},
		}
	}
	return nil
}

// measuredHere opens the source of the hop rows the team measured on this
// class of machine: the method, then the figures.
const measuredHere = "measured on this class of 2-core machine (2026-11-23) with the hop scenario's own setup: " +
	"vegeta v12.12.0 open loop, keepalive, 1 kB answers, 3 s warm-up then 3 × 8 s per cell; " +
	"nginx-light 1.22 with 1 worker as a plain keepalive proxy (the nginxPlain block in bench/env.go), " +
	"Go httputil.ReverseProxy with MaxIdleConnsPerHost 256 (bench/child.go); load generator, proxy and upstream share the 2 cores. Figures: "

// measuredStale is the source of the nginx stale-if-error rows, measured
// the same day on the same class of machine.
const measuredStale = "measured on this class of 2-core machine (2026-11-23): nginx-light 1.22, 1 worker, " +
	"proxy_cache_use_stale error timeout updating http_500 http_503, read/connect/send timeout 300 ms, cache valid 1 s, " +
	"keepalive upstream (the nginxStale block in bench/env.go); upstream 1 kB answers switchable to hang or 503, counting hits; " +
	"wrk -t2 -c32 over 200 keys, cache warmed 3 s. Figures: healthy 36,400 rps, mean 1.0 ms; " +
	"CRM hangs 10 s: 212 rps, p50 4.7 / p90 302 / p99 304 ms, 1,088 of 2,122 requests (51%) reach the CRM; " +
	"CRM 503: 17,325 rps, p50 1.6 / p90 3.0 / p99 4.6 ms, 164,216 of 173,551 requests (95%) reach the CRM"
