"""What a page keeps in its URL besides the sidebar's fields: prefixed sections of overrides.

The sidebar owns the page's URL: on a page's first run in a session it reads
the query (its own fields, and every section the page hands it), and on every
run it writes the query back from the current state.  A section is a set of
``SimConfig`` overrides under a prefix, such as Compare's configuration B
(``b_beta=0.8``): its values live in session state under the section's key,
widgets change them through :meth:`UrlSection.set` / :meth:`UrlSection.update`,
and links built with :meth:`rleaky_viz.navigation.Page.url` carry them.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import streamlit as st

from ..config import SimConfig

__all__ = ["UrlSection"]


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class UrlSection:
    """Overrides of config fields, kept in the URL as ``<prefix><field>=value``."""

    def __init__(self, key: str, prefix: str, names: Iterable[str]):
        self.key, self.prefix, self.names = key, prefix, tuple(names)

    # --- state -----------------------------------------------------------------
    def values(self) -> dict:
        """The current overrides: ``{field: value}`` (empty: none)."""
        return st.session_state.setdefault(self.key, {})

    def set(self, values: Mapping[str, Any]) -> None:
        st.session_state[self.key] = {k: v for k, v in values.items() if k in self.names}

    def update(self, name: str, value, base: SimConfig) -> None:
        """Override ``name`` with ``value``, or drop the override when it equals ``base``'s."""
        values = dict(self.values())
        if value == getattr(base, name):
            values.pop(name, None)
        else:
            values[name] = value
        self.set(values)

    def follow(self, base: SimConfig) -> None:
        """Drop the overrides that equal ``base``'s values (``base`` moved onto them), here and
        in the page's URL: there the section follows ``base`` again."""
        values = self.values()
        same = [k for k, v in values.items() if v == getattr(base, k)]
        if same:
            self.set({k: v for k, v in values.items() if k not in same})
            for name in same:
                if self.prefix + name in st.query_params:
                    del st.query_params[self.prefix + name]

    # --- the URL ------------------------------------------------------------------
    def load(self, query: Mapping[str, Any]) -> list[str]:
        """Take the section's values from a query (the page's arrival); returns the problems."""
        values, errors = {}, []
        for name in self.names:
            text = query.get(self.prefix + name)
            if text is None:
                continue
            try:
                values[name] = getattr(SimConfig.from_query({name: text}), name)
            except ValueError as e:
                errors.append(f"{self.prefix}{name}: {e}")
        self.set(values)
        return errors

    def texts(self) -> dict[str, str]:
        """The current values as URL text, by field name."""
        return {name: _text(value) for name, value in self.values().items()}

    def query(self) -> dict[str, str]:
        """The URL parameters of the current values."""
        return {self.prefix + name: text for name, text in self.texts().items()}
