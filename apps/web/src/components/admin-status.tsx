'use client';

import dynamic from 'next/dynamic';
import { useCallback, useEffect, useState } from 'react';
import { apiJson, errorMessage } from '@/lib/api';
import { DataTable } from './data-table';
import { LoadState } from './load-state';
import { useApp } from './providers';

/** The chart code loads only when an admin opens this page. */
const UsageChart = dynamic(() => import('./usage-chart'), { ssr: false });

interface ProviderStatus {
  id: string;
  provider: string;
  model: string;
  aliases: string[];
  circuit: 'closed' | 'open' | 'half_open';
  live: { inFlight: number; ttftMs: number | null; tokensPerSecond: number | null; healthScore: number };
  lastHour: { requests: number; errors: number; latencyMs: number | null; p95LatencyMs: number | null };
}
interface UsageBucket {
  key: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** How often the providers table refreshes while it is on screen. */
const REFRESH_MS = 10_000;
const ms = (value: number | null) => (value === null ? '—' : `${value} ms`);

/** Providers with live health, circuit state and latency, refreshed every 10 s (GET /api/admin/providers). */
export function AdminProviders() {
  const { t } = useApp();
  const [items, setItems] = useState<ProviderStatus[] | null>(null);
  const [error, setError] = useState<string | undefined>();
  const load = useCallback(() => {
    apiJson<{ items: ProviderStatus[] }>('/api/admin/providers')
      .then((page) => {
        setItems(page.items);
        setError(undefined);
      })
      .catch((err: unknown) => setError(errorMessage(err, t)));
  }, [t]);
  useEffect(() => {
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, [load]);
  return (
    <section className="card" aria-labelledby="admin-providers">
      <h2 id="admin-providers">{t('admin.providers')}</h2>
      <p className="muted">{t('admin.providersLead')}</p>
      <LoadState error={error} loading={items === null} />
      {items ? (
        <DataTable
          columns={[
            t('admin.deployment'),
            t('admin.provider'),
            t('admin.circuit'),
            t('admin.health'),
            t('admin.latency'),
            t('admin.lastHour'),
          ]}
        >
          {items.map((d) => (
            <tr key={d.id}>
              <th scope="row">
                {d.id}
                <div className="muted">{d.aliases.join(', ')}</div>
              </th>
              <td>
                {d.provider} · {d.model}
              </td>
              <td>
                <span className="badge">{t(`admin.circuit.${d.circuit}`)}</span>
              </td>
              <td>{Math.round(d.live.healthScore * 100)}%</td>
              <td>
                {t('admin.ttft', { value: ms(d.live.ttftMs) })}
                <div className="muted">{t('admin.inFlight', { count: d.live.inFlight })}</div>
              </td>
              <td>
                {t('admin.hourStats', {
                  requests: d.lastHour.requests,
                  errors: d.lastHour.errors,
                  mean: ms(d.lastHour.latencyMs),
                  p95: ms(d.lastHour.p95LatencyMs),
                })}
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </section>
  );
}

/** Usage and cost over the last 30 days as charts (GET /api/admin/usage), and the top models. */
export function AdminUsage() {
  const { t, locale } = useApp();
  const [data, setData] = useState<{ byDay: UsageBucket[]; byModel: UsageBucket[] } | null>(null);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    apiJson<{ byDay: UsageBucket[]; byModel: UsageBucket[] }>('/api/admin/usage?days=30')
      .then(setData)
      .catch((err: unknown) => setError(errorMessage(err, t)));
  }, [t]);
  const count = new Intl.NumberFormat(locale, { notation: 'compact' });
  const usd = new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD', maximumFractionDigits: 2 });
  return (
    <section className="card" aria-labelledby="admin-usage">
      <h2 id="admin-usage">{t('admin.usage')}</h2>
      <LoadState error={error} loading={data === null} />
      {data && data.byDay.length === 0 ? <p className="muted">{t('admin.noUsage')}</p> : null}
      {data && data.byDay.length > 0 ? (
        <>
          <UsageChart
            title={t('admin.chartTokens')}
            tableLabel={t('admin.chartTable')}
            points={data.byDay.map((b) => ({ label: b.key, value: b.inputTokens + b.outputTokens }))}
            format={(v) => count.format(v)}
          />
          <UsageChart
            title={t('admin.chartCost')}
            tableLabel={t('admin.chartTable')}
            points={data.byDay.map((b) => ({ label: b.key, value: b.costUsd }))}
            format={(v) => usd.format(v)}
          />
          <DataTable columns={[t('admin.model'), t('admin.requests'), t('admin.tokens'), t('admin.cost')]}>
            {data.byModel.map((m) => (
              <tr key={m.key}>
                <th scope="row">{m.key}</th>
                <td>{count.format(m.requests)}</td>
                <td>{count.format(m.inputTokens + m.outputTokens)}</td>
                <td>{usd.format(m.costUsd)}</td>
              </tr>
            ))}
          </DataTable>
        </>
      ) : null}
    </section>
  );
}
