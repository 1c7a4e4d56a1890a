// The live chart: a plotly.js figure and, next to it, one range input per live control.
//
// Python sends raw bytes (rleaky_viz/figures/live.py, live_chart_payload): a JSON header
// with the figure of the authoritative run and the controls, and, for every position of
// every control, the values of the traces that follow the run, as typed arrays.  Each
// frame was computed by the PyTorch core in one batched run; nothing is simulated here.
//
// While a control is dragged (or stepped with the arrow keys) the chart only switches
// between those frames, and the server is not asked.  Switching is drawn straight into an
// SVG layer over the plot (the frame's lines and markers, on the plot's own axes), which
// takes a millisecond or two where a plotly.js redraw of the four-row figure takes tens;
// the axes hold still meanwhile (their ranges cover every frame of the control).  When the
// hand rests, plotly.js draws the frame itself (hover then reads its values); on release
// the value goes back to Python, Streamlit reruns, and the authoritative run is drawn.
//
// Testability: each control is <input type="range" data-param="<field>">, the chart is the
// element with data-live-chart; its `rleakyLive` property gives the controls, each frame
// as plain arrays (frame(field, k)) and the counters a benchmark reads.  data-shown says
// which frame is drawn, data-settled which one plotly.js itself has drawn, data-frames
// whether the frames are in ("in") or still being inflated after the run was drawn.
//
// Accessibility: the chart is role="figure" with an accessible name that follows the frame
// drawn (its title: the neuron, its spike count and steps); the page puts the run's text
// alternative right under the component ("Chart summary", rleaky_viz/ui/charts.py).  Nothing
// here moves by itself: frames change only while a control is moved.

const PLOTLY_SRC = new URL("./plotly.min.js", import.meta.url).href;
const SVG = "http://www.w3.org/2000/svg";
const SETTLE_MS = 200;
// a released frame waits this long for its authoritative run before plotly.js draws it
// itself (the run normally comes within a second; a refused value brings none)
const RELEASE_WAIT_MS = 3000;

// plotly.js, loaded once for the whole page: the live chart and every other chart
// (chart.js) share it, even where the browser holds this module twice (once per component)
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__rleakyPlotly) {
    window.__rleakyPlotly = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = PLOTLY_SRC;
      s.async = true;
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => { window.__rleakyPlotly = null; reject(new Error("plotly.js did not load")); };
      document.head.appendChild(s);
    });
  }
  return window.__rleakyPlotly;
}

const DTYPES = { f4: Float32Array, f8: Float64Array, i4: Int32Array, u1: Uint8Array,
                 i1: Int8Array, i2: Int16Array, u2: Uint16Array, u4: Uint32Array };

// ---- the payload --------------------------------------------------------------------

export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new Error("the live chart's data is not bytes");
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// the header (JSON: the figure, the controls, how each frame is encoded) is read at once;
// the frames' arrays are inflated asynchronously (DecompressionStream has no sync form)
function readHeader(data) {
  const bytes = asBytes(data);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== "RLV1") throw new Error(`unknown live chart data (${magic})`);
  const n = new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const start = 8 + n + ((8 - ((8 + n) % 8)) % 8);
  return { header, blob: bytes.subarray(start) };
}

async function readArrays({ header, blob }) {
  const raw = header.compressed === "deflate" ? await inflate(blob) : blob.slice();  // slice: aligned
  return header.arrays.map((a) => new DTYPES[a.dtype](raw.buffer, raw.byteOffset + a.offset, a.length));
}

// a plotly.js typed-array spec ({dtype, bdata}) as a typed array
function decodeSpec(v) {
  if (!v || typeof v !== "object" || !("bdata" in v)) return v;
  const bin = atob(v.bdata);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new DTYPES[v.dtype](bytes.buffer);
}

// frame k's value of one encoded key (see _encode_value in figures/live.py)
function valueOf(enc, arrays, k) {
  if ("value" in enc) return enc.value;
  if ("rows" in enc) return arrays[enc.rows].subarray(k * enc.width, (k + 1) * enc.width);
  if ("ragged" in enc) {
    const o = arrays[enc.offsets];
    return arrays[enc.ragged].subarray(o[k], o[k + 1]);
  }
  if ("each" in enc) return enc.each[k];
  const out = {};
  for (const key of Object.keys(enc.dict)) out[key] = valueOf(enc.dict[key], arrays, k);
  return out;
}

function merged(base, changes) {
  const out = Object.assign({}, base);
  for (const [key, v] of Object.entries(changes)) {
    out[key] = (v && typeof v === "object" && !ArrayBuffer.isView(v) && !Array.isArray(v) && !("bdata" in v))
      ? merged(base[key] || {}, v) : v;
  }
  return out;
}

// frame k of a control: its traces (the figure's, with the frame's values) and its title
function frameOf(state, field, k) {
  const h = state.data;
  const entry = h.frames[field];
  const traces = [];
  for (const name of h.order) {
    const present = entry.present && entry.present[name];
    if (!(name in entry.changes) || (present && !present[k])) continue;
    const changes = {};
    for (const [key, enc] of Object.entries(entry.changes[name])) changes[key] = valueOf(enc, h.arrays, k);
    traces.push(merged(state.baseByName[name] || h.templates[name] || {}, changes));
  }
  return { traces, title: valueOf(entry.titles, h.arrays, k) };
}

function plain(v) {
  if (ArrayBuffer.isView(v)) return Array.from(v, (x) => (Number.isNaN(x) ? null : x));
  if (v && typeof v === "object" && "bdata" in v) return plain(decodeSpec(v));
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const out = {};
    for (const [key, x] of Object.entries(v)) out[key] = plain(x);
    return out;
  }
  return v;
}

// ---- axes that hold still while a control moves ------------------------------------

function axisName(id, letter) {
  const n = (id || letter).slice(1);
  return `${letter}axis${n}`;
}

function extend(range, values) {
  if (values == null) return;
  const arr = (ArrayBuffer.isView(values) || Array.isArray(values)) ? values : decodeSpec(values);
  if (!arr || typeof arr.length !== "number") return;
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (v == null || !Number.isFinite(v)) continue;
    if (v < range[0]) range[0] = v;
    if (v > range[1]) range[1] = v;
  }
}

// y ranges (per y axis) that hold every frame of `fields` and the figure itself
function rangesFor(state, fields) {
  const ranges = {};
  const add = (t) => {
    const name = axisName(t.yaxis, "y");
    const r = ranges[name] || (ranges[name] = [Infinity, -Infinity]);
    extend(r, t.y);
  };
  state.figure.data.forEach(add);
  for (const f of fields) {
    for (let k = 0; k < state.data.frames[f].count; k++) frameOf(state, f, k).traces.forEach(add);
  }
  const out = {};
  for (const [name, [lo, hi]] of Object.entries(ranges)) {
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) continue;
    const pad = hi > lo ? 0.06 * (hi - lo) : Math.max(Math.abs(hi) * 0.1, 0.5);
    out[name] = [lo - pad, hi + pad];
  }
  return out;
}

// the chart's accessible name: its title as plain text (plotly titles carry <br>, <sup>)
function nameChart(state, title) {
  const text = String(title || "").replace(/<br\s*\/?>/gi, ". ").replace(/<[^>]*>/g, "").trim();
  state.chart.setAttribute("aria-label", `Live chart. ${text}. Its summary follows the chart.`);
}

function fmt(v) {
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6));
}

// the app's theme (light or dark), as Streamlit's own charts follow it
export function themed(layout, el) {
  const css = getComputedStyle(el);
  const text = css.getPropertyValue("--st-text-color").trim() || css.color;
  const out = Object.assign({}, layout, { paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" });
  out.font = Object.assign({}, layout.font || {}, { color: text });
  for (const key of Object.keys(layout)) {
    if (/^[xy]axis\d*$/.test(key)) {
      out[key] = Object.assign({ gridcolor: "rgba(128,128,128,0.25)", zerolinecolor: "rgba(128,128,128,0.5)" },
                               layout[key]);
    }
  }
  return out;
}

export function narrowLayout(layout, width) {
  if (width >= 640) return layout;
  // a phone: the legend goes under the plot, so the plot keeps the width
  const out = Object.assign({}, layout);
  out.legend = Object.assign({}, layout.legend || {}, { orientation: "h", x: 0, xanchor: "left",
                                                        y: -0.06, yanchor: "top" });
  out.margin = Object.assign({}, layout.margin || {}, { l: 48, r: 8, t: 48 });
  out.height = Math.min(layout.height || 600, 600);
  return out;
}

// ---- drawing ------------------------------------------------------------------------

function counted(state, started) {
  const live = state.chart.rleakyLive;
  live.updates += 1;
  if (started != null) live.latencies.push(performance.now() - started);
}

// plotly.js draws `traces` (a frame or the authoritative figure) on the held axes
function drawFull(state, traces, title, shown) {
  const started = state.pendingSince;
  state.pendingSince = null;
  const width = state.chart.clientWidth || state.root.clientWidth || 800;
  const layout = Object.assign({}, state.figure.layout);
  layout.title = Object.assign({}, layout.title || {}, { text: title });
  for (const [name, range] of Object.entries(state.ranges || {})) {
    layout[name] = Object.assign({}, layout[name] || {}, { range, autorange: false });
  }
  const config = Object.assign({}, state.config, { displayModeBar: width >= 640 ? "hover" : false });
  nameChart(state, title);
  removeLayer(state);
  state.drawing = state.Plotly.react(state.chart, traces, themed(narrowLayout(layout, width), state.root),
                                     config)
    .then(() => {
      state.drawnNames = traces.map((t) => t.name).join("\u0001");
      state.layer = null;
      state.chart.classList.remove("rl-previewing");
      counted(state, started);
      state.chart.dataset.shown = shown;
      state.chart.dataset.settled = shown;
    });
  return state.drawing;
}

function removeLayer(state) {
  const old = state.chart.querySelector("svg.rl-layer");
  if (old) old.remove();
  for (const g of state.chart.querySelectorAll(".scatterlayer .trace.rl-hidden")) {
    g.classList.remove("rl-hidden");
  }
  state.layer = null;
}

// the layer over the plot: one group per trace, clipped to its subplot
function makeLayer(state) {
  const gd = state.chart;
  const fl = gd._fullLayout;
  const host = gd.querySelector(".svg-container");
  const main = gd.querySelector(".main-svg");
  if (!fl || !host || !main) return null;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "rl-layer");
  svg.setAttribute("width", fl.width);
  svg.setAttribute("height", fl.height);
  const defs = document.createElementNS(SVG, "defs");
  svg.appendChild(defs);
  const groups = [];
  gd._fullData.forEach((t, i) => {
    const xa = fl[axisName(t.xaxis, "x")], ya = fl[axisName(t.yaxis, "y")];
    const clip = document.createElementNS(SVG, "clipPath");
    clip.id = `rl-clip-${state.uid}-${i}`;
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", xa._offset); rect.setAttribute("y", ya._offset);
    rect.setAttribute("width", xa._length); rect.setAttribute("height", ya._length);
    clip.appendChild(rect);
    defs.appendChild(clip);
    const g = document.createElementNS(SVG, "g");
    g.setAttribute("clip-path", `url(#${clip.id})`);
    const line = document.createElementNS(SVG, "path");
    line.setAttribute("fill", "none");
    g.appendChild(line);
    const points = document.createElementNS(SVG, "g");
    g.appendChild(points);
    svg.appendChild(g);
    groups.push({ trace: t, xa, ya, line, points, style: styleOf(gd, t) });
  });
  host.appendChild(svg);
  // plotly's own drawing of these traces hides while the layer shows the frame
  for (const el of gd.querySelectorAll(".scatterlayer .trace")) el.classList.add("rl-hidden");
  return { svg, groups };
}

// how plotly.js drew trace t: its line's style and one marker's outline (or a circle)
function styleOf(gd, t) {
  let lineStyle = "", markerStyle = "", marker = null;
  for (const el of gd.querySelectorAll(".scatterlayer .trace")) {
    const d = el.__data__ && el.__data__[0] && el.__data__[0].trace;
    if (!d || d.index !== t.index) continue;
    const line = el.querySelector("path.js-line");
    if (line) lineStyle = line.getAttribute("style") || "";
    let best = 0;
    for (const p of el.querySelectorAll("path.point")) {
      const dd = p.getAttribute("d") || "";
      if (dd.length > best) { best = dd.length; marker = dd; markerStyle = p.getAttribute("style") || ""; }
    }
  }
  const m = t.marker || {};
  if (!marker) {
    const size = Array.isArray(m.size) || ArrayBuffer.isView(m.size) ? Math.max(...m.size) : (m.size || 6);
    const r = (size || 6) / 2;
    marker = String(m.symbol || "").startsWith("x")
      ? `M${r},${r}L${-r},${-r}M${r},${-r}L${-r},${r}`
      : `M${r},0A${r},${r} 0 1,1 0,${-r}A${r},${r} 0 0,1 ${r},0Z`;
    const color = typeof m.color === "string" ? m.color : "#444";
    const edge = (m.line && typeof m.line.color === "string") ? m.line.color : color;
    markerStyle = String(m.symbol || "").startsWith("x")
      ? `fill: none; stroke: ${edge}; stroke-width: ${(m.line && m.line.width) || 2}px;`
      : `fill: ${color}; stroke: ${edge}; stroke-width: ${(m.line && m.line.width) || 0}px;`;
  }
  if (!lineStyle && t.line) {
    lineStyle = `stroke: ${t.line.color}; stroke-width: ${t.line.width == null ? 2 : t.line.width}px;`;
  }
  return { lineStyle, marker, markerStyle };
}

function asArray(v) {
  if (v == null) return null;
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return v;
  return decodeSpec(v);
}

// the frame's traces straight into the layer (same traces as drawn, in the same order)
function drawLayer(state, traces, title) {
  if (!state.layer) state.layer = makeLayer(state);
  if (!state.layer) return false;
  traces.forEach((t, i) => {
    const g = state.layer.groups[i];
    const xs = asArray(t.x), ys = asArray(t.y);
    const mode = t.mode || "lines";
    const xo = g.xa._offset, yo = g.ya._offset;
    const X = (v) => xo + g.xa.c2p(v), Y = (v) => yo + g.ya.c2p(v);
    if (mode.includes("lines") && xs && ys) {
      const hv = t.line && t.line.shape === "hv";
      let d = "", pen = false, last = 0;
      for (let j = 0; j < ys.length; j++) {
        const x = xs[j], y = ys[j];
        if (x == null || y == null || Number.isNaN(x) || Number.isNaN(y)) { pen = false; continue; }
        const px = X(x), py = Y(y);
        if (!pen) d += `M${px.toFixed(1)},${py.toFixed(1)}`;
        else if (hv) d += `H${px.toFixed(1)}V${py.toFixed(1)}`;
        else d += `L${px.toFixed(1)},${py.toFixed(1)}`;
        pen = true; last = py;
      }
      g.line.setAttribute("d", d || "M0,0");
      g.line.setAttribute("style", g.style.lineStyle);
    } else {
      g.line.setAttribute("d", "M0,0");
    }
    const kids = g.points.children;
    let n = 0;
    if (mode.includes("markers") && xs && ys) {
      const sizes = t.marker ? asArray(t.marker.size) : null;
      for (let j = 0; j < ys.length; j++) {
        const x = xs[j], y = ys[j];
        if (x == null || y == null || Number.isNaN(x) || Number.isNaN(y)) continue;
        if (sizes && typeof sizes !== "number" && sizes.length && !(sizes[j] > 0)) continue;
        let p = kids[n];
        if (!p) {
          p = document.createElementNS(SVG, "path");
          p.setAttribute("d", g.style.marker);
          p.setAttribute("style", g.style.markerStyle);
          g.points.appendChild(p);
        }
        p.setAttribute("transform", `translate(${X(x).toFixed(1)},${Y(y).toFixed(1)})`);
        p.style.display = "";
        n++;
      }
    }
    for (let j = n; j < kids.length; j++) kids[j].style.display = "none";
  });
  const heading = state.chart.querySelector(".g-gtitle .gtitle");
  if (heading && heading.textContent !== title) heading.textContent = title;
  nameChart(state, title);
  state.chart.classList.add("rl-previewing");
  return true;
}

function show(state, field, k) {
  const shown = `${field}:${k}`;
  const { traces, title } = frameOf(state, field, k);
  const names = traces.map((t) => t.name).join("\u0001");
  clearTimeout(state.settleTimer);
  if (names !== state.drawnNames || !state.chart._fullLayout) {
    // a trace comes or goes (the steady-state line): plotly.js draws the whole frame
    return drawFull(state, traces, title, shown);
  }
  const started = state.pendingSince;
  state.pendingSince = null;
  if (!drawLayer(state, traces, title)) return drawFull(state, traces, title, shown);
  counted(state, started);
  state.chart.dataset.shown = shown;
  // when the hand rests, plotly.js draws the frame itself (its hover reads the frame),
  // unless this position was released: its authoritative run is on the way and is drawn
  // then (a keyboard step sends its release before this frame is shown)
  const settle = () => {
    if (state.chart.dataset.shown !== shown) return;
    const released = state.released;  // {shown, at}: the last release, until its run comes
    if (released && released.shown === shown) {
      const left = RELEASE_WAIT_MS - (performance.now() - released.at);
      if (left > 0) { state.settleTimer = setTimeout(settle, left); return; }
    }
    state.chart.rleakyLive.settles += 1;
    drawFull(state, traces, title, shown);
  };
  state.settleTimer = setTimeout(settle, SETTLE_MS);
  return Promise.resolve();
}

function schedule(state, field, k) {
  state.want = [field, k];
  if (state.pendingSince == null) state.pendingSince = performance.now();
  if (state.raf) return;
  state.raf = requestAnimationFrame(() => {
    state.raf = 0;
    const [f, i] = state.want;
    Promise.all([state.drawing, state.arraysReady]).then(() => show(state, f, i));
  });
}

// the axes of control `field`: they hold all of its frames (drawn once, as the hand arrives)
function holdAxesFor(state, field) {
  if (!state.arraysIn) {  // the frames are still being inflated: hold the axes once they are in
    state.arraysReady.then(() => holdAxesFor(state, field));
    return;
  }
  if (state.rangeField === field) return;
  state.rangeField = field;
  const ranges = rangesFor(state, [field]);
  if (JSON.stringify(ranges) === JSON.stringify(state.ranges)) return;
  state.ranges = ranges;
  const [f, k] = (state.chart.dataset.shown || "").split(":");
  if (f && state.data.frames[f] && k !== undefined) {
    const { traces, title } = frameOf(state, f, Number(k));
    drawFull(state, traces, title, `${f}:${k}`);
  } else {
    drawFull(state, state.figure.data, state.figure.layout.title ? state.figure.layout.title.text : "",
             "authoritative");
  }
}

function buildControls(state) {
  const box = state.controls;
  box.replaceChildren();
  for (const c of state.data.controls) {
    const label = document.createElement("label");
    label.className = "rl-control";
    const name = document.createElement("span");
    name.className = "rl-name";
    name.textContent = c.label;
    const input = document.createElement("input");
    input.type = "range";
    input.min = "0";
    input.max = String(c.values.length - 1);
    input.step = "1";
    input.value = String(c.index);
    input.dataset.param = c.field;
    input.setAttribute("aria-valuetext", `${c.symbol} = ${fmt(c.values[c.index])}`);
    const out = document.createElement("output");
    out.textContent = fmt(c.values[c.index]);
    const update = () => {
      const k = Number(input.value);
      out.textContent = fmt(c.values[k]);
      input.setAttribute("aria-valuetext", `${c.symbol} = ${fmt(c.values[k])}`);
      schedule(state, c.field, k);
    };
    const arrive = () => holdAxesFor(state, c.field);
    input.addEventListener("input", update);
    input.addEventListener("pointerdown", () => { state.dragging = true; arrive(); });
    input.addEventListener("focus", arrive);
    input.addEventListener("keydown", arrive);
    input.addEventListener("change", () => {
      state.dragging = false;
      const k = Number(input.value);
      if (k === c.index) return;
      clearTimeout(state.settleTimer);  // the authoritative run is drawn instead
      state.chart.rleakyLive.releases += 1;
      state.released = { shown: `${c.field}:${k}`, at: performance.now() };
      state.setStateValue("release", { field: c.field, value: c.values[k], n: Date.now() });
    });
    label.append(name, input, out);
    box.appendChild(label);
  }
}

function apply(state) {
  const fig = state.data.figure;
  state.figure = fig;
  state.baseByName = {};
  for (const t of fig.data) state.baseByName[t.name] = t;
  const live = state.chart.rleakyLive;
  live.controls = state.data.controls;
  live.frame = (field, k) => {
    if (!state.arraysIn) throw new Error("the frames are still being inflated (data-frames)");
    return plain(frameOf(state, field, k));
  };
  buildControls(state);
  const fields = state.data.controls.map((c) => c.field);
  // the axes hold the frames of the control last moved (before any is: the figure's own);
  // before the frames are inflated they keep the ranges held so far, which after a release
  // are the same (a control's positions span its whole range, wherever it stands)
  const held = fields.includes(state.rangeField);
  if (state.arraysIn) state.ranges = held ? rangesFor(state, [state.rangeField]) : {};
  else if (!held) state.ranges = {};
  clearTimeout(state.settleTimer);
  return drawFull(state, fig.data, fig.layout.title ? fig.layout.title.text : "", "authoritative");
}

// the frames are in: hold the axes the moved control's frames need, redrawn only if they
// differ from those the authoritative run was drawn on
function arraysArrived(state, header, arrays) {
  if (state.data !== header) return;  // a newer run has come meanwhile
  header.arrays = arrays;
  state.arraysIn = true;
  state.chart.dataset.frames = "in";
  const fields = header.controls.map((c) => c.field);
  if (!fields.includes(state.rangeField)) return;
  const ranges = rangesFor(state, [state.rangeField]);
  if (JSON.stringify(ranges) === JSON.stringify(state.ranges)) return;
  state.ranges = ranges;
  const fig = state.figure;
  return Promise.resolve(state.drawing).then(() => {
    if (state.data === header && state.chart.dataset.shown === "authoritative") {
      return drawFull(state, fig.data, fig.layout.title ? fig.layout.title.text : "", "authoritative");
    }
  });
}

let uid = 0;

// a <div> with a class and attributes (the components' own elements)
export function div(className, attrs = {}) {
  const el = document.createElement("div");
  el.className = className;
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  return el;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let state = parentElement.__rleakyLive;
  if (!state) {
    const root = div("rl-live");
    const controls = div("rl-controls", {
      role: "group", "aria-label": "Live controls: the chart follows them while you drag" });
    // role "figure", not "img": plotly.js puts focusable parts inside
    const chart = div("rl-chart", { "data-live-chart": "", role: "figure",
                                    "aria-label": "Live chart (loading). Its summary follows the chart." });
    chart.rleakyLive = { updates: 0, latencies: [], releases: 0, settles: 0, controls: null,
                         frame: null };
    root.append(controls, chart);
    parentElement.appendChild(root);
    state = { root, controls, chart, raf: 0, want: null, dragging: false, pendingSince: null,
              uid: ++uid, config: { displaylogo: false, responsive: true } };
    parentElement.__rleakyLive = state;
    window.addEventListener("pointerup", () => {
      if (state.dragging) { state.dragging = false; if (state.deferred) flush(state); }
    });
  }
  state.setStateValue = setStateValue;
  // the authoritative run is drawn as soon as its data is here, in this very call when
  // plotly.js is loaded (nothing else on the page gets to run first), and the frames follow
  const flushNow = () => {
    let parsed;
    try {
      parsed = readHeader(data);
    } catch (e) {
      return Promise.reject(e);
    }
    const { header } = parsed;
    const arrays = readArrays(parsed);
    const draw = (Plotly) => {
      state.Plotly = Plotly;
      state.data = header;
      state.released = null;
      state.arraysIn = false;
      state.chart.dataset.frames = "inflating";
      state.arraysReady = arrays.then((a) => arraysArrived(state, header, a));
      return apply(state);
    };
    return window.Plotly ? draw(window.Plotly) : loadPlotly().then(draw);
  };
  const fail = (e) => { state.chart.textContent = `The live chart could not start: ${e.message}`; };
  if (state.dragging) {  // a rerun that arrives mid-drag waits for the release
    state.deferred = () => flushNow().catch(fail);
    return;
  }
  state.deferred = null;
  flushNow().catch(fail);
}

function flush(state) {
  const f = state.deferred;
  state.deferred = null;
  if (f) f();
}
