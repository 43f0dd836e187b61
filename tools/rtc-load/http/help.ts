export const HELP_TEXT = `rtc-load: HTTP load generator with HDR latency histograms

Usage:
  rtc-load [http] URL [options]
  rtc-load webrtc WHIP_URL [options]    WebRTC sessions (see rtc-load webrtc --help)
  rtc-load plan URL [options]           capacity planner (see rtc-load plan --help)

Closed loop (default): a fixed number of clients, each sending its next request
as soon as the previous one is answered.
  -c, --concurrency N        clients, one request in flight each (default 20)
  -n, --requests N           total attempts, retries and throttled ones included
                             (default 200 unless --duration)
  -d, --duration D           stop after D instead of (or as well as) -n

Refusals (503, 429) in closed loop: by default clients are well-behaved and wait
what Retry-After says (1 s without one), jittered, before sending again.
      --retry-after-jitter F wait Retry-After x uniform[1-F, 1+F] (default 0.5, 0 to 1)
      --retry-immediately    the storm: retry a refusal at once, ignoring Retry-After
                             (what hey and impatient retry loops do)
      --adaptive-throttle [K]
                             client-side adaptive throttling (Google SRE book): reject
                             locally, never sending, with probability
                             max(0, (requests - K x accepts) / (requests + 1)) over the
                             last 2 minutes (K default 2); counted as throttled.
                             Closed loop (polite clients) and open loop

Open loop: requests leave on a timetable whatever the server does; latency is
measured from each request's intended send time (coordinated omission corrected).
Each scheduled request is sent once: a refusal is its outcome, never retried.
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
      --progress-interval D  when stderr is not a terminal (a pipe, a Job's log), print a
                             plain progress line every D: offered, served and refused per
                             second and the served p95 over that interval (default 5s;
                             0 for none). On a terminal a live line is rewritten instead
      --replicas-query Q     PromQL for replicas
                             (default sum(kube_deployment_status_replicas{namespace="rtc",deployment="gpu-media"}))
      --p95-query Q          PromQL for the server-side p95 of served requests, in seconds
                             (default histogram_quantile(0.95, sum(rate(app_request_latency_seconds_bucket[1m])) by (le)))
      --refusal-query Q      PromQL for the share of /process answers refused, 0 to 1
                             (default sum(rate(app_requests_total{endpoint="/process",status="503"}[1m]))
                              / clamp_min(sum(rate(app_requests_total{endpoint="/process"}[1m])), 1e-9))
      --hpa-target-p95 D     the p95 the autoscaler targets (default 250ms); the live line,
                             the table and the HTML report show the replicas the HPA asks for:
                             max(ceil(replicas x served p95 / target),
                                 ceil(replicas x offered / served)),
                             from Prometheus when sampled, else from one replica and this
                             run's own served p95 and refusals over the last 10 s
      --hpa-tolerance F      each term unchanged within F (default 0.1)
      --fail-on-errors       exit 1 if any response is not 2xx or any request failed
  -h, --help                 show this help

Reports count offered (sent, retries included), served (2xx), refused (503, 429),
other statuses, transport errors and throttled requests, in total and per second;
latency percentiles are of served answers, refusals' latency apart.

Durations: 500ms, 30s, 2m, 1h.
Exit codes: 0 done, 1 failures with --fail-on-errors (or a fatal error), 2 invalid arguments.

Examples:
  rtc-load 'http://localhost:8080/process?pixels=1280x720&iters=5' -c 20 -n 200
  rtc-load http 'http://localhost:8080/process?pixels=1920x1080&iters=10' --rate 50 --duration 2m \\
    --html report.html --prometheus http://localhost:9090
  rtc-load 'http://localhost:8080/process?pixels=1920x1080&iters=8' --stages 30s:10,60s:50,30s:0 --json
  rtc-load 'http://localhost:8080/process?pixels=1920x1080&iters=15' -m POST -c 50 -d 1m --retry-immediately
  rtc-load 'http://localhost:8080/process?pixels=1920x1080&iters=15' -m POST -c 50 -d 1m --adaptive-throttle
`;
