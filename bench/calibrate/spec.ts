/**
 * The experiment each calibration run uses: README-style queries scoped to one
 * synthetic shop (`exp` label), a `compare:` guardrail on checkouts/s, an
 * error-ratio threshold guardrail that should never fire here, and the webhook
 * injector calling the exporter's fault endpoint (rateFactor 1 = an A/A run: the
 * window opens and closes, nothing changes).
 */
import { stringify } from 'yaml';

export interface CalibrationSpecOptions {
  name: string;
  exp: string;
  prometheusUrl: string;
  exporterUrl: string;
  /** Multiplier on the experiment group's checkout rate while the window is open. */
  rateFactor: number;
  windowSec: number;
  /** Tolerances as the spec writes them. */
  checkoutTolerance?: string;
  latencyTolerance?: string;
  /** `analysis.noDataGrace`; default the spec's own (2 intervals). */
  noDataGrace?: string;
}

export function calibrationSpec(o: CalibrationSpecOptions): Record<string, unknown> {
  const sel = (extra = ''): string => `exp="${o.exp}",group="$group"${extra}`;
  return {
    apiVersion: 'steadystate.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name: o.name, service: 'calibration-shop', environment: 'bench', labels: { exp: o.exp, rateFactor: String(o.rateFactor) } },
    spec: {
      source: { kind: 'prometheus', url: o.prometheusUrl, step: '1s' },
      steadyState: [
        {
          name: 'checkout-sps',
          query: `sum(rate(shop_checkouts_total{${sel()}}[15s]))`,
          direction: 'decrease',
          tolerance: o.checkoutTolerance ?? '10%',
        },
        {
          name: 'p95-latency',
          query: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{${sel()}}[15s])))`,
          direction: 'increase',
          tolerance: o.latencyTolerance ?? '20%',
        },
      ],
      fault: {
        injector: 'webhook',
        params: {
          open: { url: `${o.exporterUrl}/fault`, method: 'POST', body: { exp: o.exp, rateFactor: o.rateFactor, until: '{{deadline}}', run: '{{runId}}' } },
          close: { url: `${o.exporterUrl}/fault/${o.exp}`, method: 'DELETE' },
          status: { url: `${o.exporterUrl}/fault/${o.exp}`, method: 'GET' },
          timeout: '5s',
        },
        duration: `${o.windowSec}s`,
      },
      guardrails: [
        { name: 'sps-drop', compare: 'checkout-sps' },
        {
          name: 'error-ratio',
          query: `(sum(rate(http_requests_total{${sel(',code=~"5.."')}}[15s])) or vector(0)) / sum(rate(http_requests_total{${sel()}}[15s]))`,
          max: 0.02,
        },
      ],
      onNoData: 'halt',
      analysis: { interval: '1s', ...(o.noDataGrace ? { noDataGrace: o.noDataGrace } : {}) },
    },
  };
}

export function calibrationSpecYaml(o: CalibrationSpecOptions): string {
  return stringify(calibrationSpec(o), { lineWidth: 0 });
}
