// sluice-ctl web: the dashboard's script. It polls the JSON endpoints of
// ctl/web.c and builds every cell with textContent: nothing from Redis (job
// payloads and errors are untrusted) is ever parsed as HTML. The admin
// token stays in this page's memory and goes only in the Authorization
// header of the two actions.
'use strict';

let token = '';
let admin = false;
let lastView = null;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function cell(tr, text, cls, key) {
  const td = el('td', text, cls);
  if (key) td.dataset.k = key;
  tr.appendChild(td);
  return td;
}

let statusFrom = '';
// Shows MSG in the status line; a poll that works again clears only its own.
function status(msg, ok, from) {
  const s = $('status');
  s.textContent = msg;
  s.className = ok ? 'ok' : 'error';
  statusFrom = from || '';
}
function statusClear(from) { if (statusFrom === from) status('', true, ''); }

function fmtRate(v) { return v === null || v === undefined ? '–' : v.toFixed(1); }
function fmtMs(v) {
  if (v === null || v === undefined) return '–';
  if (v < 1000) return Math.round(v) + ' ms';
  if (v < 60000) return (v / 1000).toFixed(1) + ' s';
  return (v / 60000).toFixed(1) + ' min';
}
function fmtTime(ms) { return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z'; }

async function getJSON(url) {
  const r = await fetch(url, { cache: 'no-store' });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
  return body;
}

function renderQueues(v, latency) {
  const rows = [];
  let ready = 0, dead = 0;
  for (const name of Object.keys(v.queues)) {
    const q = v.queues[name];
    const tr = el('tr');
    tr.dataset.queue = name;
    if (q.paused) tr.className = 'paused';
    cell(tr, name, 'text', 'queue');
    for (const p of ['critical', 'high', 'normal', 'low']) cell(tr, q.ready[p], '', p);
    for (const k of ['delayed', 'active', 'done', 'dead']) cell(tr, q[k], '', k);
    cell(tr, q.paused ? 'yes' : 'no', '', 'paused');
    cell(tr, fmtRate(q.rates.enqueued), '', 'enq_s');
    cell(tr, fmtRate(q.rates.processed), '', 'done_s');
    cell(tr, fmtRate(q.rates.failed), '', 'failed_s');
    cell(tr, q.counters.processed || 0, '', 'processed');
    cell(tr, q.counters.failed || 0, '', 'failed');
    const lat = latency ? latency[name] : q.latency;
    cell(tr, fmtMs(lat ? (latency ? lat.wait_p50_ms : lat.p50_ms) : null), '', 'p50');
    cell(tr, fmtMs(lat ? (latency ? lat.wait_p99_ms : lat.p99_ms) : null), '', 'p99');
    cell(tr, fmtMs(latency && lat ? lat.run_p50_ms : null), '', 'run_p50');
    cell(tr, fmtMs(latency && lat ? lat.run_p99_ms : null), '', 'run_p99');
    rows.push(tr);
    ready += q.ready_total;
    dead += q.dead;
  }
  $('queues').tBodies[0].replaceChildren(...rows);
  $('totals').textContent = rows.length + ' queues, ' + ready + ' ready, ' + dead + ' dead';
  $('latency-note').textContent = latency
    ? 'p50/p99: queue wait, and run time, from the archive\'s rollups of the last 5 minutes'
    : 'p50/p99: due → finished of the newest 50 done jobs of each queue' +
      (v.archive_given ? ' (the archive has no rollups)' : ' (no archive given: start with --archive for the queue wait)');
}

function renderWorkers(v) {
  const rows = v.workers.map((w) => {
    const tr = el('tr');
    tr.dataset.worker = w.id;
    cell(tr, w.id, 'text', 'id');
    cell(tr, w.state, '', 'state');
    cell(tr, w.host, '', 'host');
    cell(tr, w.running + '/' + w.concurrency, '', 'running');
    cell(tr, w.processed, '', 'processed');
    cell(tr, w.failed, '', 'failed');
    cell(tr, w.heartbeat_s_ago.toFixed(1) + ' s ago', '', 'beat');
    const jobs = w.jobs.map((j) => j.queue + ':' + j.id).join(' ');
    cell(tr, jobs + (w.jobs_seen > w.jobs.length ? ' (+' + (w.jobs_seen - w.jobs.length) + ')' : ''),
         'text id', 'jobs');
    return tr;
  });
  $('workers').tBodies[0].replaceChildren(...rows);
}

function renderLimits(v) {
  const rows = v.ratelimits.map((b) => {
    const tr = el('tr');
    tr.dataset.bot = b.bot;
    cell(tr, b.bot, 'text', 'bot');
    cell(tr, b.blocked === null ? '–' : b.blocked, '', 'blocked');
    cell(tr, b.blocked === null ? '' : fmtMs(b.blocked_ms), '', 'blocked_for');
    cell(tr, b.invalid_10min, '', 'invalid');
    cell(tr, b.pacing + ' of ' + b.limiters + (b.pacing ? ' (max ' + fmtMs(b.max_ahead_ms) + ' ahead)' : ''),
         '', 'pacing');
    return tr;
  });
  if (rows.length === 0) {
    const tr = el('tr');
    cell(tr, 'no rate-limit keys in use', 'text note');
    rows.push(tr);
  }
  $('limits').tBodies[0].replaceChildren(...rows);
}

async function refreshView() {
  try {
    const v = await getJSON('/api/view');
    lastView = v;
    admin = v.admin;
    renderQueues(v, v.archive_latency);
    renderWorkers(v);
    renderLimits(v);
    $('meta').textContent = 'prefix ' + v.prefix + ' · ' + fmtTime(v.now_ms) + ' · ' +
      v.workers.length + ' workers · ' + (admin ? 'actions need the admin token' : 'read-only');
    $('token-form').hidden = !admin;
    $('cancel-form').hidden = !admin;
    statusClear('view');
  } catch (e) {
    status('view: ' + e.message, false, 'view');
  }
}

async function act(kind, queue, id) {
  if (!token) { status(kind + ': enter the admin token first', false); return; }
  try {
    const r = await fetch('/api/' + kind + '?queue=' + encodeURIComponent(queue) + '&id=' + encodeURIComponent(id),
                          { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
    const body = await r.json();
    if (!r.ok) { status(kind + ' ' + id + ': ' + (body.error || r.status), false); return; }
    status(kind + ' ' + id + ': ' + body.done, true);
    refreshDead();
    refreshView();
  } catch (e) {
    status(kind + ': ' + e.message, false);
  }
}

async function refreshDead() {
  try {
    const d = await getJSON('/api/dead?limit=50');
    const rows = d.jobs.map((j) => {
      const tr = el('tr');
      tr.dataset.id = j.id;
      cell(tr, fmtTime(j.died_ms), 'text', 'died');
      cell(tr, j.queue, 'text', 'queue');
      cell(tr, j.id, 'id', 'id');
      cell(tr, j.type, 'text', 'type');
      cell(tr, j.attempts, '', 'attempts');
      cell(tr, j.last_error, 'text', 'reason');
      cell(tr, j.payload === undefined ? '' : j.payload, 'text id', 'payload');
      const td = cell(tr, '', '', 'actions');
      if (admin) {
        const b = el('button', 'Retry');
        b.type = 'button';
        b.dataset.action = 'retry';
        b.addEventListener('click', () => act('retry', j.queue, j.id));
        td.appendChild(b);
      }
      return tr;
    });
    $('dead').tBodies[0].replaceChildren(...rows);
    statusClear('dead');
    $('dead-total').textContent = d.total + ' in all' + (d.total > d.jobs.length ? ', newest ' + d.jobs.length + ' shown' : '');
  } catch (e) {
    status('dead: ' + e.message, false, 'dead');
  }
}

function drawSeries(s) {
  const c = $('series');
  const g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  if (!s.archive) { $('series-note').textContent = '— ' + s.why; return; }
  const rows = s.rows;
  $('series-note').textContent = '— last ' + s.hours + ' h from the archive\'s rollups, ' + rows.length + ' minutes';
  if (rows.length === 0) return;
  const t0 = rows[0][0], t1 = Math.max(rows[rows.length - 1][0], t0 + 60000);
  let max = 1;
  for (const r of rows) max = Math.max(max, r[1], r[2] + r[3], r[5]);
  const x = (t) => 4 + (c.width - 8) * (t - t0) / (t1 - t0);
  const y = (v) => c.height - 4 - (c.height - 8) * v / max;
  const line = (color, f) => {
    g.strokeStyle = color; g.lineWidth = 1.5; g.beginPath();
    rows.forEach((r, i) => (i ? g.lineTo(x(r[0]), y(f(r))) : g.moveTo(x(r[0]), y(f(r)))));
    g.stroke();
  };
  line('#3a3', (r) => r[1]);
  line('#c33', (r) => r[2] + r[3]);
  line('#c90', (r) => r[5]);
  g.fillStyle = '#888'; g.font = '11px sans-serif';
  g.fillText('max ' + max + '/min', 8, 14);
}

async function refreshSeries() {
  try { drawSeries(await getJSON('/api/series?hours=3')); } catch (e) { status('series: ' + e.message, false); }
}

async function refreshApps() {
  try {
    const a = await getJSON('/api/apps');
    const rows = a.pending.map((p) => {
      const tr = el('tr');
      tr.dataset.app = p.id;
      cell(tr, p.id, 'id', 'id');
      cell(tr, p.guild || '', 'text', 'guild');
      cell(tr, p.user || '', 'text', 'user');
      cell(tr, p.state || '', 'text', 'state');
      cell(tr, p.reminders_done || '0', '', 'reminders');
      cell(tr, p.deadline_ms ? fmtTime(Number(p.deadline_ms)) : '–', '', 'deadline');
      cell(tr, fmtTime(p.next_check_ms), '', 'next');
      return tr;
    });
    $('apps').tBodies[0].replaceChildren(...rows);
    $('apps-total').textContent = a.pending_total + ' pending';
  } catch (e) {
    status('applications: ' + e.message, false);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('token').value;
    $('token').value = '';
    status(token ? 'token set for this page' : 'token cleared', true);
  });
  $('cancel-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('cancel', $('cancel-queue').value.trim(), $('cancel-id').value.trim());
  });
  $('token-form').hidden = true;
  $('cancel-form').hidden = true;
  refreshView().then(refreshDead);
  refreshSeries();
  refreshApps();
  setInterval(refreshView, 2000);
  setInterval(refreshDead, 5000);
  setInterval(refreshSeries, 30000);
  setInterval(refreshApps, 10000);
});
