"""The pages of the app: file, URL path, title, icon, section and starting config.

One table (:data:`PAGES`) that ``app.py`` turns into ``st.navigation``, that
links and presets use for their URLs, and that the tests walk to open every
page.  Streamlit-free: a page here is plain data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

from .config import SimConfig

__all__ = ["Page", "PAGES", "SECTIONS", "pages_in"]

# The navigation's sections, in order.
SECTIONS = ("Explore", "Gradients and learning", "Teaching")


@dataclass(frozen=True)
class Page:
    """A page of the app: its file, URL path, title, icon, section, and the config it starts from.

    Icons are Material Symbols (``:material/name:``), which Streamlit draws with
    its own font, so they show on every machine (emoji need an emoji font).
    """

    file: str
    path: str
    title: str = ""
    icon: str = ""
    section: str = SECTIONS[0]
    defaults: dict = field(default_factory=dict)

    @cached_property
    def default_config(self) -> SimConfig:
        return SimConfig(**self.defaults)

    def url(self, cfg: SimConfig, extra: "dict[str, str] | None" = None) -> str:
        """Relative link to this page showing ``cfg`` (only what differs from the defaults).

        ``extra``: more query parameters (a page's URL sections, such as Compare's B).
        """
        query = urlencode({**cfg.to_query(base=self.default_config), **(extra or {})})
        return f"/{self.path}?{query}" if query else f"/{self.path}"


PAGES: dict[str, Page] = {
    "home": Page("pages/0_Home.py", "", "Home", ":material/home:"),
    "neuron": Page("pages/1_Neuron_explorer.py", "Neuron_explorer", "Neuron explorer", ":material/bolt:"),
    "population": Page("pages/2_Population.py", "Population", "Population", ":material/hub:", defaults=
                       {"recurrence": "linear", "num_neurons": 100, "amplitude": 0.2,
                        "input_spread": 0.5, "noise_std": 0.05, "num_steps": 300}),
    "conv": Page("pages/3_Conv_grid.py", "Conv_grid", "Conv grid", ":material/grid_on:", defaults=
                 {"recurrence": "conv2d", "stimulus": "noise", "amplitude": 0.1,
                  "noise_std": 0.1, "num_steps": 150}),
    "sweeps": Page("pages/7_Sweeps.py", "Sweeps", "Sweeps", ":material/map:",
                   defaults={"recurrence": "none", "num_steps": 300}),
    "compare": Page("pages/8_Compare.py", "Compare", "Compare A and B", ":material/compare:",
                    defaults={"num_steps": 150}),
    "gallery": Page("pages/4_Surrogate_gallery.py", "Surrogate_gallery", "Surrogate gallery", ":material/show_chart:",
                    SECTIONS[1]),
    "gradients": Page("pages/5_Gradient_flow.py", "Gradient_flow", "Gradient flow", ":material/waves:",
                      SECTIONS[1], {"recurrence": "one_to_one", "V": -0.3, "num_neurons": 4,
                                    "input_spread": 0.5, "num_steps": 100, "loss_target": 10.0,
                                    "learn_beta": True, "learn_threshold": True}),
    "learn": Page("pages/6_Learn.py", "Learn", "Learn", ":material/model_training:", SECTIONS[1],
                  {"recurrence": "linear", "num_neurons": 20, "input_spread": 0.5,
                   "num_steps": 100, "surrogate": "fast_sigmoid", "learn_beta": True,
                   "learn_threshold": True}),
    "lesson": Page("pages/10_Lesson.py", "Lesson", "Lesson", ":material/school:", SECTIONS[2]),
    "mystery": Page("pages/9_Mystery_neuron.py", "Mystery_neuron", "Mystery neuron", ":material/psychology_alt:",
                    SECTIONS[2]),
}


def pages_in(section: str) -> list[Page]:
    """The pages of one section, in the order of :data:`PAGES`."""
    return [p for p in PAGES.values() if p.section == section]
