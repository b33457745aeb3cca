package main

// Anchor is a published figure of another system, quoted next to ours.
// All come from ../shared/reference/anchors.md, which cites each
// source; "measured here" rows come from measured-here.md (the same
// class of machine, an earlier run).
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
			{"nginx-light 1.22, measured here earlier", "+0.15–0.2 ms p50, +1.3–2.8 ms p99 over direct", "this class of 2-core machine, vegeta, 1 kB, 1,000–2,000 rps", "../shared/reference/measured-here.md"},
			{"Go httputil.ReverseProxy, measured here earlier", "+0.35 ms p50; at 2,000 rps p90 4–396 ms, p99 18–720 ms (collapse)", "same", "../shared/reference/measured-here.md"},
		}
	case "policy":
		return []Anchor{
			{"Polly v8 (.NET)", "2.237 µs and 40 B per execution of a multi-strategy pipeline (v7: 2.357 µs, 2,824 B)", ".NET 7, Xeon Platinum 8370C, BenchmarkDotNet", "https://github.com/App-vNext/Polly/tree/main/bench/BenchmarkDotNet.Artifacts/results"},
			{"failsafe-go v0.9.7", "no published ns/op (docs claim O(1) breaker and rate limiter)", "", "https://failsafe-go.dev/circuit-breaker"},
			{"resilience4j (weak anchor)", "≈0.22 µs per breaker call (870,870 vs 1,083,011 ops/s)", "JMH, 1 thread, unknown hardware", "svroonland/rezilience CircuitBreakerBenchmark"},
		}
	case "cachehit":
		return []Anchor{
			{"NGINX as a web server (not a proxy)", "74,091 rps (1 KB, 1 CPU)", "2× Xeon E5-2699 v3, 40 GbE, wrk, keepalive", "https://www.nginx.com/blog/testing-the-performance-of-nginx-and-nginx-plus-web-servers/"},
			{"nginx stale cache, healthy, measured here earlier", "36,400 rps, mean 1.0 ms", "wrk -t2 -c32, 200 keys, 1 worker", "../shared/reference/measured-here.md"},
		}
	case "wobble":
		return []Anchor{
			{"nginx stale-if-error, measured here earlier: CRM hangs", "212 rps (170× collapse), p50 4.7 ms, p99 304 ms, 51% of requests reach the CRM", "wrk -t2 -c32 (closed loop), 200 keys, read timeout 300 ms", "../shared/reference/measured-here.md"},
			{"nginx stale-if-error, measured here earlier: CRM 503", "p99 4.6 ms, 95% of requests reach the CRM", "same", "../shared/reference/measured-here.md"},
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
