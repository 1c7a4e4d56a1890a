// The live chart: a plotly.js figure and, next to it, one range input per live control.
//
// Python sends the figure of the authoritative run and, for every position of every
// control, the traces that differ from it (rleaky_viz/figures/live.py): each frame was
// computed by the PyTorch core in one batched run.  Dragging a control only switches
// between those frames here (nothing is simulated in the browser, and the server is not
// asked); releasing it sends the value back, and Streamlit reruns with it.
//
// Testability: each control is <input type="range" data-param="<field>">, the chart is
// the element with data-live-chart; that element's `rleakyLive` property holds the
// frames (decoded) and the counters a benchmark reads.

const PLOTLY_SRC = new URL("./plotly.min.js", import.meta.url).href;
let plotlyLoading = null;

function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = PLOTLY_SRC;
      s.async = true;
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => { plotlyLoading = null; reject(new Error("plotly.js did not load")); };
      document.head.appendChild(s);
    });
  }
  return plotlyLoading;
}

const DTYPES = { f4: Float32Array, f8: Float64Array, i4: Int32Array, u1: Uint8Array,
                 i1: Int8Array, i2: Int16Array, u2: Uint16Array, u4: Uint32Array };

// a plotly.js typed-array spec ({dtype, bdata}) as a typed array (for tests and readouts)
function decode(v) {
  if (!v || typeof v !== "object" || !("bdata" in v)) return v;
  const bin = atob(v.bdata);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new DTYPES[v.dtype](bytes.buffer);
}

function fmt(v) {
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6));
}

// the app's theme (light or dark), as Streamlit's own charts follow it
function themed(layout, el) {
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

function narrowLayout(layout, width) {
  if (width >= 640) return layout;
  // a phone: the legend goes under the plot, so the plot keeps the width
  const out = Object.assign({}, layout);
  out.legend = Object.assign({}, layout.legend || {}, { orientation: "h", x: 0, xanchor: "left",
                                                        y: -0.06, yanchor: "top" });
  out.margin = Object.assign({}, layout.margin || {}, { l: 48, r: 8, t: 48 });
  out.height = Math.min(layout.height || 600, 600);
  return out;
}

function frameData(state, field, k) {
  const patch = state.data.frames[field][k];
  const base = state.baseByName;
  const data = patch.traces.map((t) => (base[t.name] ? Object.assign({}, base[t.name], t) : t));
  const layout = Object.assign({}, state.layout);
  layout.title = Object.assign({}, state.layout.title || {}, { text: patch.title });
  return { data, layout };
}

function draw(state, data, layout) {
  const started = state.pendingSince;
  state.pendingSince = null;
  const width = state.chart.clientWidth || state.root.clientWidth || 800;
  const config = Object.assign({}, state.config, { displayModeBar: width >= 640 ? "hover" : false });
  return state.Plotly.react(state.chart, data, themed(narrowLayout(layout, width), state.root), config)
    .then(() => {
    const live = state.chart.rleakyLive;
    live.updates += 1;
    if (started != null) live.latencies.push(performance.now() - started);
    state.chart.dataset.shown = state.shown;
  });
}

function show(state, field, k) {
  state.shown = `${field}:${k}`;
  const patch = state.data.frames[field][k];
  const gd = state.chart;
  const names = (gd.data || []).map((t) => t.name);
  const same = names.length === patch.traces.length &&
               patch.traces.every((t, i) => t.name === names[i]);
  if (!same) {  // a trace comes or goes (the steady-state line): draw the whole figure
    const { data, layout } = frameData(state, field, k);
    return draw(state, data, layout);
  }
  // the usual case: one restyle of the keys that change, in one redraw
  const update = {};
  const indices = [];
  patch.traces.forEach((t, i) => {
    for (const key of state.varying[t.name] || []) {
      if (!(key in update)) update[key] = [];
    }
    indices.push(i);
  });
  for (const key of Object.keys(update)) {
    update[key] = patch.traces.map((t) => {
      const base = state.baseByName[t.name] || {};
      return key in t ? t[key] : base[key];
    });
  }
  const started = state.pendingSince;
  state.pendingSince = null;
  return state.Plotly.update(gd, update, { "title.text": patch.title }, indices).then(() => {
    const live = gd.rleakyLive;
    live.updates += 1;
    if (started != null) live.latencies.push(performance.now() - started);
    gd.dataset.shown = state.shown;
  });
}

function schedule(state, field, k) {
  state.want = [field, k];
  if (state.pendingSince == null) state.pendingSince = performance.now();
  if (state.raf) return;
  state.raf = requestAnimationFrame(() => {
    state.raf = 0;
    const [f, i] = state.want;
    show(state, f, i);
  });
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
    input.addEventListener("input", update);
    input.addEventListener("pointerdown", () => { state.dragging = true; });
    input.addEventListener("change", () => {
      state.dragging = false;
      const k = Number(input.value);
      if (k === c.index) return;
      state.chart.rleakyLive.releases += 1;
      state.setStateValue("release", { field: c.field, value: c.values[k], n: Date.now() });
    });
    label.append(name, input, out);
    box.appendChild(label);
  }
}

function apply(state) {
  const fig = state.data.figure;
  state.layout = fig.layout;
  state.baseByName = {};
  for (const t of fig.data) state.baseByName[t.name] = t;
  state.varying = state.data.varying || {};
  state.chart.rleakyLive.controls = state.data.controls;
  state.chart.rleakyLive.frames = state.data.frames;
  buildControls(state);
  state.shown = "authoritative";
  return draw(state, fig.data, fig.layout);
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let state = parentElement.__rleakyLive;
  if (!state) {
    const root = document.createElement("div");
    root.className = "rl-live";
    const controls = document.createElement("div");
    controls.className = "rl-controls";
    controls.setAttribute("role", "group");
    controls.setAttribute("aria-label", "Live controls: the chart follows them while you drag");
    const chart = document.createElement("div");
    chart.className = "rl-chart";
    chart.setAttribute("data-live-chart", "");
    chart.rleakyLive = { updates: 0, latencies: [], releases: 0, controls: null, frames: null,
                         decode };
    root.append(controls, chart);
    parentElement.appendChild(root);
    state = { root, controls, chart, raf: 0, want: null, dragging: false, pendingSince: null,
              config: { displaylogo: false, responsive: true } };
    parentElement.__rleakyLive = state;
    window.addEventListener("pointerup", () => {
      if (state.dragging) { state.dragging = false; if (state.deferred) flush(state); }
    });
  }
  state.setStateValue = setStateValue;
  state.data = data;
  const flushNow = () => loadPlotly().then((Plotly) => { state.Plotly = Plotly; return apply(state); });
  if (state.dragging) {  // a rerun that arrives mid-drag waits for the release
    state.deferred = flushNow;
    return;
  }
  state.deferred = null;
  flushNow().catch((e) => {
    state.chart.textContent = `The live chart could not start: ${e.message}`;
  });
}

function flush(state) {
  const f = state.deferred;
  state.deferred = null;
  if (f) f();
}
