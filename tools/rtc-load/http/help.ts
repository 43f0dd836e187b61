export const HELP_TEXT = `rtc-load: HTTP load generator with HDR latency histograms

Usage:
  rtc-load [http] URL [options]
  rtc-load webrtc WHIP_URL [options]    WebRTC sessions (see rtc-load webrtc --help)
  rtc-load plan URL [options]           capacity planner (see rtc-load plan --help)

Closed loop (default): a fixed number of requests at a fixed concurrency,
each connection sending its next request as soon as the previous answers.
  -c, --concurrency N        requests in flight at once (default 20)
  -n, --requests N           total requests (default 200 unless --duration)
  -d, --duration D           stop after D instead of (or as well as) -n

Open loop: requests leave on a timetable whatever the server does; latency is
measured from each request's intended send time (coordinated omission corrected).
      --rate R               requests per second, constant
  -d, --duration D           how long to send at --rate (default 30s)
      --stages D:R,D:R,...   ramp linearly to rate R over D, one stage after the
                             other, starting from --rate or 0 (like k6),
                             e.g. --stages 30s:10,60s:50,30s:0
      --connections N        connection limit (default: enough for the peak rate)

Request:
  -m, --method M             GET (default), POST, PUT, PATCH, DELETE, HEAD
  -H, --header 'Name: value' extra request header (repeatable)
  -b, --body TEXT|@FILE      request body, literal or read from FILE
      --timeout D            per-request timeout (default 10s)
      --requests-per-connection N
                             close each connection after N requests and open a new
                             one, so kube-proxy and balancers spread load onto new
                             pods (default: keep connections for the whole run)

Output:
      --json                 print one JSON object on stdout instead of the table
      --html FILE            write a self-contained HTML report
      --prometheus URL       sample Prometheus (e.g. http://localhost:9090) during the run
      --prometheus-interval D   sampling period (default 5s)
      --replicas-query Q     PromQL for replicas
                             (default sum(kube_deployment_status_replicas{namespace="rtc",deployment="gpu-media"}))
      --p95-query Q          PromQL for server-side p95 in seconds
                             (default histogram_quantile(0.95, sum(rate(app_request_latency_seconds_bucket[1m])) by (le)))
      --hpa-target-p95 D     the p95 the autoscaler targets (default 250ms); the live line,
                             the table and the HTML report show the replicas the HPA rule
                             ceil(replicas x p95 / target) asks for, from Prometheus when
                             sampled, else from one replica and this run's own p95
      --hpa-tolerance F      no change while |p95/target - 1| <= F (default 0.1)
      --fail-on-errors       exit 1 if any response is not 2xx or any request failed
  -h, --help                 show this help

Durations: 500ms, 30s, 2m, 1h.
Exit codes: 0 done, 1 failures with --fail-on-errors (or a fatal error), 2 invalid arguments.

Examples:
  rtc-load 'http://localhost:8080/process?pixels=1280x720&iters=5' -c 20 -n 200
  rtc-load http 'http://localhost:8080/process?pixels=1920x1080&iters=10' --rate 50 --duration 2m \\
    --html report.html --prometheus http://localhost:9090
  rtc-load 'http://localhost:8080/process?pixels=1920x1080&iters=8' --stages 30s:10,60s:50,30s:0 --json
`;
