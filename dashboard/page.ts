/**
 * The live page: one HTML document, its script inline; Chart.js comes from /chart.js (the npm
 * package's UMD build, served by the dashboard: no CDN, the page works offline). It listens to
 * /events (server-sent events, one snapshot per update) and keeps a short history of the rates.
 * Figures carry ids (`#decisions-total`, `#total-lag`, `#members`, ...) for people and for the test.
 */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>redeem: live</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2733; }
  header { padding: 10px 18px; background: #1d2733; color: #fff; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  header .muted { color: #aab4c0; }
  .cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; padding: 12px 18px 0; }
  .card { background: #fff; border-radius: 6px; padding: 8px 12px; box-shadow: 0 1px 2px #0001; }
  .card .label { color: #5b6775; font-size: 12px; }
  .card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; padding: 10px 18px 18px; }
  .panel { background: #fff; border-radius: 6px; padding: 8px 12px; box-shadow: 0 1px 2px #0001; min-width: 0; }
  .panel h2 { font-size: 13px; margin: 0 0 6px; color: #3b4754; }
  .wide { grid-column: span 2; }
  canvas { width: 100% !important; height: 220px !important; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eef0f3; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  .down { color: #b3261e; }
</style>
</head>
<body>
<header><h1>Coupon redemption pipeline</h1><span class="muted">group <span id="group">-</span></span><span class="muted">updated <span id="at">-</span></span><span id="connection" class="muted">connecting</span><span id="problems" class="down"></span></header>
<div class="cards">
  <div class="card"><div class="label">decisions / s</div><div class="value" id="decisions-rate">-</div></div>
  <div class="card"><div class="label">decisions (counted by the members)</div><div class="value" id="decisions-total">-</div></div>
  <div class="card"><div class="label">total lag</div><div class="value" id="total-lag">-</div></div>
  <div class="card"><div class="label">members</div><div class="value" id="members-count">-</div></div>
  <div class="card"><div class="label">dead letters</div><div class="value" id="dead-letters-total">-</div></div>
  <div class="card"><div class="label">rebalances</div><div class="value" id="rebalances">-</div></div>
</div>
<div class="grid">
  <div class="panel wide"><h2>Decisions per second, by decision and reason</h2><canvas id="rates"></canvas></div>
  <div class="panel"><h2>Lag per partition</h2><canvas id="lag"></canvas></div>
  <div class="panel wide"><h2>Latency by stage (requests per bucket, seconds)</h2><canvas id="stages"></canvas></div>
  <div class="panel"><h2>Top coupons (redemptions now)</h2><canvas id="coupons"></canvas></div>
  <div class="panel"><h2>Dead letters by code</h2><canvas id="dead-letters"></canvas></div>
  <div class="panel"><h2>Members of the group</h2><table><thead><tr><th>client</th><th>host</th><th>member</th><th>partitions</th></tr></thead><tbody id="members"></tbody></table></div>
  <div class="panel"><h2>Lag and ops servers</h2><table><tbody id="lag-table"></tbody></table><table><tbody id="consumers"></tbody></table></div>
</div>
<script src="/chart.js"></script>
<script>
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const COLORS = ['#2f6fdf', '#d9822b', '#2e9d57', '#b3261e', '#7a4cc2', '#5b6775', '#c2185b', '#00838f'];
  const HISTORY = 120;
  const $ = (id) => document.getElementById(id);
  const bar = (id, horizontal) => new Chart($(id), { type: 'bar', data: { labels: [], datasets: [{ data: [], backgroundColor: COLORS[0] }] },
    options: { indexAxis: horizontal ? 'y' : 'x', plugins: { legend: { display: false } } } });
  const rates = new Chart($('rates'), { type: 'line', data: { labels: [], datasets: [] },
    options: { elements: { point: { radius: 0 } }, scales: { y: { beginAtZero: true } } } });
  const lag = bar('lag');
  const coupons = bar('coupons', true);
  const deadLetters = bar('dead-letters');
  const stages = new Chart($('stages'), { type: 'bar', data: { labels: [], datasets: [] }, options: { scales: { y: { beginAtZero: true } } } });
  const text = (id, value) => { $(id).textContent = value; };
  const rows = (id, list) => { $(id).innerHTML = list.map((cells) => '<tr>' + cells.map((c) => '<td' + (typeof c === 'number' ? ' class="n"' : '') + '>' + String(c).replace(/[&<>]/g, (x) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[x]) + '</td>').join('') + '</tr>').join(''); };
  const setBars = (chart, labels, values) => { chart.data.labels = labels; chart.data.datasets[0].data = values; chart.update(); };

  function showRates(s) {
    rates.data.labels.push(s.at.slice(11, 19));
    for (const d of s.decisions) {
      let set = rates.data.datasets.find((x) => x.label === d.outcome);
      if (!set) {
        set = { label: d.outcome, data: rates.data.labels.slice(0, -1).map(() => 0), borderColor: COLORS[rates.data.datasets.length % COLORS.length], borderWidth: 2 };
        rates.data.datasets.push(set);
      }
    }
    for (const set of rates.data.datasets) set.data.push(s.decisions.find((d) => d.outcome === set.label)?.perSecond ?? 0);
    if (rates.data.labels.length > HISTORY) { rates.data.labels.shift(); for (const set of rates.data.datasets) set.data.shift(); }
    rates.update();
  }

  function showStages(s) {
    const used = s.stages.filter((x) => x.count > 0);
    stages.data.labels = (used[0] ?? s.stages[0])?.buckets.map((b) => b.le) ?? [];
    stages.data.datasets = used.map((x, i) => ({ label: x.stage, data: x.buckets.map((b) => b.count), backgroundColor: COLORS[i % COLORS.length] }));
    stages.update();
  }

  function show(s) {
    text('at', s.at.replace('T', ' ').slice(0, 19) + ' UTC');
    text('problems', s.problems.join('; '));
    text('group', s.group.id + ' (' + s.group.state + ')');
    text('decisions-rate', Math.round(s.decisionsPerSecond).toLocaleString('en'));
    text('decisions-total', s.decisionsTotal.toLocaleString('en'));
    text('total-lag', s.totalLag.toLocaleString('en'));
    text('members-count', s.group.members.length);
    text('dead-letters-total', s.deadLetters.reduce((a, d) => a + d.total, 0).toLocaleString('en'));
    text('rebalances', s.rebalances);
    showRates(s);
    showStages(s);
    setBars(lag, s.lag.map((p) => 'p' + p.partition), s.lag.map((p) => p.lag));
    setBars(coupons, s.topCoupons.map((c) => c.code), s.topCoupons.map((c) => c.redeemed));
    setBars(deadLetters, s.deadLetters.map((d) => d.code), s.deadLetters.map((d) => d.total));
    rows('members', s.group.members.map((m) => [m.clientId, m.host, m.memberId.slice(-12), m.partitions.join(',') || '-']));
    $('members').dataset.count = s.group.members.length;
    rows('lag-table', s.lag.map((p) => ['partition ' + p.partition, 'end ' + p.end, 'committed ' + (p.committed ?? '-'), p.lag]));
    rows('consumers', s.consumers.map((c) => [c.url, c.up ? 'up' : 'DOWN: ' + c.error]));
  }

  const events = new EventSource('/events');
  events.onmessage = (e) => { text('connection', 'live'); show(JSON.parse(e.data)); };
  events.onerror = () => text('connection', 'reconnecting');
</script>
</body>
</html>
`;
