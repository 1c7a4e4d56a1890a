"""rleaky-viz: the entry point declares the pages (``rleaky_viz.navigation``) and runs one."""
import streamlit as st

from rleaky_viz.navigation import PAGES, SECTIONS, pages_in

navigation = st.navigation({
    section: [st.Page(page.file, title=page.title, icon=page.icon, url_path=page.path or None,
                      default=page is PAGES["home"])
              for page in pages_in(section)]
    for section in SECTIONS
})
navigation.run()
