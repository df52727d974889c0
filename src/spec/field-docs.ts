/**
 * What every spec field means, in the words docs/spec.md and editors show:
 * a description, the unit when the field has one, and an example as it is
 * written in YAML. Types, defaults and limits are NOT repeated here: they come
 * from the zod schemas (json-schema.ts). Kept apart from schema.ts so the
 * schema stays about validation; test/spec/spec-doc.test.ts fails when a field
 * has no entry here, or an entry names no field.
 *
 * Keys are paths; the adapter or guardrail kind that defines a field is in
 * angle brackets (`spec.source<prometheus>.url`, `spec.guardrails[]<slo>.burnRate`).
 */
export interface FieldDoc {
  description: string;
  /** Unit of the value as the schema reads it (durations are text such as `30s`, or a number of ms). */
  unit?: string;
  /** YAML, as a user would write the value. */
  example?: string;
  /** Documented as a whole: its inside is the backend's own format (linked), not listed field by field. */
  opaque?: boolean;
}

const DURATION = 'ms when a bare number (else in the text: `30s`, `2m`)';
const KUBE = {
  kubeconfig: { description: 'Path to a kubeconfig file. Default: KUBECONFIG, in-cluster service account, then ~/.kube/config.', example: '/etc/steadystate/kubeconfig' },
  context: { description: 'Context in that kubeconfig. Default: its current-context.', example: 'staging' },
  namespace: { description: 'Kubernetes namespace the chaos object is created in.', example: 'shop' },
};
const webhookRequest = (what: string, example: string): Record<string, FieldDoc> => ({
  [what]: { description: `The request sent to ${what === 'status' ? 'ask whether the fault is still active (optional)' : what === 'open' ? 'open (start) the fault' : 'close (stop) the fault; must be safe to repeat'}.`, example },
  [`${what}.url`]: { description: 'http(s) URL; may hold placeholders such as {{runId}} and {{deadline}} (docs/injectors/webhook.md).', example: '"https://chaos.internal/faults/{{runId}}"' },
  [`${what}.method`]: { description: 'HTTP method.', example: 'POST' },
  [`${what}.headers`]: { description: 'Request headers; values are text (placeholders allowed) or secret references `{ fromEnv }` / `{ fromFile }`, never shown.', example: '{ authorization: { fromEnv: CHAOS_TOKEN } }' },
  [`${what}.body`]: { description: 'JSON body; strings may hold placeholders.', example: '{ fault: latency, ms: 300 }' },
});
const prefix = (p: string, docs: Record<string, FieldDoc>): Record<string, FieldDoc> =>
  Object.fromEntries(Object.entries(docs).map(([k, v]) => [`${p}.${k}`, v]));

const CORE: Record<string, FieldDoc> = {
  apiVersion: { description: 'Version of the spec format.', example: 'steadystate.dev/v1alpha1' },
  kind: { description: 'Always `Experiment`.', example: 'Experiment' },
  metadata: { description: 'Who the experiment is and what it is about.', example: '{ name: checkout-latency, service: shop }' },
  'metadata.name': { description: 'Unique name of the experiment: any printable text without "/". Runs, reports and the API use it.', example: 'checkout-latency' },
  'metadata.service': { description: 'Service under test; deploy webhooks for this service run the experiment. Also `$service` in queries.', example: 'shop' },
  'metadata.environment': { description: 'Environment (staging, production); deploy webhooks match it. Also `$environment` in queries.', example: 'staging' },
  'metadata.labels': { description: 'Free-form labels, shown with runs and usable for filtering.', example: '{ team: payments, cuj: checkout }' },
  spec: { description: 'What to measure, what fault to inject, when to stop.' },
  'spec.source': { description: 'Where metrics come from. `kind` picks the adapter; the other fields are that adapter\'s (below, per kind; docs/sources/).', example: '{ kind: prometheus, url: "http://127.0.0.1:9090", step: 1s }' },
  'spec.source.kind': { description: 'The metric source adapter.', example: 'prometheus' },
  'spec.groups': { description: 'The label values `$group` is replaced with for each group.', example: '{ control: control, experiment: experiment }' },
  'spec.groups.control': { description: 'Value of `$group` for the control group (no fault).', example: 'control' },
  'spec.groups.experiment': { description: 'Value of `$group` for the experiment group (the fault is injected here). Must differ from control.', example: 'canary' },
  'spec.steadyState': { description: 'Steady-state metrics (KPIs): each is queried per group and the groups are compared; the verdict is per metric.' },
  'spec.steadyState[].name': { description: 'Name of the metric, unique in the spec; `compare:` guardrails refer to it.', example: 'checkout-sps' },
  'spec.steadyState[].query': { description: 'Query template with `$group` (and optionally `$experiment`, `$service`, `$environment`), in the source\'s language; or `{ template, vars }` from the query library (`steadystate queries list`).', example: 'sum(rate(shop_checkouts_total{group="$group"}[15s]))' },
  'spec.steadyState[].query.template': { description: 'Name of a query library template.', example: 'http-error-ratio' },
  'spec.steadyState[].query.vars': { description: 'Values for the template\'s variables.', example: '{ job: shop }' },
  'spec.steadyState[].direction': { description: 'Which change is bad: `decrease` (checkouts per second), `increase` (latency, errors) or `either`.', example: 'decrease' },
  'spec.steadyState[].tolerance': { description: 'How far the experiment group may move before it counts: `5%` is relative to the control group\'s level (its mean; its median under `mann-whitney`), a bare number is absolute in the metric\'s own unit. A run fails a metric when the change is significant on the bad side and its estimate lies beyond this band; it passes when the interval rules the band out.', unit: 'percent of control, or the metric\'s unit', example: '5%' },
  'spec.steadyState[].minSamples': { description: 'Override of `analysis.minSamples` for this metric.', unit: 'samples per group', example: '60' },
  'spec.steadyState[].spread': { description: 'A rise in spread (variance): `report` it beside the verdict, `fail` the metric on it, or `ignore` it.', example: 'fail' },
  'spec.fault': { description: 'The fault: which injector opens it, with what parameters, for how long.' },
  'spec.fault.injector': { description: 'The injector adapter (docs/injectors/). `command` runs programs on the host and is off unless the operator allows it.', example: 'http-proxy' },
  'spec.fault.params': { description: 'The injector\'s parameters (below, per injector).', example: '{ admin: "http://127.0.0.1:8081", latencyMs: 300 }' },
  'spec.fault.duration': { description: 'Hard deadline of the fault window, also enforced on the injector side. At most 6h. Required without `steps`; with `steps` it is their total and may be left out (if given it must equal it).', unit: DURATION, example: '2m' },
  'spec.fault.steps': { description: 'A fault ladder (ADR 022): the fields each step changes over `params`, plus an optional `duration`, held in order in one window whose deadline covers them all. Each step is judged on its own samples; the report names the highest level tolerated. Only injectors that change an open fault in place (http-proxy, toxiproxy).', example: '[{ latencyMs: 200 }, { latencyMs: 500 }, { latencyMs: 1s }]' },
  'spec.fault.stepDuration': { description: 'How long each step without its own `duration` is held. Needs `steps`.', unit: DURATION, example: '30s' },
  'spec.fault.stopAt': { description: 'When the ladder stops climbing: `fail` (default) at the first step whose KPI verdict fails; `halt` and `never` climb past failing steps. A guardrail breach halts the run under every setting. Needs `steps`.', example: 'fail' },
  'spec.guardrails': { description: 'Conditions evaluated every `analysis.interval` while the fault is open; a breach halts the run (closes the fault now). The keys say the kind: `query` (threshold), `slo` + `burnRate` (error budget), `compare` (sequential test on a KPI).' },
  'spec.guardrails[]<slo>.name': { description: 'Name of the guardrail, unique in the spec.', example: 'error-budget' },
  'spec.guardrails[]<slo>.slo': { description: 'The SLO whose error budget must not burn too fast.' },
  'spec.guardrails[]<slo>.slo.good': { description: 'Query for good events per second over `$window` (the burn-rate window is filled in).', example: 'sum(rate(http_requests_total{group="experiment",code!~"5.."}[$window]))' },
  'spec.guardrails[]<slo>.slo.total': { description: 'Query for all events per second over `$window`.', example: 'sum(rate(http_requests_total{group="experiment"}[$window]))' },
  'spec.guardrails[]<slo>.slo.objective': { description: 'Target share of good events, exclusive of 0% and 100%.', unit: 'percentage (`99.9%`) or fraction (`0.999`)', example: '99.9%' },
  'spec.guardrails[]<slo>.slo.period': { description: 'SLO period the budget belongs to (for reports; the burn rate does not depend on it).', unit: DURATION, example: '30d' },
  'spec.guardrails[]<slo>.burnRate': { description: 'Halt when the error budget burns this many times faster than allowed over BOTH the long and the short window (Google SRE workbook). Burn rate = error ratio / (1 − objective).', unit: '× the sustainable burn rate', example: '14.4' },
  'spec.guardrails[]<slo>.windows': { description: 'Burn-rate windows. Default: scaled to the fault window — long = a quarter of fault.duration (10 steps and 10s to 1h), short = a twelfth of long (at least 3 steps); `validate --explain` prints them.', example: '{ long: 1h, short: 5m }' },
  'spec.guardrails[]<slo>.windows.long': { description: 'Long window: says the burn is significant.', unit: DURATION, example: '1h' },
  'spec.guardrails[]<slo>.windows.short': { description: 'Short window: says the burn is still happening.', unit: DURATION, example: '5m' },
  'spec.guardrails[]<slo>.for': { description: 'Consecutive breaching evaluations needed to halt.', unit: 'evaluations', example: '2' },
  'spec.guardrails[]<compare>.name': { description: 'Name of the guardrail, unique in the spec.', example: 'sps-drop' },
  'spec.guardrails[]<compare>.compare': { description: 'Name of a steady-state metric: halt as soon as an anytime-valid sequential test finds the experiment group worse than control beyond the metric\'s tolerance, in its direction. A counter rate (`rate`/`increase`) is read over a window of 2 or 4 steps where the source answers one before the window (ADR 026), so a sudden drop shows within a few steps rather than the query\'s whole window.', example: 'checkout-sps' },
  'spec.guardrails[]<compare>.alpha': { description: 'Level of the sequential test. Default: `analysis.alpha`.', unit: 'probability', example: '0.01' },
  'spec.guardrails[]<threshold>.name': { description: 'Name of the guardrail, unique in the spec.', example: 'checkout-errors' },
  'spec.guardrails[]<threshold>.query': { description: 'Query whose latest value is compared with `max` / `min`; or `{ template, vars }` from the query library.', example: 'sum(rate(http_requests_total{group="experiment",code=~"5.."}[15s])) / sum(rate(http_requests_total{group="experiment"}[15s]))' },
  'spec.guardrails[]<threshold>.query.template': { description: 'Name of a query library template.', example: 'http-error-ratio' },
  'spec.guardrails[]<threshold>.query.vars': { description: 'Values for the template\'s variables.', example: '{ job: shop }' },
  'spec.guardrails[]<threshold>.max': { description: 'Halt when the value is above this. At least one of max and min.', unit: 'the query\'s unit', example: '0.02' },
  'spec.guardrails[]<threshold>.min': { description: 'Halt when the value is below this; must be below `max`.', unit: 'the query\'s unit', example: '10' },
  'spec.guardrails[]<threshold>.for': { description: 'Consecutive breaching evaluations needed to halt.', unit: 'evaluations', example: '3' },
  'spec.onNoData': { description: 'What missing data does while the fault is open: `halt` (fail safe, after `analysis.noDataGrace`) or `ignore`.', example: 'halt' },
  'spec.analysis': { description: 'How the run is judged and watched.', example: '{ interval: 5s, alpha: 0.05 }' },
  'spec.analysis.interval': { description: 'How often guardrails are evaluated while the window is open. At least 1s, shorter than fault.duration.', unit: DURATION, example: '5s' },
  'spec.analysis.alpha': { description: 'Significance level; confidence intervals are (1 − alpha).', unit: 'probability', example: '0.01' },
  'spec.analysis.minSamples': { description: 'Fewer samples than this in either group gives `inconclusive`. The fault window must guarantee this many steps.', unit: 'samples per group', example: '30' },
  'spec.analysis.baseline': { description: 'Watch both groups this long before opening the fault (A/A sanity check, guardrails armed).', unit: DURATION, example: '1m' },
  'spec.analysis.settle': { description: 'Wait after closing before the final queries, so the last scrapes land. Default: 2 × step.', unit: DURATION, example: '10s' },
  'spec.analysis.noDataGrace': { description: 'Missing data is tolerated this long before it halts (with onNoData: halt). Default: 2 × interval.', unit: DURATION, example: '15s' },
  'spec.analysis.method': { description: '`paired`: dependence-aware judge (ADR 013). `mann-whitney`: Kayenta parity, assumes independent samples.', example: 'paired' },
  'spec.analysis.history': { description: 'How far back `compare:` guardrails learn the metric\'s noise before the window. Default: 40 range windows, 10m to 1h.', unit: DURATION, example: '30m' },
  'spec.schedule': { description: 'Run continuously on a cron, only inside allowed hours and days, never on blackout dates.', example: '{ cron: "*/30 * * * *", timezone: Europe/Berlin }' },
  'spec.schedule.cron': { description: 'Five-field cron (minute hour day-of-month month day-of-week), read in `timezone`.', example: '"*/30 10-17 * * 1-5"' },
  'spec.schedule.timezone': { description: 'IANA time zone for cron, hours, days and blackout dates.', example: 'Asia/Tokyo' },
  'spec.schedule.allowedHours': { description: 'Local hours `[from, to)` a run (baseline and fault window included) must fit in; `22:00-02:00` crosses midnight, `00:00-24:00` is any time.', unit: 'HH:MM-HH:MM, local time', example: '"09:00-17:00"' },
  'spec.schedule.allowedDays': { description: 'Local weekdays runs may start on.', example: '[mon, tue, wed, thu, fri]' },
  'spec.schedule.blackout': { description: 'Local dates (or inclusive ranges `A..B`) with no runs.', unit: 'YYYY-MM-DD', example: '["2026-12-24", "2026-12-27..2027-01-02"]' },
  'spec.schedule.enabled': { description: 'Turn the schedule off without deleting it.', example: 'false' },
  'spec.notify': { description: 'Where a run\'s start, halt and verdict are reported.', example: '{ slack: { channel: "#chaos" } }' },
  'spec.notify.slack': { description: 'Slack: a bot (`channel`, optional `token`) or an incoming webhook (`webhookUrl`), not both.' },
  'spec.notify.slack.webhookUrl': { description: 'Incoming webhook URL, as a reference to an environment variable of the service (a secret: never the value). Default: STEADYSTATE_SLACK_WEBHOOK_URL.', example: '{ fromEnv: SLACK_WEBHOOK_CHAOS }' },
  'spec.notify.slack.webhookUrl.fromEnv': { description: 'Environment variable name, starting with SLACK_ or STEADYSTATE_SLACK_.', example: 'SLACK_WEBHOOK_CHAOS' },
  'spec.notify.slack.token': { description: 'Bot token (chat:write) as a reference to an environment variable. Default: STEADYSTATE_SLACK_BOT_TOKEN.', example: '{ fromEnv: SLACK_BOT_TOKEN_PAYMENTS }' },
  'spec.notify.slack.token.fromEnv': { description: 'Environment variable name, starting with SLACK_ or STEADYSTATE_SLACK_.', example: 'SLACK_BOT_TOKEN_PAYMENTS' },
  'spec.notify.slack.channel': { description: 'Channel name or id, for a bot.', example: '"#chaos"' },
  'spec.notify.slack.updates': { description: 'How a bot reports halt and verdict: `update` the start message in place, or reply in its `thread`.', example: 'thread' },
  'spec.expect': { description: 'Alert expectations: which alerts must fire (how soon after each step began), resolve after the window, or never fire; judged beside the metrics as `alerts: pass|fail|inconclusive` (docs/alerts.md).', example: '{ alerts: [{ name: ErrorBudgetBurnFast, within: 5m }, { name: PagerOnly, never: true }] }' },
  'spec.expect.alerts': { description: 'One entry per alert: `within` (must fire) or `never: true` (must not).', example: '[{ name: ErrorBudgetBurnFast, within: 5m }]' },
  'spec.expect.alerts[].name': { description: 'The alerting rule\'s name (its `alertname` label). A name Prometheus has no alerting rule for fails the expectation.', example: 'ErrorBudgetBurnFast' },
  'spec.expect.alerts[].labels': { description: 'Equality matchers on the alert\'s labels.', example: '{ severity: page }' },
  'spec.expect.alerts[].within': { description: 'The alert must be firing at most this long after each step (the whole window without a ladder) began; the firing time is Prometheus\'s activeAt plus the rule\'s `for`.', unit: DURATION, example: '5m' },
  'spec.expect.alerts[].resolveWithin': { description: 'The alert must stop firing at most this long after the window closed; the run watches that long at most.', unit: DURATION, example: '10m' },
  'spec.expect.alerts[].steps': { description: 'Fault-ladder steps (numbered from 1) on which the alert must fire within `within`; before the first it must stay quiet, after it it is not judged; a named step the ladder did not reach makes the expectation inconclusive. Default: every step that ran.', example: '[3]' },
  'spec.expect.alerts[].never': { description: 'The alert must not fire (in Prometheus, nor active in Alertmanager) while the run watches.', example: 'true' },
  'spec.expect.prometheus': { description: 'Where the alerting rules are read (`GET /api/v1/rules?type=alert`). Default: `spec.source` when it is Prometheus.', example: '{ url: "http://prometheus:9090" }' },
  'spec.expect.prometheus.url': { description: 'Base URL of Prometheus; allowed by STEADYSTATE_ALLOWED_HOSTS.', example: '"http://prometheus:9090"' },
  'spec.expect.prometheus.headers': { description: 'Sent with every request; values are text or secret references `{ fromEnv }` / `{ fromFile }`, never shown.', example: '{ X-Scope-OrgID: team-a }' },
  'spec.expect.alertmanager': { description: 'An Alertmanager to check too (`GET /api/v2/alerts`): an alert that must fire must also be active there, unsilenced.', example: '{ url: "http://alertmanager:9093" }' },
  'spec.expect.alertmanager.url': { description: 'Base URL of Alertmanager; allowed by STEADYSTATE_ALLOWED_HOSTS.', example: '"http://alertmanager:9093"' },
  'spec.expect.alertmanager.headers': { description: 'Sent with every request; values are text or secret references `{ fromEnv }` / `{ fromFile }`, never shown.', example: '{ Authorization: { fromEnv: AM_TOKEN } }' },
  'spec.expect.interval': { description: 'How often the alerts APIs are polled while the run watches (never on the halt path).', unit: DURATION, example: '2s' },
  'spec.expect.timeout': { description: 'Time limit of each request to the alerts APIs; a slow answer costs one look.', unit: DURATION, example: '2s' },
  'spec.expect.onFail': { description: '`report`: the run\'s state stays the metrics\' verdict, alerts reported beside it. `fail`: failed alert expectations fail a passed or inconclusive run.', example: 'report' },
};

const SOURCES: Record<string, FieldDoc> = {
  ...prefix('spec.source<prometheus>', {
    url: { description: 'Base URL of Prometheus (a path prefix is fine; no ?query or #fragment).', example: '"http://127.0.0.1:9090"' },
    step: { description: 'Query resolution: one sample per step and group. Between 1ms and 24h.', unit: DURATION, example: '1s' },
    timeout: { description: 'Per-request wall-clock limit. Default 10s.', unit: DURATION, example: '5s' },
    headers: { description: 'Sent with every request (e.g. Authorization, X-Scope-OrgID); values are text or secret references `{ fromEnv }` / `{ fromFile }`, never shown.', example: '{ Authorization: { fromEnv: PROM_AUTH } }' },
  }),
  ...prefix('spec.source<datadog>', {
    site: { description: 'Datadog site. Default: the DD_SITE environment variable, then datadoghq.com.', example: 'datadoghq.eu' },
    url: { description: 'Base URL of the API, overriding `site` (a proxy, a compatible endpoint).', example: '"https://api.datadoghq.eu"' },
    api: { description: '`v2`: POST /api/v2/query/timeseries. `v1`: GET /api/v1/query, for expressions v2 formulas cannot hold.', example: 'v2' },
    step: { description: 'Query resolution (v2 `interval`). Between 1s and 24h.', unit: DURATION, example: '10s' },
    timeout: { description: 'Per-attempt wall-clock limit; keep it below `analysis.interval`. Default 3s.', unit: DURATION, example: '3s' },
    attempts: { description: 'Attempts per query for 5xx, timeouts and network failures (the first included).', unit: 'attempts', example: '3' },
    maxRateLimitWait: { description: 'Longest wait for a rate-limit reset; a later reset fails the call at once (retryable). At most 10m.', unit: DURATION, example: '30s' },
    apiKeyFile: { description: 'File holding the API key (a mounted secret). Default: DD_API_KEY. Keys themselves never go in a spec.', example: '/run/secrets/dd-api-key' },
    appKeyFile: { description: 'File holding the application key. Default: DD_APP_KEY, then DD_APPLICATION_KEY.', example: '/run/secrets/dd-app-key' },
  }),
  ...prefix('spec.source<scrape>', {
    targets: { description: 'Prometheus text endpoints scraped by the embedded source (its PromQL subset is checked at validation). No repeats.', example: '["http://127.0.0.1:9101/metrics"]' },
    step: { description: 'Scrape interval, and the resolution of queries. Between 100ms and 1h.', unit: DURATION, example: '1s' },
    retention: { description: 'History kept in memory, 1m to 24h. Default 15m, or 3600 steps if less.', unit: DURATION, example: '30m' },
    timeout: { description: 'Per-scrape limit, at most the step. Default: the step, at most 10s.', unit: DURATION, example: '500ms' },
    job: { description: 'The `job` label of every scraped series.', example: 'shop' },
  }),
};

const INJECTORS: Record<string, FieldDoc> = {
  ...prefix('spec.fault<http-proxy>.params', {
    admin: { description: 'Base URL of the fault proxy\'s admin API (`steadystate proxy --admin`).', example: '"http://127.0.0.1:8081"' },
    latencyMs: { description: 'Delay added to matching experiment-group requests before forwarding.', unit: 'milliseconds (or a duration)', example: '300' },
    jitterMs: { description: 'Uniform ± jitter around latencyMs; the sum never goes below 0.', unit: 'milliseconds (or a duration)', example: '50' },
    errorRate: { description: 'Share of matching requests answered `errorStatus` without being forwarded.', unit: 'percentage or fraction', example: '5%' },
    errorStatus: { description: 'Status of injected errors.', unit: 'HTTP status', example: '503' },
    abortRate: { description: 'Share of matching requests whose client connection is destroyed.', unit: 'percentage or fraction', example: '1%' },
    paths: { description: 'Path globs the fault applies to (`*` any characters). Default: all paths.', example: '["/checkout*"]' },
    methods: { description: 'HTTP methods the fault applies to. Default: all.', example: '[POST]' },
    noFault: { description: 'An A/A run: the window opens with no fault, to check the judge sees no difference where there is none.', example: 'true' },
  }),
  ...prefix('spec.fault<webhook>.params', {
    ...webhookRequest('open', '{ url: "https://chaos.internal/faults", body: { runId: "{{runId}}" } }'),
    ...webhookRequest('close', '{ url: "https://chaos.internal/faults/{{runId}}", method: DELETE }'),
    ...webhookRequest('status', '{ url: "https://chaos.internal/faults/{{runId}}", method: GET }'),
    timeout: { description: 'Per request. Default 10s.', unit: DURATION, example: '5s' },
  }),
  ...prefix('spec.fault<command>.params', {
    open: { description: 'argv run to open the fault (no shell); placeholders such as {{runId}} in arguments only. Needs the operator\'s STEADYSTATE_COMMAND_ALLOW or `run --allow-command`.', example: '[tc-fault, add, "{{runId}}"]' },
    close: { description: 'argv run to close the fault; must be safe to repeat.', example: '[tc-fault, remove, "{{runId}}"]' },
    status: { description: 'argv whose exit status says whether the fault is active (optional).', example: '[tc-fault, status, "{{runId}}"]' },
    timeout: { description: 'Per run of a program. Default 30s.', unit: DURATION, example: '20s' },
    env: { description: 'Set in the child\'s environment (only names the program\'s allow entry lists; nothing else is inherited but PATH, HOME, LANG).', example: '{ TC_IFACE: eth0 }' },
  }),
  ...prefix('spec.fault<chaos-mesh>.params', {
    ...KUBE,
    kind: { description: 'Chaos Mesh object kind.', example: 'NetworkChaos' },
    spec: { description: 'The chaos object\'s spec as Chaos Mesh documents it (selector, mode, action, …), without `duration` (set from fault.duration).', example: '{ action: delay, mode: all, selector: { labelSelectors: { app: shop } }, delay: { latency: 300ms } }' },
    injectTimeout: { description: 'How long open waits for the fault to be injected.', unit: DURATION, example: '60s' },
    recoverTimeout: { description: 'How long one close waits for the fault to be recovered.', unit: DURATION, example: '60s' },
  }),
  ...prefix('spec.fault<litmus>.params', {
    ...KUBE,
    spec: { description: 'The ChaosEngine spec as Litmus documents it (appinfo, chaosServiceAccount, experiments, …); needs at least one experiment with a name.', example: '{ chaosServiceAccount: pod-delete-sa, experiments: [{ name: pod-delete }] }', opaque: true },
    injectTimeout: { description: 'How long open waits for a running experiment. Default 120s.', unit: DURATION, example: '180s' },
    recoverTimeout: { description: 'How long one close waits for `engineStatus: stopped`. Default 120s.', unit: DURATION, example: '120s' },
  }),
  ...prefix('spec.fault<aws-fis>.params', {
    experimentTemplateId: { description: 'The FIS experiment template to start.', example: 'EXT1a2b3c4d5e6f7' },
    region: { description: 'AWS region.', example: 'eu-west-1' },
    endpoint: { description: 'Another endpoint than FIS\'s regional one (a VPC endpoint).', example: '"https://fis.eu-west-1.amazonaws.com"' },
    startTimeout: { description: 'How long open waits for `running`. Default 120s.', unit: DURATION, example: '120s' },
    stopTimeout: { description: 'How long one close waits for the experiment to end. Default 120s.', unit: DURATION, example: '120s' },
    tags: { description: 'Extra tags on the FIS experiment (steadystate adds its own).', example: '{ team: payments }' },
  }),
  ...prefix('spec.fault<gremlin>.params', {
    baseUrl: { description: 'Gremlin API base URL.', example: '"https://api.gremlin.com/v1"' },
    teamId: { description: 'Gremlin team id.', example: 'e7352a6b-a9a0-513c-81e4-980f680a70c4' },
    credentials: { description: 'Sent as `Authorization: <scheme> <value of fromEnv>`.', example: '{ scheme: Key, fromEnv: GREMLIN_API_KEY }' },
    'credentials.scheme': { description: 'Authorization scheme.', example: 'Bearer' },
    'credentials.fromEnv': { description: 'Environment variable of the service holding the key.', example: 'GREMLIN_API_KEY' },
    command: { description: 'The attack as Gremlin\'s API takes it.', example: '{ type: latency, args: ["-m", "300"] }' },
    'command.type': { description: 'Attack type (latency, blackhole, cpu, …).', example: 'latency' },
    'command.args': { description: 'Gremlin CLI arguments, without the length (set from fault.duration).', example: '["-m", "300"]' },
    target: { description: 'Gremlin target object (hosts, containers, …) as its API documents it.', example: '{ type: Random, containers: { labels: { app: shop } } }' },
    startTimeout: { description: 'How long open waits for the attack to run.', unit: DURATION, example: '120s' },
    haltTimeout: { description: 'How long one close waits for the attack to end.', unit: DURATION, example: '60s' },
    haltAllFallback: { description: 'If the attack cannot be halted by id, halt every attack of the team.', example: 'true' },
  }),
  ...prefix('spec.fault<toxiproxy>.params', {
    url: { description: 'Toxiproxy\'s admin API.', example: '"http://127.0.0.1:8474"' },
    proxy: { description: 'Name of an existing Toxiproxy proxy.', example: 'shop-db' },
    type: { description: 'Toxic type.', example: 'latency' },
    stream: { description: '`downstream` (server → client) or `upstream`.', example: 'downstream' },
    toxicity: { description: 'Share of connections the toxic applies to.', unit: 'percentage or fraction', example: '25%' },
    attributes: { description: 'Toxic attributes as Toxiproxy documents them (latency and jitter in ms, rate in KB/s, bytes).', unit: 'per attribute, as Toxiproxy documents it', example: '{ latency: 300, jitter: 50 }' },
  }),
};

export const FIELD_DOCS: Readonly<Record<string, FieldDoc>> = Object.freeze({ ...CORE, ...SOURCES, ...INJECTORS });
