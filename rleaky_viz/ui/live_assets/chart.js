// Every chart of the app but the sweep maps: a plotly.js figure, drawn once per change.
//
// Python sends raw bytes (rleaky_viz/figures/wire.py, chart_payload): "RLC1", the CRC-32 of
// the JSON, then the JSON {figure, alt, theme}; the figure's arrays are plotly.js typed-array
// specs, which plotly.js decodes itself.  A rerun that sends the same figure again (the
// same CRC and length) draws nothing; a changed one is drawn with Plotly.react.
//
// Why not st.plotly_chart: Streamlit's chart draws each figure twice per rerun (before and
// after it measures its width), and on the Neuron explorer those draws came before the
// live chart's.  Here each chart is drawn once, in a task of its own, after whatever the
// page's components drew in the same turn (the live chart first), so a release shows the
// authoritative run before the charts below it are redrawn.
//
// Accessibility: the chart is role="figure" with the run's text alternative as its name;
// the page shows the same text under it ("Chart summary", rleaky_viz/ui/charts.py).

import { asBytes, div, loadPlotly, narrowLayout, themed } from "./live.js";

const queue = [];
let pumping = false;

// one draw per task: the browser can paint (and other components draw) in between
function enqueue(job) {
  queue.push(job);
  if (pumping) return;
  pumping = true;
  const next = () => {
    const run = queue.shift();
    if (!run) { pumping = false; return; }
    Promise.resolve().then(run).catch(() => {}).finally(() => setTimeout(next, 0));
  };
  setTimeout(next, 0);
}

function read(bytes) {
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== "RLC1") throw new Error(`unknown chart data (${magic})`);
  const crc = new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0, true);
  return { id: `${crc}:${bytes.length}`, text: () => new TextDecoder().decode(bytes.subarray(8)) };
}

function draw(state) {
  const spec = state.spec;
  if (!spec) return Promise.resolve();
  return loadPlotly().then((Plotly) => {
    if (state.spec !== spec) return;  // a newer figure came while plotly.js loaded
    const width = state.chart.clientWidth || state.root.clientWidth || 800;
    const fig = spec.figure;
    let layout = narrowLayout(fig.layout || {}, width);
    if (spec.theme === "streamlit") layout = themed(layout, state.root);
    state.width = width;
    // no `responsive`: the ResizeObserver below redraws for a new width (and the phone layout)
    const config = { displaylogo: false, displayModeBar: width >= 640 ? "hover" : false };
    const figure = { data: fig.data || [], layout, config };
    if (fig.frames) figure.frames = fig.frames;
    return Plotly.react(state.chart, figure).then(() => {
      state.chart.dataset.drawn = state.id;
    });
  }).catch((e) => {
    state.chart.textContent = `The chart could not be drawn: ${e.message}`;
  });
}

export default function (component) {
  const { data, parentElement } = component;
  let state = parentElement.__rleakyChart;
  if (!state) {
    const root = div("rl-plain");
    const chart = div("rl-plain-chart", { role: "figure" });  // not "img": plotly.js puts
    root.appendChild(chart);                                   // focusable parts inside
    parentElement.appendChild(root);
    state = { root, chart, id: null, spec: null, width: 0 };
    parentElement.__rleakyChart = state;
    // a narrower or wider column (the sidebar opened, a phone turned): drawn again for it
    let timer = 0;
    new ResizeObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const w = state.chart.clientWidth;
        if (state.spec && w && Math.abs(w - state.width) > 1) enqueue(() => draw(state));
      }, 150);
    }).observe(root);
  }
  let parsed;
  try {
    parsed = read(asBytes(data));
  } catch (e) {
    state.chart.textContent = `The chart could not be drawn: ${e.message}`;
    return;
  }
  if (parsed.id === state.id) return;  // the figure already drawn (or on its way)
  state.id = parsed.id;
  const spec = JSON.parse(parsed.text());
  state.spec = spec;
  state.chart.setAttribute("aria-label", spec.alt ? `Chart. ${spec.alt}` : "Chart");
  enqueue(() => draw(state));
}
