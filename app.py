"""Plot Studio: sign-in gate, account menu and navigation over the pages."""

import streamlit as st

from core.config import get_settings
from pages import _shared as ui

st.set_page_config(page_title="Plot Studio", page_icon="🎬", layout="wide")


@st.cache_resource
def background_worker():
    """One job worker inside the app process, started once (the run command needs nothing else)."""
    from core.jobs import BackgroundWorker

    return BackgroundWorker()


if not ui.database_ready():
    st.stop()
if get_settings().in_process_worker:
    background_worker()

st.session_state[ui.GATED] = True
account = ui.current_account()
if account is None:
    page = st.navigation([st.Page("pages/sign_in.py", title="Sign in", icon="🔑")], position="hidden")
else:
    ui.account_menu(account)
    page = st.navigation({
        "Your books": [st.Page("pages/library.py", title="Library", icon="📚", default=True),
                       st.Page("pages/book.py", title="Book", icon="📖"),
                       st.Page("pages/plot.py", title="Plot", icon="🧭"),
                       st.Page("pages/characters.py", title="Characters", icon="🎭"),
                       st.Page("pages/scripts.py", title="Scripts", icon="🎬")],
        "Account": [st.Page("pages/account.py", title="Account", icon="👤"),
                    *([st.Page("pages/archetypes.py", title="Archetypes", icon="🗂️")] if account.is_admin else [])],
    })
page.run()
