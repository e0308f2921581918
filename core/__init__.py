"""Plot Studio's logic: settings, services, chains and engines. Never imports streamlit."""
