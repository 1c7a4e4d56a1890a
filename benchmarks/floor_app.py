"""The smallest Streamlit page that does what our pages do, for ``bench_floor.py``.

A title, one sidebar slider and one chart of three points, drawn the way the
query parameter ``draw`` asks: ``plotly`` (``st.plotly_chart``), ``chart``
(our component, ``rleaky_viz.ui.charts.chart``) or ``text`` (a line of text,
no chart).  ``extra=N`` adds N more elements, as a real page has them (every
third a slider in the sidebar, the others captions).  What it costs in a
browser is Streamlit's own floor on a machine.
"""
import plotly.graph_objects as go
import streamlit as st

from rleaky_viz.ui.charts import chart

st.title("Floor")
x = st.sidebar.slider("x", 0.0, 1.0, 0.5, 0.01, key="x")
draw = st.query_params.get("draw", "plotly")
fig = go.Figure(go.Scatter(y=[0.0, x, 1.0]))
if draw == "plotly":
    st.plotly_chart(fig, key="floor_plotly")
elif draw == "chart":
    chart(fig, "floor_chart", f"Three points, the middle one at {x}.")
else:
    st.markdown(f"x is {x}")
extra = st.query_params.get("extra", "0")
for i in range(min(int(extra) if extra.isdigit() else 0, 200)):
    if i % 3 == 0:
        st.sidebar.slider(f"more {i}", 0.0, 1.0, 0.5, key=f"more_{i}")
    else:
        st.caption(f"caption {i}")
