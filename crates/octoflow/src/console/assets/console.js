// octoflow console: draws the pages from the JSON API (/api/v1/…). No
// library, no request beyond this server. The profile page keeps its view in
// the URL's fragment (#from=…&to=…&metric=…&cls=…&off=…) so a view can be
// bookmarked, and says when it is drawn: <body data-state="ready">.
'use strict';
(function () {
  const $ = (s) => document.querySelector(s);
  const NS = 'http://www.w3.org/2000/svg';
  const W = 1000, L = 64, R = 12, T = 10, B = 26;
  const SPANS = { '2h': 7200, '6h': 21600, '24h': 86400, '7d': 604800, '31d': 2678400, '1y': 31536000 };
  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  const CLASSES = ['tcp', 'udp', 'icmp', 'other'];

  function node(tag, attrs, text) {
    const e = tag.startsWith('svg:') ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  async function api(path) {
    const r = await fetch(path, { credentials: 'same-origin' });
    let j = null;
    try { j = await r.json(); } catch (e) { j = { error: r.status + ' ' + r.statusText }; }
    if (!r.ok) throw new Error(j.error || r.statusText);
    return j;
  }
  function num(n) {
    const a = Math.abs(n);
    for (const [d, s] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
      if (a >= d) return (n / d).toPrecision(3).replace(/\.?0+$/, '') + ' ' + s;
    }
    return a >= 100 || a === 0 ? String(Math.round(n)) : n.toPrecision(3).replace(/\.?0+$/, '');
  }
  function when(s) { return new Date(s * 1000).toISOString().slice(0, 16).replace('T', ' '); }
  function nice(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function table(el, head, rows) {
    el.textContent = '';
    const tr = node('tr');
    head.forEach(([h, n]) => tr.appendChild(node('th', n ? { class: 'n' } : {}, h)));
    el.appendChild(node('thead')).appendChild(tr);
    const tb = el.appendChild(node('tbody'));
    for (const row of rows) {
      const r = tb.appendChild(node('tr'));
      row.forEach((c, i) => r.appendChild(node('td', head[i][1] ? { class: 'n' } : {}, c)));
    }
  }
  // Axes and grid of a chart: x from t0 to t1 (Unix s), y from lo to hi.
  function axes(svg, H, t0, t1, lo, hi, unit) {
    const x = (t) => L + (t - t0) / (t1 - t0) * (W - L - R);
    const y = (v) => T + (hi - v) / ((hi - lo) || 1) * (H - T - B);
    for (let k = 0; k <= 4; k++) {
      const v = lo + (hi - lo) * k / 4;
      svg.appendChild(node('svg:line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.appendChild(node('svg:text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end' }, num(v)));
    }
    const n = 6;
    for (let k = 0; k <= n; k++) {
      const t = t0 + (t1 - t0) * k / n;
      svg.appendChild(node('svg:text', { x: x(t), y: H - 8, 'text-anchor': k === 0 ? 'start' : k === n ? 'end' : 'middle' }, when(t).slice(t1 - t0 > 86400 ? 5 : 11)));
    }
    svg.appendChild(node('svg:line', { class: 'axis', x1: L, x2: W - R, y1: y(Math.max(lo, 0)), y2: y(Math.max(lo, 0)) }));
    svg.appendChild(node('svg:text', { x: 4, y: T + 10 }, unit));
    return { x, y };
  }

  // ---- profile page --------------------------------------------------------
  function profilePage(id) {
    const body = document.body;
    const st = { from: 0, to: 0, metric: 'flows', cls: 'all', off: new Set(), offset: 0 };
    let data = null;
    const H = 300;
    function readHash() {
      const h = new URLSearchParams(location.hash.slice(1));
      const now = Math.ceil(Date.now() / 300000) * 300;
      st.to = parseInt(h.get('to'), 10) || now;
      st.from = parseInt(h.get('from'), 10) || st.to - SPANS['6h'];
      st.metric = ['flows', 'packets', 'bits'].includes(h.get('metric')) ? h.get('metric') : 'flows';
      st.cls = ['all'].concat(CLASSES).includes(h.get('cls')) ? h.get('cls') : 'all';
      st.off = new Set((h.get('off') || '').split(',').filter((s) => s));
    }
    function writeHash() {
      const h = new URLSearchParams({ from: st.from, to: st.to, metric: st.metric, cls: st.cls });
      if (st.off.size) h.set('off', [...st.off].join(','));
      history.replaceState(null, '', '#' + h.toString());
    }
    // Per bucket, the chosen metric of channel c (a sum over the bucket).
    function sums(c) {
      const m = st.metric === 'flows' ? 0 : st.metric === 'packets' ? 1 : 2;
      const k = st.cls === 'all' ? [0, 1, 2, 3] : [CLASSES.indexOf(st.cls)];
      return data.times.map((_, i) => k.reduce((a, j) => a + data.values[c][j][m][i], 0) * (st.metric === 'bits' ? 8 : 1));
    }
    // Seconds bucket k covers (the last one may end early, at the window's end).
    function span(k) { return Math.max(1, Math.min(data.times[k] + data.step, data.to) - data.times[k]); }
    function enabled() { return data.channels.map((c, i) => i).filter((i) => !st.off.has(data.channels[i].name)); }
    function colour(i) { return data.channels[i].colour || PALETTE[i % PALETTE.length]; }
    function buildChannels() {
      const box = $('#channels');
      box.textContent = '';
      data.channels.forEach((c, i) => {
        const lab = box.appendChild(node('label', { title: c.filter }));
        const cb = lab.appendChild(node('input', { type: 'checkbox', class: 'channel', 'data-channel': c.name }));
        cb.checked = !st.off.has(c.name);
        cb.addEventListener('change', () => {
          if (cb.checked) st.off.delete(c.name); else st.off.add(c.name);
          writeHash(); draw(); details();
        });
        lab.appendChild(node('span', { class: 'swatch' })).style.background = colour(i);
        lab.appendChild(document.createTextNode(c.name + (c.sign === '-' ? ' (−)' : '')));
      });
    }
    function draw() {
      const svg = $('#graph');
      svg.textContent = '';
      const step = data.step, n = data.times.length;
      const per = enabled().map((i) => ({ i, v: sums(i), neg: data.channels[i].sign === '-' }));
      const up = new Array(n).fill(0), down = new Array(n).fill(0);
      const layers = per.map((p) => {
        const base = (p.neg ? down : up).slice();
        const top = base.map((b, k) => b + (p.neg ? -1 : 1) * p.v[k] / span(k));
        (p.neg ? down : up).splice(0, n, ...top);
        return Object.assign(p, { base, top });
      });
      const hi = nice(Math.max(0, ...up)), lo = -nice(Math.max(0, ...down.map((d) => -d))) * (down.some((d) => d < 0) ? 1 : 0);
      const unit = st.metric + '/s' + (st.cls === 'all' ? '' : ' (' + st.cls + ')');
      const { x, y } = axes(svg, H, data.from, data.to, lo, hi, unit);
      for (const p of layers) {
        let d = '';
        data.times.forEach((t, k) => {
          const x0 = x(Math.max(t, data.from)), x1 = x(Math.min(t + step, data.to));
          d += (k ? 'L' : 'M') + x0.toFixed(1) + ',' + y(p.top[k]).toFixed(1) + 'L' + x1.toFixed(1) + ',' + y(p.top[k]).toFixed(1);
        });
        for (let k = n - 1; k >= 0; k--) {
          const t = data.times[k];
          d += 'L' + x(Math.min(t + step, data.to)).toFixed(1) + ',' + y(p.base[k]).toFixed(1) + 'L' + x(Math.max(t, data.from)).toFixed(1) + ',' + y(p.base[k]).toFixed(1);
        }
        const c = data.channels[p.i];
        const path = node('svg:path', { class: 'series', d: d + 'Z', fill: colour(p.i), 'fill-opacity': '0.85', 'data-channel': c.name, 'data-values': p.v.join(',') });
        path.appendChild(node('svg:title', {}, c.name));
        svg.appendChild(path);
      }
      const w = $('#window');
      w.textContent = when(data.from) + ' – ' + when(data.to) + ' UTC, ' + num(step) + ' s per point';
      w.dataset.from = st.from; w.dataset.to = st.to;
      document.querySelectorAll('.preset').forEach((b) => b.classList.toggle('on', st.to - st.from === SPANS[b.dataset.span]));
      $('#metric').value = st.metric; $('#class').value = st.cls;
      summary();
      interact(svg, x, layers);
    }
    function summary() {
      const rows = data.channels.map((c, i) => {
        const tot = (m, k) => data.values[i][k][m].reduce((a, b) => a + b, 0);
        const all = (m) => [0, 1, 2, 3].reduce((a, k) => a + tot(m, k), 0);
        const m = st.metric === 'flows' ? 0 : st.metric === 'packets' ? 1 : 2;
        const f = st.metric === 'bits' ? 8 : 1;
        return [c.name, num(all(0)), num(all(1)), num(all(2))].concat([0, 1, 2, 3].map((k) => num(tot(m, k) * f)));
      });
      table($('#summary'), [['channel'], ['flows', 1], ['packets', 1], ['bytes', 1]].concat(CLASSES.map((k) => [k.toUpperCase() + ' ' + st.metric, 1])), rows);
    }
    function interact(svg, x, layers) {
      const tOf = (ev) => {
        const r = svg.getBoundingClientRect();
        const vx = (ev.clientX - r.left) * W / r.width;
        return data.from + (Math.min(Math.max(vx, L), W - R) - L) / (W - L - R) * (data.to - data.from);
      };
      let start = null, rect = null;
      const line = svg.appendChild(node('svg:line', { class: 'cursor', y1: T, y2: H - B, x1: -10, x2: -10 }));
      svg.onmousedown = (ev) => {
        start = tOf(ev);
        rect = svg.appendChild(node('svg:rect', { class: 'zoom', id: 'zoom', y: T, height: H - T - B, x: x(start), width: 0 }));
        ev.preventDefault();
      };
      svg.onmousemove = (ev) => {
        const t = tOf(ev);
        line.setAttribute('x1', x(t)); line.setAttribute('x2', x(t));
        if (start !== null && rect) {
          rect.setAttribute('x', x(Math.min(start, t)));
          rect.setAttribute('width', Math.abs(x(t) - x(start)));
        }
        const k = Math.min(data.times.length - 1, Math.max(0, Math.floor((t - data.times[0]) / data.step)));
        $('#cursor').textContent = when(data.times[k]) + ' UTC  ' + layers.map((p) => data.channels[p.i].name + ' ' + num(p.v[k] / span(k)) + ' ' + st.metric + '/s').join('  ·  ');
      };
      const end = (ev) => {
        if (start === null) return;
        const t = tOf(ev), a = Math.min(start, t), b = Math.max(start, t);
        start = null;
        if (rect) rect.remove();
        if (Math.abs(x(b) - x(a)) > 4) {
          // Whole slots, so the graph and the details cover the same flows.
          st.from = Math.floor(a / 300) * 300; st.to = Math.max(Math.ceil(b / 300) * 300, st.from + 300); st.offset = 0;
          writeHash(); load();
        }
      };
      svg.onmouseup = end;
      svg.onmouseleave = (ev) => { if (start !== null) end(ev); };
    }
    function query(extra) {
      const on = data ? enabled().map((i) => data.channels[i].name) : [];
      const q = new URLSearchParams({ from: st.from, to: st.to, channels: on.join(','), filter: $('#filter').value });
      for (const [k, v] of Object.entries(extra)) q.set(k, v);
      return q.toString();
    }
    async function details() {
      const err = $('#details-error');
      const dw = $('#details-window');
      dw.textContent = when(st.from) + ' – ' + when(st.to) + ' UTC';
      dw.dataset.from = st.from; dw.dataset.to = st.to;
      if (data && enabled().length === 0) {
        table($('#top'), [['no channel chosen']], []); table($('#flows'), [['no channel chosen']], []);
        err.hidden = true; return;
      }
      const topq = { field: $('#top-field').value, order: $('#top-order').value, n: $('#top-n').value || 10 };
      const flowq = { limit: 50, offset: st.offset };
      $('#top-csv').href = '/api/v1/profiles/' + id + '/top?' + query(Object.assign({ format: 'csv' }, topq));
      $('#flows-csv').href = '/api/v1/profiles/' + id + '/flows?' + query({ format: 'csv', limit: 10000 });
      try {
        const [top, flows] = await Promise.all([
          api('/api/v1/profiles/' + id + '/top?' + query(topq)),
          api('/api/v1/profiles/' + id + '/flows?' + query(flowq)),
        ]);
        err.hidden = true;
        table($('#top'), [[$('#top-field').selectedOptions[0].textContent], ['flows', 1], ['packets', 1], ['bytes', 1], ['bps', 1], ['pps', 1]],
          top.rows.map((r) => [r.key, num(r.flows), num(r.packets), num(r.bytes), num(r.bps), num(r.pps)]));
        $('#top').dataset.flows = top.total.flows;
        table($('#flows'), [['first seen (UTC)'], ['proto'], ['source'], ['destination'], ['packets', 1], ['bytes', 1], ['exporter']],
          flows.flows.map((f) => [f.first.replace('T', ' ').replace('Z', ''), f.proto, f.src_addr + ':' + f.src_port, f.dst_addr + ':' + f.dst_port, num(f.packets), num(f.bytes), f.source]));
        $('#flows').dataset.count = flows.flows.length;
        $('#page').textContent = flows.flows.length ? (st.offset + 1) + '–' + (st.offset + flows.flows.length) : 'none';
        $('#prev').disabled = st.offset === 0; $('#next').disabled = !flows.more;
      } catch (e) {
        err.textContent = e.message; err.hidden = false;
        table($('#top'), [['—']], []); table($('#flows'), [['—']], []);
      }
    }
    async function load() {
      body.dataset.state = 'loading';
      try {
        data = await api('/api/v1/profiles/' + id + '/series?from=' + st.from + '&to=' + st.to);
        if (!$('#channels').children.length) buildChannels();
        draw();
        await details();
      } catch (e) {
        const err = $('#details-error'); err.textContent = e.message; err.hidden = false;
      }
      body.dataset.state = 'ready';
      // The first complete render, in ms from the start of navigation.
      if (!body.dataset.firstReadyMs) body.dataset.firstReadyMs = Math.round(performance.now());
    }
    document.querySelectorAll('.preset').forEach((b) => b.addEventListener('click', () => {
      st.to = Math.ceil(Date.now() / 300000) * 300; st.from = st.to - SPANS[b.dataset.span]; st.offset = 0;
      writeHash(); load();
    }));
    $('#metric').addEventListener('change', (e) => { st.metric = e.target.value; writeHash(); draw(); });
    $('#class').addEventListener('change', (e) => { st.cls = e.target.value; writeHash(); draw(); });
    $('#details-form').addEventListener('submit', (e) => { e.preventDefault(); st.offset = 0; details(); });
    $('#prev').addEventListener('click', () => { st.offset = Math.max(0, st.offset - 50); details(); });
    $('#next').addEventListener('click', () => { st.offset += 50; details(); });
    readHash(); writeHash(); load();
  }

  // ---- overview page -------------------------------------------------------
  function overviewPage() {
    function lines(svg, times, series) {
      svg.textContent = '';
      const H = 220;
      if (times.length < 1) { svg.appendChild(node('svg:text', { x: L, y: 40 }, 'no samples yet (one every 10 s)')); return; }
      const t1 = times[times.length - 1], t0 = Math.min(times[0], t1 - 600);
      const hi = nice(Math.max(0, ...Object.values(series).flat()));
      const { x, y } = axes(svg, H, t0, t1, 0, hi, 'flows/s');
      Object.entries(series).forEach(([name, v], i) => {
        const d = v.map((val, k) => (k ? 'L' : 'M') + x(times[k]).toFixed(1) + ',' + y(val).toFixed(1)).join('');
        const p = svg.appendChild(node('svg:path', { class: 'rate', d, fill: 'none', stroke: PALETTE[i % PALETTE.length], 'stroke-width': 2, 'data-instance': name }));
        p.appendChild(node('svg:title', {}, name));
        svg.appendChild(node('svg:text', { x: W - R - 4, y: T + 12 + 13 * i, 'text-anchor': 'end', fill: PALETTE[i % PALETTE.length] }, name));
      });
    }
    async function load() {
      try {
        const s = await api('/api/v1/status');
        const err = $('#status-error');
        err.hidden = !s.error; err.textContent = s.error || '';
        table($('#instances tbody').parentNode, [['Instance'], ['State'], ['Detail'], ['flows/s', 1], ['lost/s', 1]],
          s.instances.map((i) => [i.name, i.state, i.detail, num(i.flows_per_s), num(i.lost_per_s)]));
        const pick = (suffix) => Object.fromEntries(Object.entries(s.history.series).filter(([k]) => k.endsWith(suffix)).map(([k, v]) => [k.slice(0, -suffix.length), v.flows_per_s]));
        lines($('#rates-collectors'), s.history.times, pick('_collector'));
        lines($('#rates-outputs'), s.history.times, pick('_exporter'));
      } catch (e) {
        const err = $('#status-error'); err.textContent = e.message; err.hidden = false;
      }
      document.body.dataset.state = 'ready';
    }
    load();
    setInterval(load, 10000);
  }

  document.addEventListener('DOMContentLoaded', () => {
    const page = document.body.dataset.page;
    if (page === 'profile') profilePage(document.body.dataset.profile);
    else if (page === 'overview') overviewPage();
  });
})();
