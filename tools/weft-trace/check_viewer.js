// check_viewer.js PAGE — checks a page weft-trace wrote (viewer.html with
// a trace in it) under node: the script parses, the trace indexes into
// properly nested tracks with every flow bound to a slice, and the UI code
// runs through a minimal DOM and canvas stub (draw, hover, select, zoom,
// keys, search, fold, resize) without an exception. Prints "ok: ..." and
// exits 0, or throws (exit 1). Used by tests/trace/tool_test.cpp.
'use strict';
const fs = require('fs'), os = require('os'), path = require('path'), vm = require('vm');
const { execFileSync } = require('child_process');
const file = process.argv[2];
if (!file) { console.error('usage: node check_viewer.js PAGE'); process.exit(2); }
const html = fs.readFileSync(file, 'utf8');
const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
if (scripts.length !== 1) throw new Error('expected one script, found ' + scripts.length);
const code = scripts[0];
const extracted = path.join(os.tmpdir(), 'weft-viewer-check-' + process.pid + '.js');
fs.writeFileSync(extracted, code);
try { execFileSync(process.execPath, ['--check', extracted], { stdio: 'inherit' }); } finally { fs.unlinkSync(extracted); }
console.log('node --check: ok');
const assert = (c, m) => { if (!c) throw new Error('check failed: ' + m); };

// 1. Indexing, without a DOM.
const mod = { exports: {} };
const c1 = vm.createContext({ module: mod, console, performance });
let t = performance.now();
new vm.Script(code).runInContext(c1);
console.log('evaluate script (embedded JSON): ' + Math.round(performance.now() - t) + ' ms');
const V = mod.exports;
if (V.TRACE === null) { console.log('TRACE is null (template): skipping model checks'); }
else {
  t = performance.now();
  const M = V.buildModel(V.TRACE);
  console.log('buildModel: ' + Math.round(performance.now() - t) + ' ms');
  const ev = V.TRACE.traceEvents;
  const nX = ev.filter((e) => e.ph === 'X').length;
  assert(M.sliceCount === nX, 'slice count ' + M.sliceCount + ' vs ' + nX);
  assert(M.eventCount === ev.length, 'event count');
  // Levels sorted, non-overlapping; every nested slice inside its parent level.
  let nested = 0;
  for (const tr of M.sliceTracks) {
    tr.levels.forEach((L, d) => {
      for (let i = 1; i < L.start.length; i++) {
        assert(L.start[i] >= L.start[i - 1], 'starts sorted');
        assert(L.end[i] >= L.end[i - 1], 'ends sorted');
        assert(L.start[i] + 0.0015 >= M.sEnd[L.idx[i - 1]], 'no overlap in a level');
      }
      if (d > 0) for (let i = 0; i < L.idx.length; i++) {
        const gi = L.idx[i], P = tr.levels[d - 1];
        let k = 0, lo = 0, hi = P.start.length;
        while (lo < hi) { const m = (lo + hi) >> 1; if (P.start[m] <= M.sStart[gi] + 1e-6) lo = m + 1; else hi = m; }
        k = lo - 1;
        if (!(k >= 0 && M.sEnd[P.idx[k]] + 1e-6 >= M.sEnd[gi])) { console.log('improper:', tr.name, M.sEv[gi], k >= 0 && M.sEv[P.idx[k]]); assert(M.sEnd[gi] - M.sEnd[P.idx[k]] < 0.0021, 'child inside parent'); }
        nested++;
      }
    });
  }
  // Flows: every f of the sample binds to a slice starting at its ts.
  let bound = 0;
  for (let k = 0; k < M.flows.n; k++) {
    const fs_ = M.flows.fSlice[k];
    if (fs_ >= 0) { bound++; assert(M.sStart[fs_] <= M.flows.fTs[k] + 1e-6 && M.sEnd[fs_] + 1e-6 >= M.flows.fTs[k], 'f inside its slice'); }
  }
  const nS = ev.filter((e) => e.ph === 's').length;
  assert(M.flows.n === nS, 'flows paired ' + M.flows.n + ' vs ' + nS);
  assert(bound === M.flows.n, 'flows bound ' + bound);
  const counters = M.tracks.filter((x) => x.kind === 'counter');
  console.log('procs: ' + M.procs.map((p) => p.name + '(' + p.tracks.map((x) => x.name).join(', ') + ')').join('; '));
  console.log('slices ' + M.sliceCount + ', nested ' + nested + ', names ' + M.nameList.length + ', instants ' + M.instantCount +
    ', counter tracks ' + counters.map((x) => x.name + '[' + x.series.map((s) => s.key) + '] ' + x.ts.length).join(', ') + ', flows ' + M.flows.n);
  console.log('fmt: ' + [V.fmtDur(0.0123), V.fmtDur(3.25), V.fmtDur(12345.6), V.fmtDur(2.5e6), V.fmtTs(12345.678901), V.fmtTs(0.5), V.fmtNum(123456), V.fmtCompact(1234567)].join(' | '));
}

// 2. The UI, through stubs: boot, draw, hover, click, search, zoom, keys.
let calls = 0;
const ctx2d = new Proxy({ measureText: (s) => ({ width: String(s).length * 6 }) }, {
  get(o, p) { if (p in o) return o[p]; return function () { calls++; }; },
  set(o, p, v) { o[p] = v; return true; },
});
const elements = new Map();
function fakeEl(tag, id) {
  const n = {
    tagName: (tag || 'div').toUpperCase(), id, style: {}, className: '', value: '', disabled: false, children: [], listeners: {},
    clientWidth: 1060, clientHeight: 780, scrollTop: 0, offsetWidth: 240, offsetHeight: 120, width: 0, height: 0,
    appendChild(c) { this.children.push(c); return c; }, addEventListener(t, f) { this.listeners[t] = f; },
    getContext() { return ctx2d; }, getBoundingClientRect() { return { left: 0, top: 45, width: 1060, height: 780 }; },
    focus() {}, blur() {},
  };
  let text = '';
  Object.defineProperty(n, 'textContent', { get() { return text; }, set(v) { text = String(v); n.children = []; } });
  return n;
}
const winL = {};
const rafQ = [];
const doc = {
  getElementById(id) { if (!elements.has(id)) elements.set(id, fakeEl(id === 'canvas' ? 'canvas' : id === 'search' ? 'input' : 'div', id)); return elements.get(id); },
  createElement(tag) { return fakeEl(tag); }, createTextNode(s) { return { text: s }; }, title: '',
};
const logs = [];
const c2 = vm.createContext({
  document: doc, console: { log: (m) => logs.push(m), error: console.error }, performance,
  window: { addEventListener(t, f) { winL[t] = f; }, devicePixelRatio: 1, innerWidth: 1400, innerHeight: 900 },
  requestAnimationFrame(f) { rafQ.push(f); return rafQ.length; }, setTimeout: (f) => { f(); return 1; }, clearTimeout() {},
});
t = performance.now();
new vm.Script(code).runInContext(c2);
const $ = (id) => elements.get(id);
console.log('boot (eval + index + first draw): ' + Math.round(performance.now() - t) + ' ms; ' + logs.join('; '));
if ($('emptyTitle') && $('empty').style.display === 'flex') {
  console.log('page shows: ' + $('emptyTitle').textContent + ' / ' + $('emptyText').textContent);
  assert(V.TRACE === null, 'a page with a trace says it has none');
  process.exit(0);
}
console.log('header: ' + $('prog').textContent + ' | ' + $('meta').textContent);
function frames(n) { for (let i = 0; i < n; i++) { const q = rafQ.splice(0); q.forEach((f) => f(performance.now() + i * 16)); } }
function timed(label, f) { calls = 0; const a = performance.now(); f(); console.log(label + ': ' + (performance.now() - a).toFixed(1) + ' ms, ' + calls + ' canvas calls'); }
const canvas = $('canvas'), scroller = $('scroller');
const mouse = (type, x, y, extra) => Object.assign({ type, clientX: x, clientY: y + 45, button: 0, preventDefault() {}, shiftKey: false, ctrlKey: false, deltaX: 0, deltaY: 0, deltaMode: 0 }, extra);
timed('frame, whole trace', () => frames(1));
// Hover over P 0's first row at every pixel of the plot (where its slices
// fall depends on how the traced program was scheduled; a hit takes a
// slice within 3 px); find a slice.
const plotLeft = 190, plotRight = 1060, p0Row = 28 + 24 + 3 + 9;
let hovered = 0, firstHit = -1;
for (let x = plotLeft; x < plotRight; x++) {
  winL.mousemove(mouse('mousemove', x, p0Row));
  if ($('tooltip').style.display === 'block') { hovered++; if (firstHit < 0) firstHit = x; }
}
console.log('hover positions with a tooltip: ' + hovered);
assert(hovered > 0, 'hovering over P 0 shows no slice');
timed('frame with cursor', () => frames(1));
// Click where the hover found a slice, to select it (the same hit test).
canvas.listeners.mousedown(mouse('mousedown', firstHit, p0Row)); winL.mouseup(mouse('mouseup', firstHit, p0Row));
const sel = $('details').children.length > 0 && $('details').children[0].children[0] && $('details').children[0].children[0].text !== 'No slice selected';
const det = $('details').children;
console.log('selected: ' + sel + ', details panel nodes: ' + det.length + ' (' + det.map((n) => n.tagName + (n.children[0] && n.children[0].text ? ':' + n.children[0].text : '')).slice(0, 8).join(' ') + ')');
assert(sel, 'clicking a slice of P 0 selects nothing');
// Zoom in 12 steps with the wheel about that slice, drawing its flows.
for (let i = 0; i < 12; i++) scroller.listeners.wheel(mouse('wheel', firstHit, 200, { deltaY: -240 }));
timed('frame zoomed in', () => frames(1));
timed('frame with selection + flows', () => frames(1));
canvas.listeners.dblclick(mouse('dblclick', 600, p0Row));
frames(30);
// Keys: hold W for 20 frames, then D.
winL.keydown({ key: 'w', target: {}, preventDefault() {} }); frames(20); winL.keyup({ key: 'w' });
winL.keydown({ key: 'd', target: {}, preventDefault() {} }); frames(20); winL.keyup({ key: 'd' }); frames(2);
winL.keydown({ key: '0', target: {}, preventDefault() {} }); frames(30);
// Search.
const box = $('search');
box.value = 'fiber 1'; box.listeners.input();
console.log('search "fiber 1": ' + $('searchCount').textContent);
assert(/[1-9]/.test($('searchCount').textContent), 'searching "fiber 1" finds nothing');
timed('frame with search', () => frames(1));
box.listeners.keydown({ key: 'Enter', shiftKey: false }); frames(30);
console.log('after Enter: ' + $('searchCount').textContent);
box.value = 'zzz-nothing'; box.listeners.input(); console.log('search "zzz-nothing": ' + $('searchCount').textContent);
box.value = ''; box.listeners.input();
// Collapse a process, scroll, resize.
canvas.listeners.mousedown(mouse('mousedown', 50, 28 + 5)); frames(1);
scroller.scrollTop = 300; scroller.listeners.scroll(); frames(1);
winL.resize(); frames(1);
// Hover a counter track and the instants lane somewhere.
for (let y = 30; y < 780; y += 7) winL.mousemove(mouse('mousemove', 640, y));
frames(1);
console.log('UI exercise: no exceptions');
console.log('ok: ' + V.TRACE.traceEvents.length + ' events indexed, the UI ran');
