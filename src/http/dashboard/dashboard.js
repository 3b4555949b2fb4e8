// The funnel review page: reads the metrics views and the outbox overview with the user's ops
// key and draws them as SVG (the revenue numbers also as a table). Every number drawn carries
// where it came from (data-source: the API path and its query; data-path: where in its JSON)
// and its raw value (data-value), so a test can hold the page to the JSON. No third-party
// code, no request but to this service.
'use strict';

(function () {
  const KEY_STORE = 'leadrouter.dashboard.key';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const WIDTH = 760;
  const LABEL_WIDTH = 230;
  const BAR_SPACE = WIDTH - LABEL_WIDTH - 90;
  const ROW = 22;
  const COLOURS = ['#3a6ea5', '#e0a100', '#c0504d', '#5b9a68', '#8064a2', '#4bacc6', '#f79646', '#7f7f7f'];

  const $ = (id) => document.getElementById(id);

  // The key: from the fragment (never sent to the server), then dropped from the address bar
  // and history; kept in this tab's session storage only.
  function takeKeyFromFragment() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const key = fragment.get('key');
    if (key) {
      sessionStorage.setItem(KEY_STORE, key.trim());
      history.replaceState(null, '', location.pathname + location.search);
    }
  }

  function source(view, by) {
    const page = new URLSearchParams(location.search);
    const query = new URLSearchParams();
    for (const name of ['from', 'to']) {
      if (page.get(name)) query.set(name, page.get(name));
    }
    if (by) query.set('by', by);
    const text = query.toString();
    return '/api/v1/metrics/' + view + (text ? '?' + text : '');
  }

  const OUTBOX = '/api/v1/outbox';

  class Refused extends Error {
    constructor(status, detail) {
      super(status + ': ' + detail);
      this.status = status;
    }
  }

  async function load(src, key) {
    const response = await fetch(src, {
      headers: { Authorization: 'Bearer ' + key },
      cache: 'no-store',
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Refused(response.status, body.detail || response.statusText);
    return body;
  }

  const count = (v) => String(v);
  const percent = (v) => (v === null ? 'n/a' : (v * 100).toFixed(1) + '%');
  const hours = (s) => (s === null ? 'n/a' : (s / 3600).toFixed(1) + ' h');
  const seconds = (s) => (s === null ? 'n/a' : s + ' s');
  const days = (d) => (d === null ? 'n/a' : d.toFixed(1) + ' d');
  // An amount in one currency; a currency the JSON has no amount in shows as a dash.
  const money = (currency) => (v) => (v === null || v === undefined ? '–' : v.toFixed(2) + ' ' + currency);

  function svgEl(name, attrs, text) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function htmlEl(name, attrs, text) {
    const node = document.createElement(name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function bind(node, src, path, value) {
    node.setAttribute('data-source', src);
    node.setAttribute('data-path', path);
    node.setAttribute('data-value', value === null || value === undefined ? 'null' : String(value));
    return node;
  }

  function svg(container, height, label) {
    const root = svgEl('svg', {
      width: WIDTH, height: height, viewBox: '0 0 ' + WIDTH + ' ' + height, role: 'img', 'aria-label': label,
    });
    container.replaceChildren(root);
    return root;
  }

  // Horizontal bars, one per row: {label, value, format, src, path, colour}, or a heading
  // {label, heading: true}. Rates share the scale 0–100%; counts scale to the largest count.
  function bars(container, label, rows) {
    const counts = rows.filter((r) => r.format === count).map((r) => r.value || 0);
    const most = Math.max(1, ...counts);
    const root = svg(container, rows.length * ROW + 4, label);
    rows.forEach((row, i) => {
      const y = i * ROW;
      root.append(svgEl('text', { x: 0, y: y + 15, class: row.heading ? 'value' : 'axis' }, row.label));
      if (row.heading) return;
      const top = row.format === count ? most : 1;
      const width = Math.round(((row.value || 0) / top) * BAR_SPACE);
      const bar = svgEl('rect', { x: LABEL_WIDTH, y: y + 3, width: width, height: ROW - 7, fill: row.colour || COLOURS[0] });
      root.append(bind(bar, row.src, row.path, row.value));
      const text = svgEl('text', { x: LABEL_WIDTH + width + 6, y: y + 15, class: 'value' }, row.format(row.value));
      root.append(bind(text, row.src, row.path, row.value));
    });
  }

  function drawFunnel(src, report) {
    const t = report.total;
    const steps = [['Leads', 'leads'], ['MQLs', 'mqls'], ['SALs', 'sals'], ['SQLs', 'sqls'],
      ['Rejected', 'rejected'], ['Disqualified', 'disqualified']];
    bars($('funnel'), 'Funnel', steps.map(([label, field], i) => ({
      label: label, value: t[field], format: count, src: src, path: 'total/' + field, colour: COLOURS[i],
    })));
    const facts = $('funnel-facts');
    facts.replaceChildren(
      'MQL → SAL ', bind(htmlEl('strong', {}, percent(t.mql_to_sal)), src, 'total/mql_to_sal', t.mql_to_sal),
      ' · SAL → SQL ', bind(htmlEl('strong', {}, percent(t.sal_to_sql)), src, 'total/sal_to_sql', t.sal_to_sql),
      ' · median time from MQL to acknowledgement ',
      bind(htmlEl('strong', {}, hours(t.median_mql_to_ack_seconds)), src, 'total/median_mql_to_ack_seconds',
        t.median_mql_to_ack_seconds),
    );
  }

  // Per group: a heading with its MQL count, then its two conversion rates.
  function drawConversion(id, label, src, report) {
    const rows = [];
    for (const g of report.groups) {
      const at = 'groups/key=' + g.key + '/';
      rows.push({ label: g.label, heading: true });
      rows.push({ label: '  MQLs', value: g.mqls, format: count, src: src, path: at + 'mqls', colour: COLOURS[1] });
      rows.push({ label: '  MQL → SAL', value: g.mql_to_sal, format: percent, src: src, path: at + 'mql_to_sal', colour: COLOURS[0] });
      rows.push({ label: '  SAL → SQL', value: g.sal_to_sql, format: percent, src: src, path: at + 'sal_to_sql', colour: COLOURS[3] });
    }
    bars($(id), label, rows);
  }

  // Stacked columns, one per ISO week, a segment per reason; the total above each column.
  function drawRejectionWeeks(src, report) {
    const weeks = report.weeks;
    const height = 200;
    const base = height - 30;
    const step = Math.max(24, Math.min(70, Math.floor((WIDTH - 40) / Math.max(1, weeks.length))));
    const most = Math.max(1, ...weeks.map((w) => w.total));
    const root = svg($('rejections-weeks'), height, 'Rejections by week and reason');
    weeks.forEach((week, i) => {
      const x = 30 + i * step;
      const at = 'weeks/key=' + week.key + '/';
      let y = base;
      week.reasons.forEach((r, j) => {
        const h = Math.round((r.count / most) * (base - 20));
        y -= h;
        const segment = svgEl('rect', { x: x, y: y, width: step - 8, height: h, fill: COLOURS[j] });
        segment.append(svgEl('title', {}, week.label + ': ' + r.reason + ' ' + r.count));
        root.append(bind(segment, src, at + 'reasons/reason=' + r.reason + '/count', r.count));
      });
      root.append(bind(svgEl('text', { x: x, y: y - 4, class: 'value' }, count(week.total)), src, at + 'total', week.total));
      root.append(svgEl('text', { x: x, y: height - 12, class: 'axis' }, week.key.slice(-3)));
    });
    const legend = htmlEl('ul', { class: 'legend' });
    report.reasons.forEach((r, j) => {
      const item = htmlEl('li');
      const swatch = htmlEl('span', {}, '■ ');
      swatch.style.color = COLOURS[j];
      item.append(swatch, r.reason + ': ',
        bind(htmlEl('strong', {}, count(r.count)), src, 'reasons/reason=' + r.reason + '/count', r.count), ' (',
        bind(htmlEl('span', {}, percent(r.share)), src, 'reasons/reason=' + r.reason + '/share', r.share), ')');
      legend.append(item);
    });
    $('rejections-reasons').replaceChildren(legend);
    const hints = report.reasons.filter((r) => r.hint);
    $('rejection-hints').replaceChildren(...hints.map((r) => htmlEl('li', {}, r.reason + ': ' + r.hint)));
    if (hints.length === 0) {
      $('rejection-hints').append(htmlEl('li', {}, 'No reason reaches ' + percent(report.hint_rule.min_share) +
        ' of at least ' + report.hint_rule.min_rejections + ' rejections: no tuning hint.'));
    }
  }

  function drawSla(id, label, src, report, withTotal) {
    const rows = [];
    const total = withTotal ? [{ key: null, label: 'All assignments', total: true, ...report.total }] : [];
    const groups = [...total, ...report.groups];
    for (const g of groups) {
      const at = g.total ? 'total/' : 'groups/key=' + g.key + '/';
      rows.push({ label: g.label, heading: true });
      rows.push({ label: '  assignments', value: g.assignments, format: count, src: src, path: at + 'assignments', colour: COLOURS[7] });
      rows.push({ label: '  ack on time', value: g.ack.on_time_share, format: percent, src: src, path: at + 'ack/on_time_share', colour: COLOURS[0] });
      rows.push({ label: '  disposition on time', value: g.disposition.on_time_share, format: percent, src: src, path: at + 'disposition/on_time_share', colour: COLOURS[3] });
      rows.push({ label: '  escalations', value: g.escalations, format: count, src: src, path: at + 'escalations', colour: COLOURS[2] });
    }
    bars($(id), label, rows);
  }

  function drawDisqualifications(src, report) {
    bars($('disqualifications'), 'Disqualifications by reason', report.reasons.map((r, i) => ({
      label: r.reason, value: r.count, format: count, src: src, path: 'reasons/reason=' + r.reason + '/count', colour: COLOURS[i],
    })));
  }

  // Pending, delivered and dead per topic or endpoint; the lag of the oldest pending.
  function drawDeliveries(src, overview) {
    const d = overview.deliveries;
    $('delivery-facts').replaceChildren(
      'pending ', bind(htmlEl('strong', {}, count(d.pending)), src, 'deliveries/pending', d.pending),
      ' · delivered ', bind(htmlEl('strong', {}, count(d.delivered)), src, 'deliveries/delivered', d.delivered),
      ' · dead ', bind(htmlEl('strong', {}, count(d.dead)), src, 'deliveries/dead', d.dead),
      ' · oldest pending for ', bind(htmlEl('strong', {}, seconds(overview.lag_seconds)), src, 'lag_seconds',
        overview.lag_seconds),
      ' · messages no endpoint wanted ', bind(htmlEl('strong', {}, count(overview.messages_without_endpoint)), src,
        'messages_without_endpoint', overview.messages_without_endpoint),
    );
    const statuses = (label, at, g) => [
      { label: label, heading: true },
      { label: '  pending', value: g.pending, format: count, src: src, path: at + 'pending', colour: COLOURS[1] },
      { label: '  delivered', value: g.delivered, format: count, src: src, path: at + 'delivered', colour: COLOURS[3] },
      { label: '  dead', value: g.dead, format: count, src: src, path: at + 'dead', colour: COLOURS[2] },
    ];
    const busy = overview.by_topic.filter((t) => t.pending + t.delivered + t.dead > 0);
    bars($('delivery-topic'), 'Deliveries by topic',
      busy.flatMap((t) => statuses(t.topic, 'by_topic/topic=' + t.topic + '/', t)));
    bars($('delivery-endpoint'), 'Deliveries by endpoint', overview.by_endpoint.flatMap((e) =>
      statuses(e.url + (e.enabled ? '' : ' (disabled)'), 'by_endpoint/endpoint_id=' + e.endpoint_id + '/', e)));
  }

  // The revenue view by week: one row per number (per currency for amounts, never added across
  // currencies), a column for the total and one per week.
  const REVENUE_ROWS = [
    { label: 'MQLs', field: 'mqls', format: count },
    { label: 'SALs', field: 'sals', format: count },
    { label: 'MQL → SAL', field: 'sal_rate', format: percent },
    { label: 'MQLs with an opportunity', field: 'mqls_with_opportunity', format: count },
    { label: 'MQL → opportunity', field: 'opportunity_rate', format: percent },
    { label: 'Opportunities opened', field: 'opportunities_opened', format: count },
    { label: 'Marketing-sourced opportunities', field: 'marketing_sourced_opportunities', format: count },
    { label: 'Marketing-sourced pipeline', field: 'marketing_sourced_pipeline', money: true },
    { label: 'Won', field: 'won', format: count },
    { label: 'Lost', field: 'lost', format: count },
    { label: 'Won rate', field: 'won_rate', format: percent },
    { label: 'Won amount', field: 'won_amount', money: true },
    { label: 'Median days MQL → opportunity', field: 'median_days_mql_to_opportunity', format: days },
    { label: 'Median days opportunity → won', field: 'median_days_opportunity_to_won', format: days },
    { label: 'Spend', field: 'spend', money: true },
    { label: 'CAC (spend per deal won)', field: 'cac', money: true },
  ];

  // The currencies any of `columns` has an amount of `field` in, sorted.
  function currencies(columns, field) {
    return [...new Set(columns.flatMap((c) => Object.keys(c.values[field] || {})))].sort();
  }

  function drawRevenueTable(src, report) {
    const columns = [{ label: 'Total', title: 'the whole period', at: 'total/', values: report.total },
      ...report.groups.map((g) => ({ label: g.key, title: g.label, at: 'groups/key=' + g.key + '/', values: g }))];
    const table = htmlEl('table', { class: 'numbers' });
    const head = htmlEl('tr');
    head.append(htmlEl('th', {}, ''));
    for (const c of columns) head.append(htmlEl('th', { scope: 'col', title: c.title }, c.label));
    table.append(htmlEl('thead'));
    table.firstChild.append(head);
    const body = htmlEl('tbody');
    for (const row of REVENUE_ROWS) {
      if (!row.money) {
        const tr = htmlEl('tr');
        tr.append(htmlEl('th', { scope: 'row' }, row.label));
        for (const c of columns) {
          const v = c.values[row.field];
          tr.append(bind(htmlEl('td', {}, row.format(v)), src, c.at + row.field, v));
        }
        body.append(tr);
        continue;
      }
      const held = currencies(columns, row.field);
      if (held.length === 0) {
        const tr = htmlEl('tr');
        tr.append(htmlEl('th', { scope: 'row' }, row.label));
        columns.forEach(() => tr.append(htmlEl('td', { class: 'none' }, '–')));
        body.append(tr);
        continue;
      }
      for (const currency of held) {
        const tr = htmlEl('tr');
        tr.append(htmlEl('th', { scope: 'row' }, row.label + ' (' + currency + ')'));
        for (const c of columns) {
          const v = c.values[row.field][currency];
          tr.append(bind(htmlEl('td', {}, money(currency)(v)), src, c.at + row.field + '/' + currency, v));
        }
        body.append(tr);
      }
    }
    table.append(body);
    $('revenue').replaceChildren(table);
  }

  // Per currency, a line per week of the marketing-sourced pipeline and one of the amount won; a
  // week without an amount in that currency is drawn at zero (its point still names the JSON,
  // where it is absent).
  function drawRevenueTrend(src, report) {
    const weeks = report.groups;
    const lines = [
      { label: 'marketing-sourced pipeline', field: 'marketing_sourced_pipeline', colour: COLOURS[0] },
      { label: 'won amount', field: 'won_amount', colour: COLOURS[3] },
    ];
    const held = [...new Set(lines.flatMap((l) => currencies(weeks.map((w) => ({ values: w })), l.field)))].sort();
    const container = $('revenue-trend');
    if (held.length === 0) {
      container.replaceChildren(htmlEl('p', { class: 'note' }, 'No marketing-sourced pipeline or amount won in the period.'));
      return;
    }
    container.replaceChildren();
    const height = 180;
    const left = 40;
    const top = 44;
    const base = height - 30;
    const step = weeks.length > 1 ? (WIDTH - left - 40) / (weeks.length - 1) : 0;
    for (const currency of held) {
      const amount = (w, field) => w[field][currency];
      const most = Math.max(1, ...weeks.flatMap((w) => lines.map((l) => amount(w, l.field) || 0)));
      const root = svgEl('svg', {
        width: WIDTH, height: height, viewBox: '0 0 ' + WIDTH + ' ' + height, role: 'img',
        'aria-label': 'Marketing-sourced pipeline and won amount by week, ' + currency, 'data-currency': currency,
      });
      root.append(svgEl('line', { x1: left, y1: base, x2: WIDTH - 20, y2: base, stroke: '#d8dce4' }));
      root.append(svgEl('text', { x: 0, y: 14, class: 'axis' }, currency));
      weeks.forEach((w, i) => {
        root.append(svgEl('text', { x: left + i * step - 10, y: height - 12, class: 'axis' }, w.key.slice(-3)));
      });
      lines.forEach((line, j) => {
        const series = line.field + '/' + currency;
        const points = weeks.map((w, i) => {
          const v = amount(w, line.field);
          const y = base - Math.round(((v || 0) / most) * (base - top));
          return { w: w, v: v, x: Math.round(left + i * step), y: y };
        });
        root.append(svgEl('polyline', {
          points: points.map((p) => p.x + ',' + p.y).join(' '), fill: 'none', stroke: line.colour,
          'stroke-width': 2, 'data-series': series,
        }));
        for (const p of points) {
          const dot = svgEl('circle', { cx: p.x, cy: p.y, r: 4, fill: line.colour, 'data-series': series });
          dot.append(svgEl('title', {}, p.w.key + ' ' + line.label + ': ' + money(currency)(p.v)));
          root.append(bind(dot, src, 'groups/key=' + p.w.key + '/' + series, p.v));
        }
        const y = 10 + j * 16;
        root.append(svgEl('line', { x1: WIDTH - 250, y1: y, x2: WIDTH - 230, y2: y, stroke: line.colour, 'stroke-width': 2 }));
        root.append(svgEl('text', { x: WIDTH - 224, y: y + 4, class: 'axis' }, line.label));
      });
      container.append(root);
    }
  }

  function showPeriod(period) {
    const from = period.from.slice(0, 10);
    const last = new Date(Date.parse(period.to) - 1).toISOString().slice(0, 10);
    $('from').value = from;
    $('to').value = last;
    return from + ' to ' + last + ' (UTC)';
  }

  function setState(state, message) {
    document.body.setAttribute('data-state', state);
    $('status').textContent = message;
  }

  async function render() {
    const key = sessionStorage.getItem(KEY_STORE);
    if (!key) {
      $('key-box').hidden = false;
      $('charts').hidden = true;
      setState('needs-key', 'Give an ops key to see the numbers.');
      return;
    }
    $('key-box').hidden = true;
    setState('loading', 'Loading…');
    const src = {
      funnel: source('funnel'), tier: source('funnel', 'tier'), rep: source('funnel', 'rep'),
      rejections: source('rejections'), slaRep: source('sla', 'rep'), slaTier: source('sla', 'tier'),
      disqualifications: source('disqualifications'), revenue: source('revenue', 'week'), outbox: OUTBOX,
    };
    try {
      const names = Object.keys(src);
      const reports = await Promise.all(names.map((n) => load(src[n], key)));
      const r = Object.fromEntries(names.map((n, i) => [n, reports[i]]));
      drawFunnel(src.funnel, r.funnel);
      drawConversion('conversion-tier', 'Conversion by tier', src.tier, r.tier);
      drawConversion('conversion-rep', 'Conversion by rep', src.rep, r.rep);
      drawRejectionWeeks(src.rejections, r.rejections);
      const terms = r.slaRep.terms;
      $('sla-terms').textContent = 'Assignments made in the period: acknowledged within ' + terms.ack_business_hours +
        ' business hours, accepted or rejected within ' + terms.disposition_business_days +
        ' business days; escalated when untouched ' + terms.escalate_after_hours + ' h. As of ' + r.slaRep.as_of + '.';
      drawSla('sla-rep', 'SLA by rep', src.slaRep, r.slaRep, true);
      drawSla('sla-tier', 'SLA by tier', src.slaTier, r.slaTier, false);
      drawDisqualifications(src.disqualifications, r.disqualifications);
      drawRevenueTable(src.revenue, r.revenue);
      drawRevenueTrend(src.revenue, r.revenue);
      drawDeliveries(src.outbox, r.outbox);
      $('charts').hidden = false;
      setState('ready', showPeriod(r.funnel.period));
    } catch (error) {
      if (error instanceof Refused && (error.status === 401 || error.status === 403)) {
        sessionStorage.removeItem(KEY_STORE);
        $('key-box').hidden = false;
      }
      setState('error', 'Could not load the numbers: ' + error.message);
    }
  }

  function wire() {
    $('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('key').value.trim();
      $('key').value = '';
      if (key) sessionStorage.setItem(KEY_STORE, key);
      render();
    });
    $('period').addEventListener('submit', (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      if ($('from').value) query.set('from', $('from').value);
      if ($('to').value) query.set('to', $('to').value);
      history.pushState(null, '', location.pathname + '?' + query.toString());
      render();
    });
    $('forget-key').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_STORE);
      render();
    });
    window.addEventListener('popstate', render);
  }

  takeKeyFromFragment();
  wire();
  render();
})();
