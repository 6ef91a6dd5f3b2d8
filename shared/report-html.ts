// `inner-node report --html FILE` and `outer-node report --html FILE` (issue 8): one self-contained
// HTML page for a manager, with charts drawn here as inline SVG. No external script, style, font or
// image, and a Content-Security-Policy that forbids any fetch, so the page works on a machine with no
// network and cannot call home. Pure: plain data in, a string out; every text from the data is escaped.

/** A bar of a bar chart: a label, a value and, optionally, how to show the value. */
interface Bar {
  label: string;
  value: number;
  valueLabel?: string;
  tone?: Tone;
}

type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'muted';

/** Everything the report shows; the nodes fill it from their state database, ledger and trust folder. */
export interface ReportData {
  node: { name: string; role: 'inner' | 'outer' };
  /** When the report was made (ISO 8601 with an offset). */
  generatedAt: string;
  /** The period the charts cover (ISO 8601 with an offset). */
  period: { from: string; to: string };
  /** The offset times are shown in, e.g. '+08:00' (default 'Z'). */
  utcOffset?: string;
  /** Rows moved per time bucket, one series per dataset (sent on the inner node, applied on the outer). */
  throughput: { series: { name: string; points: { at: string; rows: number }[] }[] };
  /** Now: seconds the oldest waiting bundle of each stream has waited. */
  lag: { stream: string; seconds: number }[];
  /** Files in quarantine, counted by refusal reason (code). */
  quarantine: { reason: string; count: number }[];
  /** Rows refused by mapping rules in the period, counted by reason. */
  rejects: { reason: string; count: number }[];
  /** Missing sequence ranges per stream, open or closed within the period. */
  gaps: {
    stream: string;
    from: number;
    to: number;
    since: string;
    /** When the gap was filled, if it was. */
    filledAt?: string;
    state: 'waiting' | 'requested' | 'out-of-retention' | 'filled';
  }[];
  /** Certificates this node holds or trusts. */
  keys: { name: string; usage: string; notAfter: string }[];
  /** Credit decisions in the period by outcome (outer node; empty on the inner node). */
  decisions: { outcome: string; count: number }[];
  /** Score distribution of the decisions in the period, with the policy's bands if known. */
  scores: {
    bins: { from: number; to: number; count: number }[];
    bands?: { reviewFrom: number; approveFrom: number };
  };
  /** Datasets held back until an operator resumes them (inner node; schema drift, a restore). */
  paused?: { dataset: string; reason: string; since: string }[];
  /** Thresholds for colours (defaults: key expiry warn 45 d / critical 14 d; lag warn 15 min / critical 1 h). */
  thresholds?: {
    keyWarnDays?: number;
    keyCriticalDays?: number;
    lagWarnSeconds?: number;
    lagCriticalSeconds?: number;
  };
}

const TONE_COLOUR: Record<Tone, string> = {
  ok: '#1a7f4b',
  warn: '#c77700',
  bad: '#c62828',
  info: '#1f5fa8',
  muted: '#7a8591',
};
const SERIES_COLOURS = [
  '#1f5fa8',
  '#d9730d',
  '#2e8b57',
  '#8e44ad',
  '#c62828',
  '#0f8a8a',
  '#6d4c41',
  '#5c6bc0',
];

/** Escapes text for HTML content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** 1234567 as '1,234,567' (no locale data needed, the same on every machine). */
export function formatInteger(n: number): string {
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Axis labels: 1.2M, 85k, 950. */
function formatCompact(n: number): string {
  const abs = Math.abs(n);
  const trim = (x: number): string => x.toFixed(1).replace(/\.0$/, '');
  if (abs >= 1e9) return `${trim(n / 1e9)}G`;
  if (abs >= 1e6) return `${trim(n / 1e6)}M`;
  if (abs >= 1e4) return `${trim(n / 1e3)}k`;
  return formatInteger(n);
}

/** 95 as '1 min 35 s', 7200 as '2 h'. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400)
    return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)} h` : ''}`;
}

function offsetMinutes(offset: string): number {
  if (offset === 'Z') return 0;
  const match = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!match) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/** An instant as 'yyyy-MM-dd HH:mm' in the report's offset (never a naive string: the offset is shown once, in the header). */
function formatTime(
  ms: number,
  offset: string,
  part: 'datetime' | 'date' | 'time' | 'day' = 'datetime',
): string {
  const shifted = new Date(ms + offsetMinutes(offset) * 60_000).toISOString();
  const date = shifted.slice(0, 10);
  const time = shifted.slice(11, 16);
  if (part === 'date') return date;
  if (part === 'day') return date.slice(5);
  if (part === 'time') return time;
  return `${date} ${time}`;
}

/** Round tick steps (1, 2, 5 x 10^k) covering 0..max with about `count` ticks. */
function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = 0; t < max + step * 0.999; t += step) ticks.push(Math.round(t * 1e9) / 1e9);
  return ticks;
}

/** Shortens a label to about `width` pixels at 12 px (capitals are wider), ending it with '…'. */
function fitText(text: string, width: number): string {
  const charWidth = (c: string): number => (/[A-Z_@%#]/.test(c) ? 8.2 : /[\u2E80-\uFFFF]/.test(c) ? 12 : 6.6);
  let used = 0;
  const chars = [...text];
  for (let i = 0; i < chars.length; i++) {
    used += charWidth(chars[i] ?? '');
    if (used > width) return `${chars.slice(0, Math.max(i - 1, 1)).join('')}…`;
  }
  return text;
}

const svgText = (x: number, y: number, text: string, attrs = ''): string =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs ? ` ${attrs}` : ''}>${escapeHtml(text)}</text>`;

function svgOpen(chart: string, width: number, height: number, title: string): string {
  return `<svg data-chart="${chart}" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${escapeHtml(title)}" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(title)}</title>`;
}

function emptyState(chart: string, message: string): string {
  return `<div class="empty" data-chart="${chart}" data-empty="true">${escapeHtml(message)}</div>`;
}

/** Horizontal bars: long labels (stream names, refusal codes) read best down the left side. */
function horizontalBars(
  chart: string,
  title: string,
  bars: readonly Bar[],
  options: { cap?: number; width?: number } = {},
): string {
  const width = options.width ?? 560;
  const labelWidth = 210;
  const valueWidth = 110;
  const rowHeight = 26;
  const top = 8;
  const height = top + bars.length * rowHeight + 22;
  const plot = width - labelWidth - valueWidth;
  const max = options.cap ?? Math.max(...bars.map((b) => b.value), 0);
  const ticks = niceTicks(max, 4);
  const domain = options.cap ?? ticks.at(-1) ?? 1;
  const x = (v: number): number => labelWidth + (Math.min(Math.max(v, 0), domain) / domain) * plot;
  const parts = [svgOpen(chart, width, height, title)];
  for (const t of ticks.filter((t) => t <= domain)) {
    parts.push(`<line class="grid" x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${height - 20}"/>`);
    parts.push(svgText(x(t), height - 6, formatCompact(t), 'class="axis" text-anchor="middle"'));
  }
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const label = fitText(bar.label, labelWidth - 14);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 17}" class="label" text-anchor="end"><title>${escapeHtml(bar.label)}</title>${escapeHtml(label)}</text>`,
    );
    // Every bar stays visible: an expired certificate (0 days) still shows a sliver in its colour.
    const w = Math.max(x(bar.value) - labelWidth, 3);
    parts.push(
      `<rect data-mark="bar" x="${labelWidth}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowHeight - 8}" rx="3" fill="${TONE_COLOUR[bar.tone ?? 'info']}"><title>${escapeHtml(`${bar.label}: ${bar.valueLabel ?? formatInteger(bar.value)}`)}</title></rect>`,
    );
    parts.push(
      svgText(labelWidth + w + 6, y + 17, bar.valueLabel ?? formatInteger(bar.value), 'class="value"'),
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Throughput over time: one line per series on a shared time axis, with a legend. */
function lineChart(data: ReportData, offset: string): string {
  const series = data.throughput.series.filter((s) => s.points.length > 0);
  if (series.length === 0) return emptyState('throughput', 'Nothing was moved in this period.');
  const width = 1120;
  const height = 300;
  const left = 64;
  const right = 16;
  const top = 14;
  const bottom = 46;
  const from = Date.parse(data.period.from);
  const to = Math.max(Date.parse(data.period.to), from + 1);
  // A reduce, not Math.max(...): a long period at a fine bucket has more points than a call takes arguments.
  const max = series.reduce((m, s) => s.points.reduce((n, p) => Math.max(n, p.rows), m), 0);
  const ticks = niceTicks(max, 5);
  const yMax = ticks.at(-1) ?? 1;
  const x = (ms: number): number => left + ((ms - from) / (to - from)) * (width - left - right);
  const y = (v: number): number => top + (1 - v / yMax) * (height - top - bottom);
  const parts = [svgOpen('throughput', width, height, 'Rows moved over time')];
  for (const t of ticks) {
    parts.push(
      `<line class="grid" x1="${left}" x2="${width - right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"/>`,
    );
    parts.push(svgText(left - 8, y(t) + 4, formatCompact(t), 'class="axis" text-anchor="end"'));
  }
  const span = to - from;
  const part = span > 2 * 86_400_000 ? 'day' : 'time';
  for (let i = 0; i <= 6; i++) {
    const ms = from + (span * i) / 6;
    parts.push(
      `<line class="grid" x1="${x(ms).toFixed(1)}" x2="${x(ms).toFixed(1)}" y1="${top}" y2="${height - bottom}"/>`,
    );
    const anchor = i === 0 ? 'start' : i === 6 ? 'end' : 'middle';
    parts.push(
      svgText(
        x(ms),
        height - bottom + 18,
        formatTime(ms, offset, part),
        `class="axis" text-anchor="${anchor}"`,
      ),
    );
  }
  series.forEach((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length] ?? '#1f5fa8';
    const points = [...s.points].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const d = points
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(Date.parse(p.at)).toFixed(1)},${y(p.rows).toFixed(1)}`)
      .join(' ');
    parts.push(
      `<path data-mark="line" d="${d}" fill="none" stroke="${colour}" stroke-width="2.2" stroke-linejoin="round"><title>${escapeHtml(s.name)}</title></path>`,
    );
    if (points.length === 1 && points[0]) {
      parts.push(
        `<circle data-mark="point" cx="${x(Date.parse(points[0].at)).toFixed(1)}" cy="${y(points[0].rows).toFixed(1)}" r="3.5" fill="${colour}"/>`,
      );
    }
    // The first four series are named in the chart; more are named in a line below it.
    const lx = left + i * 260;
    const ly = height - 10;
    if (i < 4) {
      parts.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${colour}"/>`);
      parts.push(svgText(lx + 20, ly - 3, s.name, 'class="legend"'));
    }
  });
  parts.push('</svg>');
  if (series.length > 4) {
    const more = series
      .slice(4)
      .map(
        (s, i) =>
          `<span class="key" style="--c:${SERIES_COLOURS[(i + 4) % SERIES_COLOURS.length] ?? '#1f5fa8'}">${escapeHtml(s.name)}</span>`,
      )
      .join(' ');
    parts.push(`<p class="legend-more">${more}</p>`);
  }
  return parts.join('');
}

/** Stream gaps: each gap as a mark on a time line per stream (red while open), and a table below. */
function gapChart(data: ReportData, offset: string, now: number): string {
  if (data.gaps.length === 0) return emptyState('gaps', 'No stream had a gap in this period.');
  const streams = [...new Set(data.gaps.map((g) => g.stream))].sort();
  const width = 1120;
  const labelWidth = 250;
  const right = 16;
  const rowHeight = 26;
  const top = 6;
  const height = top + streams.length * rowHeight + 26;
  const from = Date.parse(data.period.from);
  const to = Math.max(Date.parse(data.period.to), from + 1);
  const x = (ms: number): number =>
    labelWidth + ((Math.min(Math.max(ms, from), to) - from) / (to - from)) * (width - labelWidth - right);
  const parts = [svgOpen('gaps', width, height, 'Stream gaps over time')];
  const span = to - from;
  for (let i = 0; i <= 6; i++) {
    const ms = from + (span * i) / 6;
    parts.push(
      `<line class="grid" x1="${x(ms).toFixed(1)}" x2="${x(ms).toFixed(1)}" y1="${top}" y2="${height - 22}"/>`,
    );
    const anchor = i === 0 ? 'start' : i === 6 ? 'end' : 'middle';
    parts.push(
      svgText(
        x(ms),
        height - 6,
        formatTime(ms, offset, span > 2 * 86_400_000 ? 'day' : 'time'),
        `class="axis" text-anchor="${anchor}"`,
      ),
    );
  }
  streams.forEach((stream, i) => {
    const y = top + i * rowHeight;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 17}" class="label" text-anchor="end"><title>${escapeHtml(stream)}</title>${escapeHtml(fitText(stream, labelWidth - 14))}</text>`,
    );
    parts.push(
      `<line class="track" x1="${labelWidth}" x2="${width - right}" y1="${y + 13}" y2="${y + 13}"/>`,
    );
    for (const gap of data.gaps.filter((g) => g.stream === stream)) {
      const start = x(Date.parse(gap.since));
      const end = x(gap.filledAt ? Date.parse(gap.filledAt) : now);
      const tone: Tone = gap.state === 'filled' ? 'ok' : gap.state === 'out-of-retention' ? 'bad' : 'warn';
      const range = gap.from === gap.to ? `${gap.from}` : `${gap.from}–${gap.to}`;
      parts.push(
        `<rect data-mark="gap" x="${start.toFixed(1)}" y="${y + 5}" width="${Math.max(end - start, 4).toFixed(1)}" height="16" rx="3" fill="${TONE_COLOUR[tone]}"><title>${escapeHtml(`${stream} sequence ${range}: ${gap.state}`)}</title></rect>`,
      );
    }
  });
  parts.push('</svg>');
  const rows = [...data.gaps]
    .sort((a, b) => a.stream.localeCompare(b.stream) || a.from - b.from)
    .map((g) => {
      const range = g.from === g.to ? `${g.from}` : `${g.from}–${g.to}`;
      const open = g.filledAt ? Date.parse(g.filledAt) - Date.parse(g.since) : now - Date.parse(g.since);
      const tone: Tone = g.state === 'filled' ? 'ok' : g.state === 'out-of-retention' ? 'bad' : 'warn';
      return `<tr><td>${escapeHtml(g.stream)}</td><td class="num">${escapeHtml(range)}</td><td>${escapeHtml(formatTime(Date.parse(g.since), offset))}</td><td>${escapeHtml(formatDuration(open / 1000))}</td><td><span class="pill ${tone}">${escapeHtml(GAP_STATE_TEXT[g.state])}</span></td></tr>`;
    })
    .join('');
  parts.push(
    `<table class="gaps"><thead><tr><th>stream</th><th>missing sequences</th><th>since</th><th>open for</th><th>state</th></tr></thead><tbody>${rows}</tbody></table>`,
  );
  return parts.join('');
}

const GAP_STATE_TEXT: Record<ReportData['gaps'][number]['state'], string> = {
  waiting: 'waiting for the ferry',
  requested: 'resend requested',
  'out-of-retention': 'beyond retention: see the runbook',
  filled: 'filled',
};

/** Score distribution: a histogram coloured by the policy's bands, with the cut-offs marked. */
function histogram(data: ReportData): string {
  const bins = [...data.scores.bins].sort((a, b) => a.from - b.from);
  if (bins.length === 0 || bins.every((b) => b.count === 0)) {
    return emptyState(
      'scores',
      data.node.role === 'inner'
        ? 'Scores are made on the bank side.'
        : 'No scored decisions in this period.',
    );
  }
  const width = 560;
  const height = 260;
  const left = 48;
  const right = 12;
  const top = 22;
  const bottom = 40;
  const lo = bins[0]?.from ?? 0;
  const hi = bins.at(-1)?.to ?? lo + 1;
  const ticks = niceTicks(Math.max(...bins.map((b) => b.count)), 4);
  const yMax = ticks.at(-1) ?? 1;
  const x = (score: number): number => left + ((score - lo) / (hi - lo)) * (width - left - right);
  const y = (v: number): number => top + (1 - v / yMax) * (height - top - bottom);
  const bands = data.scores.bands;
  const tone = (from: number): Tone =>
    !bands ? 'info' : from >= bands.approveFrom ? 'ok' : from >= bands.reviewFrom ? 'warn' : 'bad';
  const parts = [svgOpen('scores', width, height, 'Score distribution')];
  for (const t of ticks) {
    parts.push(
      `<line class="grid" x1="${left}" x2="${width - right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"/>`,
    );
    parts.push(svgText(left - 6, y(t) + 4, formatCompact(t), 'class="axis" text-anchor="end"'));
  }
  for (const bin of bins) {
    const bx = x(bin.from) + 1;
    const bw = Math.max(x(bin.to) - x(bin.from) - 2, 1);
    parts.push(
      `<rect data-mark="bin" x="${bx.toFixed(1)}" y="${y(bin.count).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(0) - y(bin.count)).toFixed(1)}" fill="${TONE_COLOUR[tone(bin.from)]}"><title>${escapeHtml(`score ${bin.from}–${bin.to}: ${formatInteger(bin.count)}`)}</title></rect>`,
    );
  }
  const step = Math.max(1, Math.ceil(bins.length / 8));
  bins.forEach((bin, i) => {
    if (i % step === 0)
      parts.push(
        svgText(x(bin.from), height - bottom + 16, String(bin.from), 'class="axis" text-anchor="middle"'),
      );
  });
  parts.push(svgText(x(hi), height - bottom + 16, String(hi), 'class="axis" text-anchor="middle"'));
  parts.push(svgText((left + width) / 2, height - 6, 'score', 'class="axis" text-anchor="middle"'));
  if (bands) {
    // The review cut-off is labelled to its left, the approval cut-off to its right, so they never overlap.
    for (const [label, score, side] of [
      ['review from', bands.reviewFrom, 'end'],
      ['approve from', bands.approveFrom, 'start'],
    ] as const) {
      if (score <= lo || score >= hi) continue;
      parts.push(
        `<line class="cutoff" x1="${x(score).toFixed(1)}" x2="${x(score).toFixed(1)}" y1="${top - 14}" y2="${y(0)}"/>`,
      );
      const lx = side === 'end' ? x(score) - 4 : x(score) + 4;
      parts.push(svgText(lx, top - 6, `${label} ${score}`, `class="axis" text-anchor="${side}"`));
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Decisions by outcome: vertical bars in the outcome's colour, with count and share. */
function decisionChart(data: ReportData): string {
  const items = data.decisions.filter((d) => d.count > 0);
  if (items.length === 0) {
    return emptyState(
      'decisions',
      data.node.role === 'inner'
        ? 'Credit decisions are made on the bank side.'
        : 'No credit decisions in this period.',
    );
  }
  const total = items.reduce((sum, d) => sum + d.count, 0);
  const width = 560;
  const height = 260;
  const left = 48;
  const top = 26;
  const bottom = 40;
  const ticks = niceTicks(Math.max(...items.map((d) => d.count)), 4);
  const yMax = ticks.at(-1) ?? 1;
  const y = (v: number): number => top + (1 - v / yMax) * (height - top - bottom);
  const slot = (width - left - 12) / items.length;
  const parts = [svgOpen('decisions', width, height, 'Decisions by outcome')];
  for (const t of ticks) {
    parts.push(
      `<line class="grid" x1="${left}" x2="${width - 12}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}"/>`,
    );
    parts.push(svgText(left - 6, y(t) + 4, formatCompact(t), 'class="axis" text-anchor="end"'));
  }
  items.forEach((d, i) => {
    const bw = Math.min(slot * 0.6, 90);
    const bx = left + i * slot + (slot - bw) / 2;
    const share = `${((d.count / total) * 100).toFixed(1)}%`;
    parts.push(
      `<rect data-mark="bar" x="${bx.toFixed(1)}" y="${y(d.count).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(0) - y(d.count)).toFixed(1)}" rx="3" fill="${TONE_COLOUR[outcomeTone(d.outcome)]}"><title>${escapeHtml(`${d.outcome}: ${formatInteger(d.count)} (${share})`)}</title></rect>`,
    );
    parts.push(
      svgText(
        bx + bw / 2,
        y(d.count) - 6,
        `${formatInteger(d.count)} · ${share}`,
        'class="value" text-anchor="middle"',
      ),
    );
    parts.push(svgText(bx + bw / 2, height - bottom + 18, d.outcome, 'class="label" text-anchor="middle"'));
  });
  parts.push('</svg>');
  return parts.join('');
}

function outcomeTone(outcome: string): Tone {
  const o = outcome.toLowerCase();
  if (/approv|accept|grant/.test(o)) return 'ok';
  if (/declin|reject|refus|deny/.test(o)) return 'bad';
  if (/review|refer|manual/.test(o)) return 'warn';
  return 'info';
}

interface Headline {
  label: string;
  value: string;
  note: string;
  tone: Tone;
}

function daysUntil(notAfter: string, now: number): number {
  return Math.floor((Date.parse(notAfter) - now) / 86_400_000);
}

/** Renders the report page. */
export function renderReport(data: ReportData): string {
  const offset = data.utcOffset ?? 'Z';
  const now = Date.parse(data.generatedAt);
  const t = {
    keyWarnDays: data.thresholds?.keyWarnDays ?? 45,
    keyCriticalDays: data.thresholds?.keyCriticalDays ?? 14,
    lagWarnSeconds: data.thresholds?.lagWarnSeconds ?? 900,
    lagCriticalSeconds: data.thresholds?.lagCriticalSeconds ?? 3600,
  };
  const role = data.node.role === 'inner' ? 'Inner node (government side)' : 'Outer node (bank side)';
  const moved = data.node.role === 'inner' ? 'sent' : 'applied';

  const totalRows = data.throughput.series.reduce(
    (sum, s) => sum + s.points.reduce((a, p) => a + p.rows, 0),
    0,
  );
  const openGaps = data.gaps.filter((g) => g.state !== 'filled');
  const lostGaps = data.gaps.filter((g) => g.state === 'out-of-retention');
  const quarantined = data.quarantine.reduce((sum, q) => sum + q.count, 0);
  const rejected = data.rejects.reduce((sum, r) => sum + r.count, 0);
  const maxLag = Math.max(0, ...data.lag.map((l) => l.seconds));
  const keyDays = data.keys.map((k) => daysUntil(k.notAfter, now));
  const nearest = keyDays.length > 0 ? Math.min(...keyDays) : undefined;
  const decided = data.decisions.reduce((sum, d) => sum + d.count, 0);
  const approved = data.decisions
    .filter((d) => outcomeTone(d.outcome) === 'ok')
    .reduce((sum, d) => sum + d.count, 0);
  const keyTone = (days: number): Tone =>
    days < t.keyCriticalDays ? 'bad' : days < t.keyWarnDays ? 'warn' : 'ok';
  const lagTone = (s: number): Tone =>
    s >= t.lagCriticalSeconds ? 'bad' : s >= t.lagWarnSeconds ? 'warn' : 'ok';

  const headlines: Headline[] = [
    { label: `rows ${moved}`, value: formatInteger(totalRows), note: 'in this period', tone: 'info' },
    {
      label: 'longest wait',
      value: formatDuration(maxLag),
      note: data.lag.length > 0 ? 'oldest bundle waiting' : 'nothing waiting',
      tone: lagTone(maxLag),
    },
    {
      label: 'open gaps',
      value: formatInteger(openGaps.length),
      note:
        lostGaps.length > 0
          ? `${lostGaps.length} beyond retention`
          : openGaps.length > 0
            ? 'being recovered'
            : 'all streams complete',
      tone: lostGaps.length > 0 ? 'bad' : openGaps.length > 0 ? 'warn' : 'ok',
    },
    {
      label: 'in quarantine',
      value: formatInteger(quarantined),
      note: rejected > 0 ? `${formatInteger(rejected)} rows rejected` : 'no rows rejected',
      tone: quarantined > 0 ? 'warn' : 'ok',
    },
    {
      label: 'nearest key expiry',
      value: nearest === undefined ? '–' : nearest < 0 ? 'expired' : `${formatInteger(nearest)} d`,
      note: nearest === undefined ? 'no certificates listed' : `warn below ${t.keyWarnDays} days`,
      tone: nearest === undefined ? 'muted' : keyTone(nearest),
    },
  ];
  if (data.node.role === 'outer') {
    headlines.push({
      label: 'decisions',
      value: formatInteger(decided),
      note: decided > 0 ? `${((approved / decided) * 100).toFixed(1)}% approved` : 'none in this period',
      tone: 'info',
    });
  }

  const busiest = data.throughput.series
    .flatMap((s) => s.points)
    .reduce<{ at: string; rows: number } | undefined>(
      (best, p) => (best && best.rows >= p.rows ? best : p),
      undefined,
    );

  const lagChart =
    data.lag.length === 0
      ? emptyState('lag', 'No stream has a bundle waiting.')
      : horizontalBars(
          'lag',
          'Lag per stream',
          [...data.lag]
            .sort((a, b) => b.seconds - a.seconds)
            .map((l) => ({
              label: l.stream,
              value: l.seconds,
              valueLabel: formatDuration(l.seconds),
              tone: lagTone(l.seconds),
            })),
        );
  const reasonBars = (
    chart: string,
    title: string,
    items: { reason: string; count: number }[],
    empty: string,
    tone: Tone,
  ): string =>
    items.filter((i) => i.count > 0).length === 0
      ? emptyState(chart, empty)
      : horizontalBars(
          chart,
          title,
          [...items]
            .filter((i) => i.count > 0)
            .sort((a, b) => b.count - a.count)
            .map((i) => ({ label: i.reason, value: i.count, tone })),
        );
  const keyCap = 365;
  const keyChart =
    data.keys.length === 0
      ? emptyState('keys', 'No certificates listed.')
      : horizontalBars(
          'keys',
          'Days until each certificate expires',
          [...data.keys]
            .map((k) => ({ k, days: daysUntil(k.notAfter, now) }))
            .sort((a, b) => a.days - b.days)
            .map(({ k, days }) => ({
              label: `${k.name} (${k.usage})`,
              value: Math.max(days, 0),
              valueLabel: days < 0 ? `expired ${formatInteger(-days)} d ago` : `${formatInteger(days)} d`,
              tone: keyTone(days),
            })),
          { cap: Math.min(keyCap, Math.max(t.keyWarnDays * 2, ...keyDays)) },
        );

  const section = (id: string, title: string, lede: string, body: string, wide = false): string =>
    `<section class="card${wide ? ' wide' : ''}" id="${id}"><h2>${escapeHtml(title)}</h2><p class="lede">${escapeHtml(lede)}</p>${body}</section>`;

  const paused = data.paused ?? [];
  const pausedChart =
    paused.length === 0
      ? emptyState('paused', 'No dataset is paused.')
      : horizontalBars(
          'paused',
          'Paused datasets, by how long',
          paused.map((p) => {
            const seconds = Math.max(0, (now - Date.parse(p.since)) / 1000);
            return { label: p.dataset, value: seconds, valueLabel: formatDuration(seconds), tone: 'bad' };
          }),
        ) +
        `<ul class="reasons">${paused.map((p) => `<li><b>${escapeHtml(p.dataset)}</b> since ${escapeHtml(formatTime(Date.parse(p.since), offset))}: ${escapeHtml(p.reason)}</li>`).join('')}</ul>`;

  const sections = [
    section(
      'throughput',
      `Rows ${moved} over time`,
      totalRows === 0
        ? 'Nothing moved in this period.'
        : `${formatInteger(totalRows)} rows in the period${busiest ? `; the busiest interval began ${formatTime(Date.parse(busiest.at), offset)} with ${formatInteger(busiest.rows)} rows` : ''}.`,
      lineChart(data, offset),
      true,
    ),
    section(
      'lag',
      'Lag per stream',
      data.lag.length === 0
        ? 'Every stream is up to date.'
        : `How long the oldest waiting bundle has waited; amber from ${formatDuration(t.lagWarnSeconds)}, red from ${formatDuration(t.lagCriticalSeconds)}.`,
      lagChart,
    ),
    ...(data.node.role === 'inner'
      ? [
          section(
            'paused',
            'Paused datasets',
            paused.length === 0
              ? 'Every dataset is exporting.'
              : `${paused.length} dataset(s) export nothing until an operator runs inner-node resume (runbooks).`,
            pausedChart,
          ),
        ]
      : []),
    section(
      'keys',
      'Key and certificate expiry',
      nearest === undefined
        ? 'No certificates listed.'
        : `Amber below ${t.keyWarnDays} days, red below ${t.keyCriticalDays}; renew with bridge-keys before the bar turns red.`,
      keyChart,
    ),
    section(
      'quarantine',
      'Quarantine by reason',
      quarantined === 0
        ? 'Nothing is in quarantine.'
        : `${formatInteger(quarantined)} file(s) refused for good and waiting for an operator (runbook: quarantine triage).`,
      reasonBars(
        'quarantine',
        'Quarantined files by reason',
        data.quarantine,
        'Nothing is in quarantine.',
        'warn',
      ),
    ),
    section(
      'rejects',
      'Rejected rows by reason',
      rejected === 0
        ? 'No row was rejected in this period.'
        : `${formatInteger(rejected)} row(s) refused by mapping rules; each is in a reject file with its raw value.`,
      reasonBars(
        'rejects',
        'Rejected rows by reason',
        data.rejects,
        'No row was rejected in this period.',
        'bad',
      ),
    ),
    section(
      'gaps',
      'Stream gaps',
      openGaps.length === 0
        ? 'No stream is missing a bundle.'
        : `${openGaps.length} gap(s) open${lostGaps.length > 0 ? `, ${lostGaps.length} beyond the sender's retention (runbook: a gap that left retention)` : ''}.`,
      gapChart(data, offset, now),
      true,
    ),
    section(
      'decisions',
      'Decisions by outcome',
      data.node.role === 'inner'
        ? 'The inner node builds portraits; the banks decide.'
        : decided === 0
          ? 'No credit decisions in this period.'
          : `${formatInteger(decided)} decisions, ${((approved / decided) * 100).toFixed(1)}% approved.`,
      decisionChart(data),
    ),
    section(
      'scores',
      'Score distribution',
      data.node.role === 'inner'
        ? 'Scores are made by the outer node.'
        : data.scores.bands
          ? `Red: declined below ${data.scores.bands.reviewFrom}; amber: human review; green: approved from ${data.scores.bands.approveFrom}.`
          : 'How the scores of this period spread.',
      histogram(data),
    ),
  ];

  const tiles = headlines
    .map(
      (h) =>
        `<div class="tile ${h.tone}"><div class="tile-label">${escapeHtml(h.label)}</div><div class="tile-value">${escapeHtml(h.value)}</div><div class="tile-note">${escapeHtml(h.note)}</div></div>`,
    )
    .join('');
  const title = `${data.node.name} — govbank-bridge report`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="govbank-bridge">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(data.node.name)} <span class="role">${escapeHtml(role)}</span></h1>
<p class="period">${escapeHtml(formatTime(Date.parse(data.period.from), offset))} to ${escapeHtml(formatTime(Date.parse(data.period.to), offset))} (UTC${escapeHtml(offset === 'Z' ? '' : offset)}) · made ${escapeHtml(formatTime(now, offset))}</p>
</header>
<main>
<div class="tiles">${tiles}</div>
<div class="grid">${sections.join('\n')}</div>
</main>
<footer>Made by govbank-bridge from the node's state database; this page loads nothing from anywhere.</footer>
<script>${SELF_CHECK}</script>
</body>
</html>
`;
}

/**
 * After layout, marks each chart with how many of its marks have a visible size (data-drawn), so a
 * headless browser's DOM dump shows the charts really drew. Reads the page only; fetches nothing
 * (the Content-Security-Policy forbids it anyway).
 */
const SELF_CHECK = `for (const svg of document.querySelectorAll('svg[data-chart]')) {
  let drawn = 0;
  for (const mark of svg.querySelectorAll('[data-mark]')) {
    const box = mark.getBBox();
    if (box.width > 0 || box.height > 0) drawn += 1;
  }
  svg.setAttribute('data-drawn', String(drawn));
}`;

const STYLE = `
:root { color-scheme: light; --ink: #1d2733; --muted: #5f6b78; --line: #e3e7ec; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
header { padding: 20px 32px 8px; }
h1 { margin: 0; font-size: 24px; }
h1 .role { font-size: 14px; font-weight: 500; color: var(--muted); margin-left: 8px; }
.period { margin: 4px 0 0; color: var(--muted); }
main { padding: 8px 32px 24px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin-bottom: 16px; }
.tile { background: #fff; border-radius: 8px; padding: 10px 14px; border-left: 5px solid #1f5fa8; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
.tile.ok { border-color: #1a7f4b; } .tile.warn { border-color: #c77700; } .tile.bad { border-color: #c62828; } .tile.muted { border-color: #7a8591; }
.tile-label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.tile-value { font-size: 26px; font-weight: 650; }
.tile.bad .tile-value { color: #c62828; } .tile.warn .tile-value { color: #a86400; }
.tile-note { color: var(--muted); font-size: 12px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.card { background: #fff; border-radius: 8px; padding: 14px 18px; box-shadow: 0 1px 2px rgba(0,0,0,.06); min-width: 0; }
.card.wide { grid-column: 1 / -1; }
h2 { margin: 0; font-size: 16px; }
.lede { margin: 2px 0 8px; color: var(--muted); }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-size: 12px; fill: var(--ink); }
svg .axis { fill: var(--muted); font-size: 11px; }
svg .value { font-weight: 600; }
svg .legend { font-size: 12px; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .track { stroke: var(--line); stroke-width: 6; stroke-linecap: round; }
svg .cutoff { stroke: var(--ink); stroke-width: 1.2; stroke-dasharray: 4 3; }
.empty { padding: 28px 8px; text-align: center; color: var(--muted); background: #fafbfc; border: 1px dashed var(--line); border-radius: 6px; }
table.gaps { width: 100%; border-collapse: collapse; margin-top: 10px; font-size: 13px; }
table.gaps th { text-align: left; color: var(--muted); font-weight: 500; border-bottom: 1px solid var(--line); padding: 4px 6px; }
table.gaps td { border-bottom: 1px solid var(--line); padding: 4px 6px; }
td.num { font-variant-numeric: tabular-nums; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; color: #fff; }
.pill.ok { background: #1a7f4b; } .pill.warn { background: #c77700; } .pill.bad { background: #c62828; }
.legend-more .key::before { content: ""; display: inline-block; width: 14px; height: 4px; margin-right: 6px; vertical-align: middle; background: var(--c); }
.legend-more .key { margin-right: 16px; font-size: 12px; }
footer { padding: 0 32px 24px; color: var(--muted); font-size: 12px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
@media print { body { background: #fff; } .card, .tile { box-shadow: none; border: 1px solid var(--line); } .card { break-inside: avoid; } }
`;

/** Counts scores into bins of `width` points from `min` to `max` (a score on `max` goes to the last bin). */
export function scoreHistogram(
  scores: readonly number[],
  options: { min: number; max: number; width: number },
): ReportData['scores']['bins'] {
  const bins: ReportData['scores']['bins'] = [];
  for (let from = options.min; from < options.max; from += options.width) {
    bins.push({ from, to: Math.min(from + options.width, options.max), count: 0 });
  }
  for (const score of scores) {
    if (!(score >= options.min && score <= options.max)) continue;
    const index = Math.min(Math.floor((score - options.min) / options.width), bins.length - 1);
    const bin = bins[index];
    if (bin) bin.count += 1;
  }
  return bins;
}
